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
		return putEncodedEntry(tx, e.ID, data)
	})
	if err != nil {
		return err
	}
	return refused
}

// QueryAudit returns entries matching f, newest first.
func (s *Store) QueryAudit(ctx context.Context, f vsecure.AuditFilter, cursor string, limit int) ([]vsecure.Entry, string, error) {
	limit = pageLimit(limit)
	if err := checkID(cursor); err != nil {
		return nil, "", err
	}
	var out []vsecure.Entry
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return newestFirst(ctx, tx.Bucket(bucketAudit), cursor, func(_, v []byte) (bool, error) {
			var e vsecure.Entry
			if err := decode(v, &e); err != nil {
				return false, err
			}
			if f.Matches(&e) {
				out = append(out, e)
			}
			return len(out) <= limit, nil
		})
	})
	if err != nil {
		return nil, "", err
	}
	if len(out) > limit {
		out = out[:limit]
		return out, out[limit-1].ID, nil
	}
	return out, "", nil
}
