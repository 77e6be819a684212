package embedded

import (
	"context"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// Passkey buckets, created on first write (a store opened by an older
// build has none, and reads treat a missing bucket as empty).
var (
	// bucketPasskeys holds passkeys under principal + "\x00" + credential
	// id, so one principal's are a contiguous, id-ordered range.
	bucketPasskeys = []byte("passkeys")
	// bucketPasskeyIDs maps a credential id to its principal: an id is
	// registered once, whoever holds it.
	bucketPasskeyIDs = []byte("passkeyIds")
	// bucketCeremonies holds passkey ceremonies in flight by id.
	bucketCeremonies = []byte("passkeyCeremonies")
)

// prunePerTake bounds how many ceremonies one take looks at for expiry.
const prunePerTake = 16

func passkeyKey(principal, id string) []byte { return []byte(principal + "\x00" + id) }

// CreatePasskey stores p, its id index and e in one transaction.
func (s *Store) CreatePasskey(ctx context.Context, p vsecure.Passkey, e vsecure.Entry) error {
	if p.ID == "" || p.Principal == "" {
		return vsecure.Errorf(vsecure.EInvalid, "passkey needs an id and a principal")
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		keys, err := tx.CreateBucketIfNotExists(bucketPasskeys)
		if err != nil {
			return err
		}
		ids, err := tx.CreateBucketIfNotExists(bucketPasskeyIDs)
		if err != nil {
			return err
		}
		if ids.Get([]byte(p.ID)) != nil {
			return vsecure.Errorf(vsecure.EConflict, "this passkey is registered already")
		}
		if err := ids.Put([]byte(p.ID), []byte(p.Principal)); err != nil {
			return err
		}
		if err := put(keys, string(passkeyKey(p.Principal, p.ID)), p); err != nil {
			return err
		}
		return s.putEntry(tx, e)
	})
}

// ListPasskeys reads the principal's range.
func (s *Store) ListPasskeys(ctx context.Context, principal string) ([]vsecure.Passkey, error) {
	var out []vsecure.Passkey
	err := s.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPasskeys)
		if b == nil || principal == "" {
			return nil
		}
		prefix := principal + "\x00"
		c := b.Cursor()
		for k, v := c.Seek([]byte(prefix)); k != nil && strings.HasPrefix(string(k), prefix); k, v = c.Next() {
			var p vsecure.Passkey
			if err := decode(v, &p); err != nil {
				return err
			}
			out = append(out, p)
		}
		return nil
	})
	return out, err
}

// UsePasskey advances the counter inside one write transaction: bbolt
// serializes writers, so the read and the write cannot interleave with
// another assertion's.
func (s *Store) UsePasskey(ctx context.Context, principal, id string, count uint32, at time.Time) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPasskeys)
		if b == nil {
			return vsecure.Errorf(vsecure.ENotFound, "passkey not found")
		}
		k := string(passkeyKey(principal, id))
		var p vsecure.Passkey
		found, err := get(b, k, &p)
		if err != nil {
			return err
		}
		if !found {
			return vsecure.Errorf(vsecure.ENotFound, "passkey not found")
		}
		if !(count > p.SignCount || count == 0 && p.SignCount == 0) {
			return vsecure.Errorf(vsecure.EConflict, "the passkey's signature counter did not advance (%d after %d)", count, p.SignCount)
		}
		p.SignCount, p.LastUsedAt = count, &at
		return put(b, k, p)
	})
}

// DeletePasskey removes the passkey and its id index with e.
func (s *Store) DeletePasskey(ctx context.Context, principal, id string, e vsecure.Entry) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPasskeys)
		k := passkeyKey(principal, id)
		if b == nil || b.Get(k) == nil {
			return vsecure.Errorf(vsecure.ENotFound, "passkey not found")
		}
		if err := b.Delete(k); err != nil {
			return err
		}
		if err := tx.Bucket(bucketPasskeyIDs).Delete([]byte(id)); err != nil {
			return err
		}
		return s.putEntry(tx, e)
	})
}

// PutPasskeyCeremony stores c unless its id exists.
func (s *Store) PutPasskeyCeremony(ctx context.Context, c vsecure.PasskeyCeremony) error {
	if c.ID == "" || c.Principal == "" {
		return vsecure.Errorf(vsecure.EInvalid, "ceremony needs an id and a principal")
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketCeremonies)
		if err != nil {
			return err
		}
		if b.Get([]byte(c.ID)) != nil {
			return vsecure.Errorf(vsecure.EConflict, "ceremony %s exists", c.ID)
		}
		return put(b, c.ID, c)
	})
}

// TakePasskeyCeremony reads and deletes in one write transaction (one
// winner: bbolt serializes writers), and drops a few expired ceremonies
// that were begun and never finished.
func (s *Store) TakePasskeyCeremony(ctx context.Context, id, principal string, now time.Time) (vsecure.PasskeyCeremony, error) {
	var (
		out   vsecure.PasskeyCeremony
		taken bool
	)
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCeremonies)
		if b == nil {
			return nil
		}
		var c vsecure.PasskeyCeremony
		found, err := get(b, id, &c)
		if err != nil {
			return err
		}
		// A lapsed ceremony goes with the pruning, and is not taken.
		if err := pruneCeremonies(b, id, now); err != nil {
			return err
		}
		if !found || c.Principal != principal || !now.Before(c.ExpiresAt) {
			return nil
		}
		out, taken = c, true
		return b.Delete([]byte(id))
	})
	if err == nil && !taken {
		err = vsecure.Errorf(vsecure.ENotFound, "no such passkey ceremony (finished, expired, or never begun)")
	}
	return out, err
}

// pruneCeremonies looks at up to prunePerTake ceremonies from id on
// (wrapping around) and drops the lapsed ones. Ids are random, so pruning
// around each take sweeps the bucket over time without a scan or a job
// (as Remember does for the replay guard).
func pruneCeremonies(b *bolt.Bucket, id string, now time.Time) error {
	c := b.Cursor()
	start := []byte(id)
	n := 0
	for k, v := c.Seek(start); n < prunePerTake; k, v = c.Next() {
		if k == nil {
			k, v = c.First()
		}
		if k == nil || (n > 0 && string(k) == id) {
			return nil
		}
		n++
		var cer vsecure.PasskeyCeremony
		if err := decode(v, &cer); err != nil {
			return err
		}
		if !now.Before(cer.ExpiresAt) {
			if err := c.Delete(); err != nil {
				return err
			}
		}
	}
	return nil
}
