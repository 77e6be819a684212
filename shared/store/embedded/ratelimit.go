package embedded

import (
	"context"
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// bucketRates holds RateStore buckets: the key is the bucket's name, the
// value its instant (vsecure.RateLimit.Take) as 8 bytes of big-endian Unix
// nanoseconds. Buckets are per principal, so they stay few; an idle one
// is simply full.
var bucketRates = []byte("rates")

// TakeToken reads and writes the bucket inside one bbolt transaction:
// writers are serialized, so racing takers cannot overdraw it.
func (s *Store) TakeToken(ctx context.Context, key string, limit vsecure.RateLimit, now time.Time) (bool, time.Duration, error) {
	if key == "" {
		return false, 0, vsecure.Errorf(vsecure.EInvalid, "empty rate bucket")
	}
	var ok bool
	var wait time.Duration
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketRates)
		if err != nil {
			return err
		}
		var tat time.Time
		if v := b.Get([]byte(key)); len(v) == 8 {
			tat = time.Unix(0, int64(binary.BigEndian.Uint64(v)))
		}
		var next time.Time
		if next, ok, wait = limit.Take(tat, now); !ok {
			return nil
		}
		var val [8]byte
		binary.BigEndian.PutUint64(val[:], uint64(next.UnixNano()))
		return b.Put([]byte(key), val[:])
	})
	if err != nil {
		return false, 0, err
	}
	return ok, wait, nil
}
