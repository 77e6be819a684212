package embedded

import (
	"bytes"
	"context"
	"encoding/json"
	"math/big"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// The audit bucket is keyed by time-sortable ids, not by timestamp, and
// this package does not know the id layout. A window is found by bisecting
// the key space with Seek (a few hundred B+tree descents, independent of
// the log's size) for the first entry at or after from, then read forwards
// in key order. Ids carry their creation time to the millisecond while
// timestamps are truncated to the second, so both ends are widened by
// idSlack and the timestamps filter exactly.
const idSlack = time.Second

// AuditRange calls fn with the entries whose Timestamp is in [from, to),
// in key order.
func (s *Store) AuditRange(ctx context.Context, from, to time.Time, fn func(r vsecure.AuditRecord) (bool, error)) error {
	return s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAudit).Cursor()
		k, v, err := seekTime(c, from.Add(-idSlack))
		if err != nil {
			return err
		}
		stop := to.Add(idSlack)
		for n := 1; k != nil; k, v = c.Next() {
			if n++; n%scanCheck == 0 {
				if err := ctx.Err(); err != nil {
					return unavailable(err)
				}
			}
			e, seal, err := decodeRecord(v)
			if err != nil {
				return err
			}
			if !e.Timestamp.Before(stop) {
				return nil
			}
			if e.Timestamp.Before(from) || !e.Timestamp.Before(to) {
				continue
			}
			more, err := fn(vsecure.AuditRecord{Key: string(k), Entry: e, Seal: seal})
			if err != nil || !more {
				return err
			}
		}
		return nil
	})
}

// OldestAudit returns the entry with the smallest key.
func (s *Store) OldestAudit(ctx context.Context) (vsecure.Entry, error) {
	var e vsecure.Entry
	err := s.view(ctx, func(tx *bolt.Tx) error {
		_, v := tx.Bucket(bucketAudit).Cursor().First()
		if v == nil {
			return vsecure.Errorf(vsecure.ENotFound, "the audit log is empty")
		}
		return decodeEntry(v, &e)
	})
	return e, err
}

// seekTime positions c at the first key whose entry's timestamp is not
// before t, assuming timestamps grow with keys: it bisects the byte-string
// space between the empty key and the last key (keys padded to one byte
// more than the longest end), so it takes 8 × key-length Seeks whatever
// the number of entries.
func seekTime(c *bolt.Cursor, t time.Time) ([]byte, []byte, error) {
	before := func(v []byte) (bool, error) {
		var ts struct { // a plain entry, or a sealed record's
			Timestamp time.Time `json:"timestamp"`
			Entry     *struct {
				Timestamp time.Time `json:"timestamp"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(v, &ts); err != nil {
			return false, vsecure.Wrap(vsecure.EInternal, err, "corrupt record in store")
		}
		if ts.Entry != nil {
			ts.Timestamp = ts.Entry.Timestamp
		}
		return ts.Timestamp.Before(t), nil
	}
	first, fv := c.First()
	if first == nil {
		return nil, nil, nil
	}
	if b, err := before(fv); err != nil || !b {
		return first, fv, err
	}
	last, lv := c.Last()
	if b, err := before(lv); err != nil || b {
		return nil, nil, err
	}
	width := max(len(first), len(last)) + 1
	pad := func(k []byte) *big.Int { // k followed by zero bytes: just after k
		p := make([]byte, width)
		copy(p, k)
		return new(big.Int).SetBytes(p)
	}
	key := func(n *big.Int) []byte { return n.FillBytes(make([]byte, width)) }
	// lo (the zero key) seeks to an entry before t; hi, just past the last
	// key, seeks to nothing.
	lo, hi := new(big.Int), pad(last)
	one := big.NewInt(1)
	for new(big.Int).Sub(hi, lo).Cmp(one) > 0 {
		mid := new(big.Int).Add(lo, hi)
		mid.Rsh(mid, 1)
		k, v := c.Seek(key(mid))
		ok := k == nil
		if !ok {
			b, err := before(v)
			if err != nil {
				return nil, nil, err
			}
			ok = !b
		}
		if ok {
			hi = mid
		} else {
			lo = mid
		}
	}
	k, v := c.Seek(key(hi))
	return k, v, nil
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
