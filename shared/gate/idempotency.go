package gate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// Idempotent writes: a caller that sends an Idempotency-Key with a write
// gets the first response to that key again on a retry instead of a second
// write. The HTTP layer computes the request's fingerprint and captures the
// response; this file owns the rules:
//
//   - Keys are scoped per principal and kept IdempotencyTTL (24 h).
//   - The key is reserved with one conditional write before the request
//     runs, so of two concurrent duplicates exactly one runs; the other
//     gets idempotency_in_progress (retryAfter) and, on retry, the first
//     one's response. (Waiting in the request instead would hold a
//     Lambda and an API Gateway connection for an unbounded time.)
//   - The same key with a different request is idempotency_mismatch.
//   - A reservation whose holder died (Lambda timeout, crash) is released
//     after IdempotencyLease: the retry then runs again. A request that
//     did write but died before storing its response may therefore run
//     twice; the lease is several times the functions' timeout, so this
//     takes a crash exactly between the write and the record.
//   - A response that must not be replayed (a failure or a throttle, in
//     the HTTP layer's terms) is not stored: the reservation is released
//     so a retry runs the request again (nothing was written, or the write
//     is conditional and will be refused on its own terms).
//   - One-time secrets (a new API key, an access token) are never stored,
//     not even sealed: they are removed from the stored body, and a replay
//     says so in Idempotency-Withheld. Storing them would turn a "shown
//     once" credential into one any holder of the caller's key and the
//     idempotency key could fetch again for a day. The approval itself is
//     not lost (the requester reads with its own key once approved), and a
//     lost new API key is visible by id in the replay, to be revoked.
//   - Replays are audited (idempotent_replay) and never repeat the original
//     operation's entry.
const (
	IdempotencyTTL   = 24 * time.Hour
	IdempotencyLease = time.Minute
)

// Reservation is the outcome of BeginIdempotent: either a response to
// replay, or the reservation the caller now holds and must complete or
// release.
type Reservation struct {
	Replay *Response
	held   vsecure.IdempotencyRecord
}

// Response is a stored response, as the caller that completed the
// reservation gave it: opaque to the gate but for Withheld, the one-time
// fields removed from Body, which a replay names.
type Response struct {
	Status   int
	Body     []byte
	Withheld []string
}

// ValidIdempotencyKey checks a header value: 1–255 visible ASCII
// characters (a UUID is typical).
func ValidIdempotencyKey(k string) error {
	if len(k) == 0 || len(k) > 255 {
		return vsecure.Errorf(vsecure.EInvalid, "Idempotency-Key must be 1 to 255 characters")
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return vsecure.Errorf(vsecure.EInvalid, "Idempotency-Key must be visible ASCII characters")
		}
	}
	return nil
}

// BeginIdempotent reserves key for the caller's request, whose fingerprint
// is fp, before op runs. Refusals (invalid key, mismatch, in progress) and
// replays are audited.
func (g *Gate) BeginIdempotent(ctx context.Context, c Call, op, key, fp string) (Reservation, error) {
	e := g.entry(c, op, "")
	if err := ValidIdempotencyKey(key); err != nil {
		return Reservation{}, g.fail(ctx, e, err)
	}
	if c.Principal.ID == "" {
		return Reservation{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EUnauthenticated, "idempotent requests need a caller"))
	}
	sum := sha256.Sum256([]byte(key))
	now := g.clock()
	r := vsecure.IdempotencyRecord{
		Principal: c.Principal.ID, Key: hex.EncodeToString(sum[:]), Fingerprint: fp,
		Token: g.secret("idem_"), LeaseUntil: now.Add(IdempotencyLease),
		CreatedAt: now.Truncate(time.Second), ExpiresAt: now.Add(IdempotencyTTL), RequestID: c.RequestID,
	}
	e.Metadata["idempotencyKey"] = r.Key[:16]
	cur, ok, err := g.store.ReserveIdempotency(ctx, r, now)
	if err != nil {
		return Reservation{}, g.fail(ctx, e, err)
	}
	if ok {
		return Reservation{held: r}, nil
	}
	if cur.Fingerprint != fp {
		return Reservation{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EIdempotencyMismatch,
			"this Idempotency-Key was used with a different request; use a new key for a new request"))
	}
	if !cur.Done {
		err := vsecure.Errorf(vsecure.EIdempotencyInProgress, "the first request with this Idempotency-Key is still running; retry shortly")
		err.Detail = map[string]string{"retryAfter": "1"}
		return Reservation{}, g.fail(ctx, e, err)
	}
	re := g.entry(c, vsecure.AuditReplay, "")
	re.Metadata["idempotencyKey"] = r.Key[:16]
	re.Metadata["replayOf"] = op
	if cur.RequestID != "" {
		re.Metadata["originalRequestId"] = cur.RequestID
	}
	if err := g.appendOK(ctx, re); err != nil {
		return Reservation{}, err
	}
	return Reservation{Replay: &Response{Status: cur.Status, Body: cur.Body, Withheld: cur.Withheld}}, nil
}

// CompleteIdempotent stores the response of a reserved request for
// replays; the caller removed its one-time secrets from r.Body and named
// them in r.Withheld. Failures are logged: the response has been sent
// already.
func (g *Gate) CompleteIdempotent(ctx context.Context, res Reservation, r Response) {
	if res.Replay != nil || res.held.Token == "" {
		return
	}
	rec := res.held
	rec.Done, rec.Status, rec.Body, rec.Withheld = true, r.Status, r.Body, r.Withheld
	if err := g.store.CompleteIdempotency(context.WithoutCancel(ctx), rec); err != nil {
		g.log.WarnContext(ctx, "idempotency record not stored", "err", err)
	}
}

// ReleaseIdempotent gives up a reservation whose response must not be
// replayed or could not be made safe to store, so that a retry runs the
// request again.
func (g *Gate) ReleaseIdempotent(ctx context.Context, res Reservation) {
	if res.Replay != nil || res.held.Token == "" {
		return
	}
	r := res.held
	if err := g.store.ReleaseIdempotency(context.WithoutCancel(ctx), r.Principal, r.Key, r.Token); err != nil {
		g.log.WarnContext(ctx, "idempotency release failed", "err", err)
	}
}
