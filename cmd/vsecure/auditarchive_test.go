package main

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/archive"
	"github.com/vsecure/vsecure/shared/crypto/local"
	"github.com/vsecure/vsecure/shared/digest"
	"github.com/vsecure/vsecure/shared/store/embedded"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// TestAuditVerifyOfflineArchive archives a sealed log of three hours into
// a directory as the digest step does into the bucket, and checks
// `audit:verify --offline` on the directory and on one object, then on
// the directory after one record of one object was edited.
func TestAuditVerifyOfflineArchive(t *testing.T) {
	ctx := t.Context()
	wrap := make([]byte, 32)
	rand.Read(wrap)
	keys, _ := local.NewMACKeys(wrap)
	st, err := embedded.Open(filepath.Join(t.TempDir(), "vsecure.db"), embedded.WithSeal(keys, "test"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	start := time.Now().UTC().Truncate(time.Hour).Add(time.Hour)
	for i := range 90 {
		at := start.Add(time.Duration(i) * 2 * time.Minute)
		if err := st.AppendAudit(ctx, vsecure.Entry{ID: gateID(at, i), Timestamp: at, Operation: vsecure.AuditRead,
			Actor: "agent-1", Resource: "vsecure://secrets/production/DB", Success: true, Metadata: map[string]string{}}); err != nil {
			t.Fatal(err)
		}
	}
	seed := make([]byte, 32)
	rand.Read(seed)
	signer, _ := local.NewSigner(seed)
	now := func() time.Time { return start.Add(4 * time.Hour) }
	sealer, _ := digest.NewSealer(digest.Config{Store: st, Signer: signer, MACKeys: keys, Now: now})
	if _, err := sealer.Seal(ctx); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	a, _ := archive.New(archive.Config{Store: st, Bucket: archive.NewDir(dir), Now: now})
	if s, err := a.Archive(ctx); err != nil || s.Objects != 4 {
		t.Fatalf("archive: %+v, %v", s, err)
	}
	var files []string
	filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, archive.Suffix) {
			files = append(files, p)
		}
		return nil
	})
	slices.Sort(files)
	verify := func(path string) (int, string) {
		var out, errb bytes.Buffer
		code := run(ctx, []string{"audit:verify", "--offline", path, "--public-key", signer.PublicKeyBase64()},
			func(string) string { return "" }, stdio{In: strings.NewReader(""), Out: &out, Err: &errb})
		return code, out.String() + errb.String()
	}
	if code, out := verify(dir); code != exitOK || !strings.Contains(out, "OK: 91 entries") {
		t.Fatalf("archive directory: exit %d\n%s", code, out)
	}
	if code, out := verify(files[1]); code != exitOK || !strings.Contains(out, "OK: 30 entries") {
		t.Fatalf("one archive object: exit %d\n%s", code, out)
	}
	f, _ := os.Open(files[2])
	exp, err := archive.Decode(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	exp.Records[4].Entry.Success = false
	b, _ := archive.Encode(exp)
	os.WriteFile(files[2], b, 0o600)
	code, out := verify(dir)
	if code != exitTampered || !strings.Contains(out, fmt.Sprintf("modified  %s", exp.Records[4].Key)) || !strings.Contains(out, "TAMPERED: 1 findings") {
		t.Fatalf("edited archive: exit %d\n%s", code, out)
	}
}
