package syncbuf_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/vsecure/vsecure/internal/syncbuf"
)

// Run with -race: writers and a reader share the buffer.
func TestConcurrentWritesAndReads(t *testing.T) {
	var b syncbuf.Buffer
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				b.Write([]byte("x"))
				_ = b.String()
				_ = b.Bytes()
			}
		})
	}
	wg.Wait()
	if got := b.String(); got != strings.Repeat("x", 400) {
		t.Fatalf("got %d bytes, want 400", len(got))
	}
}
