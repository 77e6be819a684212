package embedded

import (
	"bytes"
	"context"
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// bucketSeen holds ReplayGuard keys; the value is the until instant as
// 8 bytes of big-endian Unix nanoseconds.
var bucketSeen = []byte("seen")

// prunePerRemember bounds how many neighbouring seen keys one Remember
// looks at for expiry. Keys are uniformly random (signatures), so pruning
// around each insertion point sweeps the whole bucket over time without a
// background job or a second index.
const prunePerRemember = 16

// KeysBySlackUser scans the keys bucket: a development store holds few
// keys and presses are rare, so an index would cost more than it saves.
func (s *Store) KeysBySlackUser(ctx context.Context, id string) ([]vsecure.Key, error) {
	var out []vsecure.Key
	if id == "" {
		return nil, nil
	}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketKeys).ForEach(func(_, v []byte) error {
			var r keyRecord
			if err := decode(v, &r); err != nil {
				return err
			}
			if r.SlackUserID == id {
				out = append(out, r.key())
			}
			return nil
		})
	})
	return out, err
}

// Remember records key until until in its own transaction, and drops a few
// expired neighbours on the way.
func (s *Store) Remember(ctx context.Context, key string, now, until time.Time) error {
	if key == "" {
		return vsecure.Errorf(vsecure.EInvalid, "empty replay key")
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketSeen)
		if err != nil {
			return err
		}
		k := []byte(key)
		if v := b.Get(k); len(v) == 8 && int64(binary.BigEndian.Uint64(v)) > now.UnixNano() {
			return vsecure.Errorf(vsecure.EConflict, "already seen")
		}
		var val [8]byte
		binary.BigEndian.PutUint64(val[:], uint64(until.UnixNano()))
		if err := b.Put(k, val[:]); err != nil {
			return err
		}
		c := b.Cursor()
		n := 0
		for ck, cv := c.Seek(k); n < prunePerRemember; ck, cv = c.Next() {
			if ck == nil {
				ck, cv = c.First()
			}
			if ck == nil || (n > 0 && bytes.Equal(ck, k)) {
				break
			}
			n++
			if len(cv) == 8 && int64(binary.BigEndian.Uint64(cv)) <= now.UnixNano() {
				if err := c.Delete(); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
