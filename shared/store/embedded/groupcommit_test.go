package embedded

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func testDB(t *testing.T) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "g.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("b")); return err }); err != nil {
		t.Fatal(err)
	}
	return db
}

func putKey(k string) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error { return tx.Bucket([]byte("b")).Put([]byte(k), []byte("v")) }
}

func keys(t *testing.T, db *bolt.DB) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	if err := db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("b")).ForEach(func(k, _ []byte) error { out[string(k)] = true; return nil })
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// queueBehindWriter holds the write lock until the returned release is
// called, so that calls made meanwhile share the next commit.
func queueBehindWriter(t *testing.T, g *groupCommit) (release func()) {
	t.Helper()
	held, done := make(chan struct{}), make(chan struct{})
	go g.db.Update(func(*bolt.Tx) error { close(held); <-done; return nil })
	<-held
	return func() { close(done) }
}

func waitQueued(t *testing.T, g *groupCommit, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		g.mu.Lock()
		q := len(g.queue)
		g.mu.Unlock()
		if q >= n {
			return
		}
	}
	t.Fatalf("calls never queued")
}

func waitTaken(t *testing.T, g *groupCommit) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		g.mu.Lock()
		taken := g.busy && len(g.queue) == 0
		g.mu.Unlock()
		if taken {
			return
		}
	}
	t.Fatalf("call never taken")
}

// A call that fails (or panics) in a shared commit gets its own error; its
// writes are rolled back and every other call still commits.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	db := testDB(t)
	g := &groupCommit{db: db, max: 100}
	release := queueBehindWriter(t, g)

	boom := errors.New("boom")
	fns := map[string]func(*bolt.Tx) error{
		"first": putKey("first"), // the drainer takes this one and waits for the lock
		"a":     putKey("a"),
		"fails": func(tx *bolt.Tx) error {
			if err := putKey("fails")(tx); err != nil {
				return err
			}
			return boom
		},
		"b":      putKey("b"),
		"panics": func(tx *bolt.Tx) error { putKey("panics")(tx); panic("bad") },
		"c":      putKey("c"),
	}
	errs := map[string]error{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, name := range []string{"first", "a", "fails", "b", "panics", "c"} {
		wg.Go(func() {
			err := g.run(fns[name])
			mu.Lock()
			errs[name] = err
			mu.Unlock()
		})
		if i == 0 {
			waitTaken(t, g) // the drainer holds "first" alone, waiting for the lock
		}
	}
	waitQueued(t, g, 5)
	release()
	wg.Wait()

	for _, name := range []string{"first", "a", "b", "c"} {
		if errs[name] != nil {
			t.Errorf("%s: %v", name, errs[name])
		}
	}
	if !errors.Is(errs["fails"], boom) {
		t.Errorf("failing call got %v, want its own error", errs["fails"])
	}
	if errs["panics"] == nil {
		t.Error("panicking call got no error")
	}
	got := keys(t, db)
	want := map[string]bool{"first": true, "a": true, "b": true, "c": true}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("stored %v, want %v", got, want)
	}
}

func TestGroupCommitSharesCommits(t *testing.T) {
	db := testDB(t)
	g := &groupCommit{db: db, max: 7}
	release := queueBehindWriter(t, g)
	const n = 100
	var commits sync.Map
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			err := g.run(func(tx *bolt.Tx) error {
				commits.Store(tx.ID(), true)
				return putKey(fmt.Sprintf("k%03d", i))(tx)
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	waitQueued(t, g, n-g.max) // the drainer may have taken a first batch
	time.Sleep(20 * time.Millisecond)
	release()
	wg.Wait()
	if got := len(keys(t, db)); got != n {
		t.Fatalf("%d keys stored, want %d", got, n)
	}
	txs := 0
	commits.Range(func(any, any) bool { txs++; return true })
	// One call went alone; the other 99 share commits of at most 7.
	if txs > 1+(n-1+6)/7 {
		t.Fatalf("%d commits for %d calls in batches of 7", txs, n)
	}
	// The drainer answers its last calls before it sees the queue empty.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		g.mu.Lock()
		busy, queued := g.busy, len(g.queue)
		g.mu.Unlock()
		if !busy && queued == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("committer still busy (%v) with %d queued", busy, queued)
		}
	}
}

func TestGroupCommitAfterClose(t *testing.T) {
	db := testDB(t)
	g := &groupCommit{db: db, max: 10}
	db.Close()
	if err := g.run(putKey("x")); !errors.Is(err, bolt.ErrDatabaseNotOpen) {
		t.Fatalf("run after Close: %v", err)
	}
}
