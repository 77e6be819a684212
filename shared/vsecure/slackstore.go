package vsecure

import (
	"context"
	"time"
)

// SlackDirectory maps a Slack user to the keys that carry its id, so a
// button press in Slack acts as a principal the gate knows.
type SlackDirectory interface {
	// KeysBySlackUser returns every key, active or not, whose SlackUserID
	// is id, ordered by key id. Revocation is visible at once: callers
	// decide with Key.Active on what it returns.
	KeysBySlackUser(ctx context.Context, id string) ([]Key, error)
}

// ReplayGuard remembers one-time tokens (for example Slack request
// signatures) for a while, so a captured request cannot be replayed.
type ReplayGuard interface {
	// Remember records key until the instant until. It reports EConflict
	// if key is already remembered with an until after now: exactly one
	// of several concurrent callers with the same key succeeds.
	Remember(ctx context.Context, key string, now, until time.Time) error
}
