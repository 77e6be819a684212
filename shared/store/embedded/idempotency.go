package embedded

import (
	"context"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// Idempotency records live in their own bucket keyed by principal and key.
// A dead record (expired, or pending past its lease) is overwritten by the
// next reservation of its key; records of keys never reused again stay
// until sweepIdempotency drops them, a few at a time, on later
// reservations.

func idemKey(principal, key string) []byte { return []byte(principal + "\x00" + key) }

// sweepBatch bounds the records one reservation looks at for expiry, so
// a reservation's cost does not grow with the bucket. Records are keyed by
// principal, not time, so the sweep starts at the reserved key and wraps.
const sweepBatch = 16

// ReserveIdempotency implements vsecure.IdempotencyStore in one write
// transaction (bbolt has one writer at a time, so of concurrent
// reservations exactly one sees no live record).
func (s *Store) ReserveIdempotency(ctx context.Context, r vsecure.IdempotencyRecord, now time.Time) (vsecure.IdempotencyRecord, bool, error) {
	if r.Principal == "" || r.Key == "" || r.Token == "" {
		return vsecure.IdempotencyRecord{}, false, vsecure.Errorf(vsecure.EInvalid, "idempotency record needs a principal, key and token")
	}
	var (
		cur   vsecure.IdempotencyRecord
		taken bool
	)
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketIdem)
		taken = false
		ok, err := get(b, string(idemKey(r.Principal, r.Key)), &cur)
		if err != nil {
			return err
		}
		if ok && cur.Live(now) {
			return nil
		}
		taken = true
		if err := sweepIdempotency(b, idemKey(r.Principal, r.Key), now); err != nil {
			return err
		}
		return put(b, string(idemKey(r.Principal, r.Key)), r)
	})
	if err != nil || taken {
		return vsecure.IdempotencyRecord{}, taken, err
	}
	return cur, false, nil
}

// sweepIdempotency deletes the expired records among the sweepBatch
// records after from.
func sweepIdempotency(b *bolt.Bucket, from []byte, now time.Time) error {
	var dead [][]byte
	c := b.Cursor()
	k, v := c.Seek(from)
	for n := 0; n < sweepBatch; n++ {
		if k == nil {
			if k, v = c.First(); k == nil {
				break
			}
		}
		var r vsecure.IdempotencyRecord
		if decode(v, &r) != nil || !now.Before(r.ExpiresAt) {
			dead = append(dead, append([]byte(nil), k...))
		}
		k, v = c.Next()
	}
	for _, k := range dead {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// CompleteIdempotency implements vsecure.IdempotencyStore.
func (s *Store) CompleteIdempotency(ctx context.Context, r vsecure.IdempotencyRecord) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketIdem)
		var cur vsecure.IdempotencyRecord
		ok, err := get(b, string(idemKey(r.Principal, r.Key)), &cur)
		if err != nil {
			return err
		}
		if !ok || cur.Done || cur.Token != r.Token {
			return vsecure.Errorf(vsecure.EConflict, "the idempotency reservation is no longer held")
		}
		return put(b, string(idemKey(r.Principal, r.Key)), r)
	})
}

// ReleaseIdempotency implements vsecure.IdempotencyStore.
func (s *Store) ReleaseIdempotency(ctx context.Context, principal, key, token string) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketIdem)
		var cur vsecure.IdempotencyRecord
		ok, err := get(b, string(idemKey(principal, key)), &cur)
		if err != nil || !ok || cur.Done || cur.Token != token {
			return err
		}
		return b.Delete(idemKey(principal, key))
	})
}
