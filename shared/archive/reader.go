package archive

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/vsecure/vsecure/shared/digest"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// Reader is the archive as the verifier reads it (digest.Archive).
type Reader struct{ Bucket Bucket }

var _ digest.Archive = Reader{}

// Archived returns the archived digests starting in [from, to) and every
// record archived with them.
func (r Reader) Archived(ctx context.Context, from, to time.Time) ([]vsecure.Digest, []vsecure.AuditRecord, error) {
	keys, err := r.Bucket.Keys(ctx, from, to)
	if err != nil {
		return nil, nil, fmt.Errorf("archive: list: %w", err)
	}
	var ds []vsecure.Digest
	var recs []vsecure.AuditRecord
	for _, k := range keys {
		b, err := r.Bucket.Get(ctx, k)
		if err != nil {
			return nil, nil, fmt.Errorf("archive: get %s: %w", k, err)
		}
		exp, err := Decode(bytes.NewReader(b))
		if err != nil {
			return nil, nil, fmt.Errorf("archive: %s: %w", k, err)
		}
		n := 0
		for _, d := range exp.Digests {
			if !d.From.Before(from) && d.From.Before(to) {
				ds = append(ds, d)
				n++
			}
		}
		if n > 0 {
			recs = append(recs, exp.Records...)
		}
	}
	return ds, recs, nil
}
