package devserver_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vsecure/vsecure/shared/devserver"
	"github.com/vsecure/vsecure/shared/digest"
)

// auditWorld is a dev server's data and keys directories, restarted at
// will, with the digest step's clock ahead of the entries' by skew (so
// windows written a moment ago are closed).
type auditWorld struct {
	t          *testing.T
	data, keys string
	skew       atomic.Int64
}

const auditAdmin = "vsk_" + "devserver-witness-test-admin-key-0000000000"

func newAuditWorld(t *testing.T) *auditWorld {
	root := t.TempDir()
	return &auditWorld{t: t, data: filepath.Join(root, "data"), keys: filepath.Join(root, "keys")}
}

func (w *auditWorld) start() *devserver.Server {
	w.t.Helper()
	srv, err := devserver.New(w.t.Context(), devserver.Config{
		Addr: "127.0.0.1:0", DataDir: w.data, KeysDir: w.keys, AdminKey: auditAdmin, DigestEvery: -1,
		Now:    func() time.Time { return time.Now().Add(time.Duration(w.skew.Load())) },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return srv
}

// edit changes the stopped server's bolt file as someone with write access
// to the data directory (but not the keys directory) could.
func (w *auditWorld) edit(bucket string, f func(b *bolt.Bucket) error) {
	w.t.Helper()
	db, err := bolt.Open(filepath.Join(w.data, "vsecure.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		w.t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error { return f(tx.Bucket([]byte(bucket))) }); err != nil {
		w.t.Fatal(err)
	}
}

// sealAll seals every window up to now.
func (w *auditWorld) sealAll(srv *devserver.Server) int {
	w.t.Helper()
	w.skew.Store(int64(digest.DefaultWindow + digest.DefaultGrace + 5*time.Second))
	n, err := srv.SealAudit(w.t.Context())
	if err != nil {
		w.t.Fatal(err)
	}
	return n
}

// verify runs audit:verify through the API, as the CLI does.
func verify(t *testing.T, srv *devserver.Server) digest.Report {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/v1/security/mcp/audit/verify", nil)
	req.Header.Set("Authorization", "Bearer "+auditAdmin)
	rec := httptest.NewRecorder()
	srv.API.OwnHandler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("audit verify: %d %s", rec.Code, rec.Body)
	}
	var r digest.Report
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func kinds(r digest.Report) string {
	var ks []string
	for _, f := range r.Findings {
		ks = append(ks, f.Kind+" "+f.Entry)
	}
	return strings.Join(ks, ", ")
}

// The dev server's digest step writes the witness file in the keys
// directory and its verifier reads it: the newest digest deleted from the
// store (the one deletion the digest chain cannot show) is named.
func TestDevServerVerifyUsesWitness(t *testing.T) {
	w := newAuditWorld(t)
	srv := w.start()
	if n := w.sealAll(srv); n == 0 {
		t.Fatal("nothing sealed: the admin key's entry is missing")
	}
	if r := verify(t, srv); len(r.Findings) != 0 {
		t.Fatalf("findings on an untouched log: %s", kinds(r))
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	w.edit("digests", func(b *bolt.Bucket) error {
		k, _ := b.Cursor().Last()
		return b.Delete(k)
	})
	srv = w.start()
	defer srv.Close()
	r := verify(t, srv)
	if !strings.Contains(kinds(r), digest.DigestDeleted) {
		t.Fatalf("the newest digest was deleted; findings: [%s]", kinds(r))
	}
}

// The digest step checks each entry's MAC before sealing it: an entry
// changed in the data directory before its window was sealed is named,
// not sealed as evidence.
func TestDevServerSealerChecksMACs(t *testing.T) {
	w := newAuditWorld(t)
	srv := w.start()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	var changed string
	w.edit("audit", func(b *bolt.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			var rec map[string]map[string]any
			if err := json.Unmarshal(v, &rec); err != nil {
				return err
			}
			if changed != "" || rec["entry"]["operation"] != "key_create" {
				return nil
			}
			changed = string(k)
			rec["entry"]["actor"] = "mallory"
			nv, err := json.Marshal(rec)
			if err != nil {
				return err
			}
			return b.Put(k, nv)
		})
	})
	if changed == "" {
		t.Fatal("no key_create entry to change")
	}
	srv = w.start()
	defer srv.Close()
	w.sealAll(srv)
	r := verify(t, srv)
	if len(r.Findings) != 1 || r.Findings[0].Entry != changed || r.Findings[0].Kind != digest.Modified {
		t.Fatalf("findings [%s], want modified %s", kinds(r), changed)
	}
}
