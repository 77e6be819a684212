package vsecure

import (
	"context"
	"time"
)

// IdempotencyRecord remembers one request made with an Idempotency-Key:
// first as a reservation taken before the request runs, so a concurrent
// duplicate cannot run too, then as the response to replay.
//
// It never holds a one-time secret: fields listed in Withheld (an access
// token, a new API key) were removed from Body before it was stored.
type IdempotencyRecord struct {
	// Principal and Key identify the record: keys are scoped per caller.
	// Key is the SHA-256 (hex) of the client's header value.
	Principal string `json:"principal"`
	Key       string `json:"key"`
	// Fingerprint is the SHA-256 (hex) of method, route, path, caller and
	// body: the same key with another fingerprint is a mismatch.
	Fingerprint string `json:"fingerprint"`
	// Token names the reservation, so only its holder completes it.
	Token string `json:"token"`
	// Done is set once the response is stored.
	Done bool `json:"done"`
	// LeaseUntil bounds a reservation whose holder died mid-request: once
	// it has passed, another request may take the key over.
	LeaseUntil time.Time `json:"leaseUntil"`
	CreatedAt  time.Time `json:"createdAt"`
	ExpiresAt  time.Time `json:"expiresAt"`
	RequestID  string    `json:"requestId,omitempty"`

	Status   int      `json:"status,omitempty"`
	Body     []byte   `json:"body,omitempty"`
	Withheld []string `json:"withheld,omitempty"`
}

// Live reports whether r still binds its key at now: not expired, and
// either done or within its lease.
func (r *IdempotencyRecord) Live(now time.Time) bool {
	return now.Before(r.ExpiresAt) && (r.Done || now.Before(r.LeaseUntil))
}

// IdempotencyStore keeps idempotency records. Records are ephemeral: the
// store may forget one after its ExpiresAt (DynamoDB TTL).
type IdempotencyStore interface {
	// ReserveIdempotency stores r as a pending reservation unless a record
	// live at now exists for (r.Principal, r.Key). It reports whether r
	// was stored, and otherwise returns the live record. It is one
	// conditional write: of concurrent reservations exactly one wins.
	ReserveIdempotency(ctx context.Context, r IdempotencyRecord, now time.Time) (IdempotencyRecord, bool, error)
	// CompleteIdempotency replaces the reservation made with r.Token by r
	// (Done, with the response). EConflict if the reservation is no
	// longer r.Token's (its lease passed and another request took it).
	CompleteIdempotency(ctx context.Context, r IdempotencyRecord) error
	// ReleaseIdempotency gives up the reservation made with token so that
	// a retry runs the request again; it does nothing if token no longer
	// holds it.
	ReleaseIdempotency(ctx context.Context, principal, key, token string) error
}
