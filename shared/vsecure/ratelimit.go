package vsecure

import (
	"context"
	"time"
)

// RateLimit is a token bucket: it holds at most Burst tokens and gains one
// every Every.
type RateLimit struct {
	Every time.Duration
	Burst int
}

// ApprovalRequestLimit is the product's rule for approval requests per
// requester: ten at once, then one every 30 s. Enough for any agent, too few
// to bury approvers in notifications.
var ApprovalRequestLimit = RateLimit{Every: 30 * time.Second, Burst: 10}

// ApprovalBucket names the requester's bucket of approval requests.
func ApprovalBucket(principal string) string { return "approvals#" + principal }

// RateStore keeps token buckets that every process sharing the store
// draws on, so a limit holds across Lambda containers.
type RateStore interface {
	// TakeToken takes one token at now from the bucket named key, which
	// obeys limit (a bucket never seen, or idle long enough, is full). It
	// reports whether a token was taken and, if not, how long until one
	// will be; a refusal writes nothing. The take is one conditional
	// write: however many callers race, the bucket never gives more than
	// limit allows. EConflict if it kept losing races (bounded retries).
	TakeToken(ctx context.Context, key string, limit RateLimit, now time.Time) (bool, time.Duration, error)
}

// Take is the bucket's arithmetic, shared by both stores. A bucket is
// stored as one instant, tat (the generic cell rate algorithm): when the
// bucket will be full again; zero for a bucket never seen. Take takes a
// token at now and returns the instant to store, or, when the bucket is
// empty, false and how long until a token will be.
func (l RateLimit) Take(tat, now time.Time) (next time.Time, ok bool, wait time.Duration) {
	if tat.Before(now) {
		tat = now
	}
	next = tat.Add(l.Every)
	if over := next.Sub(now) - time.Duration(l.Burst)*l.Every; over > 0 {
		return tat, false, over
	}
	return next, true, 0
}
