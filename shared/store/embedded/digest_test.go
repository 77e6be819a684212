package embedded_test

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vsecure/vsecure/shared/auditlog"
	"github.com/vsecure/vsecure/shared/digest/digesttest"
	"github.com/vsecure/vsecure/shared/store/embedded"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// boltWorld tampers with the bbolt file itself: it closes the store, edits
// the buckets with bbolt directly, and reopens.
type boltWorld struct {
	path string
	s    *embedded.Store
	opts []embedded.Option
	// index is the time index during an edit: an attacker who adds a
	// record adds its index key too, or no reader would ever see it.
	index *bolt.Bucket
}

func (w *boltWorld) Store() vsecure.Store { return w.s }

func (w *boltWorld) edit(t *testing.T, fn func(audit, digests *bolt.Bucket) error) {
	t.Helper()
	if err := w.s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(w.path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		w.index = tx.Bucket([]byte("auditByTime"))
		return fn(tx.Bucket([]byte("audit")), tx.Bucket([]byte("digests")))
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	w.s = open(t, w.path, w.opts...)
}

func (w *boltWorld) DeleteEntry(t *testing.T, key string) {
	w.edit(t, func(a, _ *bolt.Bucket) error { return a.Delete([]byte(key)) })
}

func (w *boltWorld) PutEntry(t *testing.T, key string, e vsecure.Entry) {
	data, _ := json.Marshal(e)
	w.edit(t, func(a, _ *bolt.Bucket) error { return w.put(a, key, e.Timestamp, data) })
}

// put stores a raw record under key and indexes it at at, as the store does.
func (w *boltWorld) put(a *bolt.Bucket, key string, at time.Time, data []byte) error {
	if err := a.Put([]byte(key), data); err != nil {
		return err
	}
	return w.index.Put(embedded.AuditTimeKey(at, key), nil)
}

// Swap exchanges two records: each key now holds the other's entry.
func (w *boltWorld) Swap(t *testing.T, a, b string) {
	w.edit(t, func(au, _ *bolt.Bucket) error {
		va := append([]byte(nil), au.Get([]byte(a))...)
		vb := append([]byte(nil), au.Get([]byte(b))...)
		if err := au.Put([]byte(a), vb); err != nil {
			return err
		}
		return au.Put([]byte(b), va)
	})
}

func digestKey(t time.Time) []byte { return []byte(t.UTC().Format("2006-01-02T15:04:05.000000000Z")) }

func (w *boltWorld) DeleteDigest(t *testing.T, from time.Time) {
	w.edit(t, func(_, d *bolt.Bucket) error {
		if d.Get(digestKey(from)) == nil {
			t.Fatalf("no digest at %s", from)
		}
		return d.Delete(digestKey(from))
	})
}

func (w *boltWorld) PutDigest(t *testing.T, dg vsecure.Digest) {
	data, _ := json.Marshal(dg)
	w.edit(t, func(_, d *bolt.Bucket) error { return d.Put(digestKey(dg.From), data) })
}

func TestDigestTamper(t *testing.T) {
	digesttest.Run(t, func(t *testing.T) digesttest.World {
		path := filepath.Join(t.TempDir(), "vsecure.db")
		return &boltWorld{path: path, s: open(t, path)}
	})
}

func (w *boltWorld) PutRecord(t *testing.T, key string, r vsecure.AuditRecord) {
	data, _ := json.Marshal(struct {
		Entry vsecure.Entry      `json:"entry"`
		Seal  *vsecure.AuditSeal `json:"seal,omitempty"`
	}{r.Entry, r.Seal})
	w.edit(t, func(a, _ *bolt.Bucket) error { return w.put(a, key, r.Entry.Timestamp, data) })
}

// Restart closes and reopens the store: its next write opens an epoch
// continuing the last one.
func (w *boltWorld) Restart(t *testing.T) {
	w.edit(t, func(_, _ *bolt.Bucket) error { return nil })
}

// TestDigestTamperSealed runs issue 13's tamper cases on a sealing store.
func TestDigestTamperSealed(t *testing.T) {
	digesttest.RunSealed(t, func(t *testing.T, keys auditlog.MACKeys) digesttest.SealedWorld {
		path := filepath.Join(t.TempDir(), "vsecure.db")
		return &boltWorld{path: path, s: open(t, path, embedded.WithSeal(keys, "test")), opts: []embedded.Option{embedded.WithSeal(keys, "test")}}
	})
}
