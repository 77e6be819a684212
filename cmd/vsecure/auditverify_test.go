package main

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/binary"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vsecure/vsecure/shared/crypto/local"
	"github.com/vsecure/vsecure/shared/devserver"
	"github.com/vsecure/vsecure/shared/devserver/devtest"
	"github.com/vsecure/vsecure/shared/store/embedded"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// gateID is an id in the gate's layout (ULID: 48 bits of milliseconds, 80
// more bits, lowercase Crockford base32), so the fixture sorts among the
// entries the server writes itself.
func gateID(at time.Time, i int) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(at.UnixMilli())<<16)
	binary.BigEndian.PutUint64(b[8:], uint64(i))
	return "log_" + base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding).EncodeToString(b[:])
}

// TestAuditVerifyEndToEnd seals a day-old log in a real local server,
// verifies it through the API with the CLI, deletes an entry in the bbolt
// file while the server is down, and checks the CLI names it.
func TestAuditVerifyEndToEnd(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "vsecure.db")
	// Sealed as `vsecure dev` seals, with the MAC key of the keys directory
	// the server's digest step and verifier use.
	macKeys, err := local.LoadMACKeys(devserver.DefaultKeysDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	st, err := embedded.Open(path, embedded.WithSeal(macKeys, "test"))
	if err != nil {
		t.Fatal(err)
	}
	day := time.Now().UTC().Add(-24 * time.Hour).Truncate(time.Hour)
	var ids []string
	for i := range 20 {
		at := day.Add(time.Duration(i) * time.Minute)
		id := gateID(at, i)
		ids = append(ids, id)
		err := st.AppendAudit(ctx, vsecure.Entry{ID: id, Timestamp: at, Operation: vsecure.AuditRead, Actor: "agent-1",
			Resource: devtest.StagingURI, Success: true, Metadata: map[string]string{}})
		if err != nil {
			t.Fatal(err)
		}
	}
	serve := func(st *embedded.Store) *devtest.Env {
		return devtest.Start(t, devtest.WithoutFixture(), devtest.WithConfig(func(c *devserver.Config) {
			c.DataDir, c.Store, c.DigestEvery = dir, st, -1
		}))
	}
	verify := func(srv *devtest.Env) (int, string) {
		var out, errb bytes.Buffer
		env := map[string]string{"VSECURE_API_URL": srv.URL, "VSECURE_API_KEY": devtest.AdminKey}
		code := run(ctx, []string{"audit:verify", "--to", time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)},
			func(k string) string { return env[k] }, stdio{In: strings.NewReader(""), Out: &out, Err: &errb})
		return code, out.String() + errb.String()
	}
	srv := serve(st)
	if n, err := srv.Server.SealAudit(ctx); err != nil || n == 0 {
		t.Fatalf("SealAudit = %d, %v", n, err)
	}
	if code, out := verify(srv); code != exitOK || !strings.Contains(out, "OK: 21 entries") /* 20 and the epoch's opening entry */ {
		t.Fatalf("untouched log: exit %d\n%s", code, out)
	}
	srv.Stop()
	st.Close()

	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("audit")).Delete([]byte(ids[7])) }); err != nil {
		t.Fatal(err)
	}
	db.Close()

	st, err = embedded.Open(path, embedded.WithSeal(macKeys, "test"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv = serve(st)
	defer srv.Stop()
	code, out := verify(srv)
	if code != exitTampered || !strings.Contains(out, "deleted") || !strings.Contains(out, ids[7]) {
		t.Fatalf("after deleting %s: exit %d\n%s", ids[7], code, out)
	}
	t.Logf("vsecure audit:verify after tampering:\n%s", out)
}
