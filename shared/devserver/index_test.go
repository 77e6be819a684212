package devserver_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/auditindex"
	"github.com/vsecure/vsecure/shared/devserver"
	"github.com/vsecure/vsecure/shared/store/embedded"
)

// passes records the indexer passes the server runs (a fake of the one
// layer below: the DynamoDB store's IndexAudit is tested with the store).
type passes struct {
	mu    sync.Mutex
	ctxs  []context.Context
	nows  []time.Time
	ended bool // the third pass, held until its context ends, returned
	calls chan struct{}
}

func (p *passes) IndexAudit(ctx context.Context, now time.Time) (auditindex.Stats, error) {
	p.mu.Lock()
	p.ctxs = append(p.ctxs, ctx)
	p.nows = append(p.nows, now)
	n := len(p.ctxs)
	p.mu.Unlock()
	p.calls <- struct{}{}
	if n == 3 {
		<-ctx.Done()
		p.mu.Lock()
		p.ended = true
		p.mu.Unlock()
		return auditindex.Stats{}, ctx.Err()
	}
	return auditindex.Stats{}, nil
}

// With an audit indexer the server runs a pass a second on its own clock
// from start to shutdown: Close cancels the pass in flight and waits for
// the loop to end, so nothing runs after it.
func TestAuditIndexerRunsForTheServersLifetime(t *testing.T) {
	dir := t.TempDir()
	st, err := embedded.Open(filepath.Join(dir, "vsecure.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clock := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	ix := &passes{calls: make(chan struct{}, 3)}
	srv, err := devserver.New(t.Context(), devserver.Config{
		Addr: "127.0.0.1:0", DataDir: dir, AdminKey: "vsk_" + strings.Repeat("b", 43), Store: st,
		AuditIndexer: ix, Now: func() time.Time { return clock }, DigestEvery: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 { // the pass at start, then one a second
		select {
		case <-ix.calls:
		case <-time.After(30 * time.Second):
			t.Fatal("no indexer pass within 30 s")
		}
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if !ix.ended || len(ix.ctxs) != 3 {
		t.Fatalf("Close returned with the pass in flight (ended %v) or after %d passes, want 3", ix.ended, len(ix.ctxs))
	}
	for i, ctx := range ix.ctxs {
		if ctx.Err() == nil {
			t.Errorf("pass %d's context outlived the server", i)
		}
		if !ix.nows[i].Equal(clock) {
			t.Errorf("pass %d ran at %v, not on the server's clock", i, ix.nows[i])
		}
	}
}
