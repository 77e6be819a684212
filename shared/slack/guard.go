package slack

import (
	"context"
	"sync"
	"time"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// MemoryGuard is an in-process vsecure.ReplayGuard for the local server,
// where one process sees every request. Lambda uses the store instead.
type MemoryGuard struct {
	mu   sync.Mutex
	seen map[string]time.Time
	// max bounds memory: past it, lapsed keys are swept; if none lapsed,
	// Remember refuses (EUnavailable) rather than forget a live key.
	max int
}

// NewMemoryGuard returns a guard holding at most max live keys (≥ 1).
func NewMemoryGuard(max int) *MemoryGuard {
	return &MemoryGuard{seen: map[string]time.Time{}, max: max}
}

// Remember implements vsecure.ReplayGuard.
func (g *MemoryGuard) Remember(_ context.Context, key string, now, until time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if u, ok := g.seen[key]; ok && u.After(now) {
		return vsecure.Errorf(vsecure.EConflict, "already seen")
	}
	if len(g.seen) >= g.max {
		for k, u := range g.seen {
			if !u.After(now) {
				delete(g.seen, k)
			}
		}
		if len(g.seen) >= g.max {
			return vsecure.Errorf(vsecure.EUnavailable, "too many recent Slack requests")
		}
	}
	g.seen[key] = until
	return nil
}
