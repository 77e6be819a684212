package embedded

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// AuditRange calls fn with the entries whose Timestamp is in [from, to),
// oldest first, walking the time index (bucketAuditTime). A record is
// passed with the timestamp its index key names; an index key whose record
// is gone is skipped (its chain, or its digest, then shows it missing).
func (s *Store) AuditRange(ctx context.Context, from, to time.Time, fn func(r vsecure.AuditRecord) (bool, error)) error {
	return s.view(ctx, func(tx *bolt.Tx) error {
		audit := tx.Bucket(bucketAudit)
		c := tx.Bucket(bucketAuditTime).Cursor()
		for n, k := 1, seekKey(c, from); k != nil; k, _ = c.Next() {
			if n++; n%scanCheck == 0 {
				if err := ctx.Err(); err != nil {
					return unavailable(err)
				}
			}
			at, id, ok := timeKeyOf(k)
			if !ok {
				return vsecure.Errorf(vsecure.EInternal, "corrupt audit time index key %q", k)
			}
			if !at.Before(to) {
				return nil
			}
			v := audit.Get([]byte(id))
			if v == nil {
				continue
			}
			e, seal, err := decodeRecord(v)
			if err != nil {
				return err
			}
			more, err := fn(vsecure.AuditRecord{Key: id, Entry: e, Seal: seal})
			if err != nil || !more {
				return err
			}
		}
		return nil
	})
}

// seekKey positions c at the first time-index key at or after t.
func seekKey(c *bolt.Cursor, t time.Time) []byte {
	k, _ := c.Seek(AuditTimeKey(t, ""))
	return k
}

// OldestAudit returns the oldest entry by the time index.
func (s *Store) OldestAudit(ctx context.Context) (vsecure.Entry, error) {
	var e vsecure.Entry
	err := s.view(ctx, func(tx *bolt.Tx) error {
		audit := tx.Bucket(bucketAudit)
		c := tx.Bucket(bucketAuditTime).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if _, id, ok := timeKeyOf(k); ok {
				if v := audit.Get([]byte(id)); v != nil {
					return decodeEntry(v, &e)
				}
			}
		}
		return vsecure.Errorf(vsecure.ENotFound, "the audit log is empty")
	})
	return e, err
}

// digestKey orders digests by the start of their window.
func digestKey(t time.Time) []byte {
	return []byte(t.UTC().Format("2006-01-02T15:04:05.000000000Z"))
}

// PutDigest stores d unless a digest for the same From exists.
func (s *Store) PutDigest(ctx context.Context, d vsecure.Digest) error {
	data, err := json.Marshal(d)
	if err != nil {
		return vsecure.Wrap(vsecure.EInternal, err, "encode digest")
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDigests)
		k := digestKey(d.From)
		if b.Get(k) != nil {
			return vsecure.Errorf(vsecure.EConflict, "a digest from %s exists", d.From.UTC().Format(time.RFC3339))
		}
		return b.Put(k, data)
	})
}

// DigestBefore returns the digest with the latest From before t.
func (s *Store) DigestBefore(ctx context.Context, t time.Time) (vsecure.Digest, error) {
	var d vsecure.Digest
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketDigests).Cursor()
		k, v := c.Seek(digestKey(t))
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		if k == nil {
			return vsecure.Errorf(vsecure.ENotFound, "no digest before %s", t.UTC().Format(time.RFC3339))
		}
		return decode(v, &d)
	})
	return d, err
}

// Digests returns the digests with From in [from, to), oldest first.
func (s *Store) Digests(ctx context.Context, from, to time.Time) ([]vsecure.Digest, error) {
	var out []vsecure.Digest
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketDigests).Cursor()
		end := digestKey(to)
		for k, v := c.Seek(digestKey(from)); k != nil && bytes.Compare(k, end) < 0; k, v = c.Next() {
			var d vsecure.Digest
			if err := decode(v, &d); err != nil {
				return err
			}
			out = append(out, d)
		}
		return nil
	})
	return out, err
}
