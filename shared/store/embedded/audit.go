package embedded

import (
	"context"
	"encoding/json"

	bolt "go.etcd.io/bbolt"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// AppendAudit appends e, sharing the transaction and fsync with concurrent
// appends and reads (see the package doc).
func (s *Store) AppendAudit(ctx context.Context, e vsecure.Entry) error {
	if e.ID == "" {
		return vsecure.Errorf(vsecure.EInvalid, "audit entry has no id")
	}
	data, err := json.Marshal(e)
	if err != nil {
		return vsecure.Wrap(vsecure.EInternal, err, "encode audit entry")
	}
	var refused error
	err = s.batch(ctx, func(tx *bolt.Tx) error {
		if refused = entryFree(tx, e.ID); refused != nil {
			return nil
		}
		return s.putEncodedEntry(tx, e.ID, e.Timestamp, data)
	})
	if err != nil {
		return err
	}
	return refused
}

// QueryAudit returns entries matching f, newest first.
func (s *Store) QueryAudit(ctx context.Context, f vsecure.AuditFilter, cursor string, limit int) ([]vsecure.Entry, string, error) {
	return newestPage(ctx, s, bucketAudit, cursor, limit, decodeEntry, f.Matches, func(e vsecure.Entry) string { return e.ID })
}

// newestPage walks a bucket keyed by time-sortable ids from cursor
// backwards and returns up to limit records that match, with the cursor of
// the next page ("" when there is none).
func newestPage[T any](ctx context.Context, s *Store, bucket []byte, cursor string, limit int, dec func([]byte, *T) error, match func(*T) bool, id func(T) string) ([]T, string, error) {
	limit = pageLimit(limit)
	if err := checkID(cursor); err != nil {
		return nil, "", err
	}
	var out []T
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return newestFirst(ctx, tx.Bucket(bucket), cursor, func(_, v []byte) (bool, error) {
			var r T
			if err := dec(v, &r); err != nil {
				return false, err
			}
			if match(&r) {
				out = append(out, r)
			}
			return len(out) <= limit, nil
		})
	})
	if err != nil {
		return nil, "", err
	}
	if len(out) > limit {
		out = out[:limit]
		return out, id(out[limit-1]), nil
	}
	return out, "", nil
}
