package digest

import (
	"context"
	"time"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// Witness keeps, outside the store, a record of every digest the sealer
// wrote: whoever can rewrite the store cannot rewrite the witness (an
// append-only file in the keys directory, an S3 bucket with Object Lock),
// so truncating the newest entries and digests shows.
type Witness interface {
	// Append adds r durably (fsync, object written) before returning.
	Append(ctx context.Context, r WitnessRecord) error
	// Records returns every record, in the order they were appended.
	Records(ctx context.Context) ([]WitnessRecord, error)
}

// WitnessRecord is what the witness keeps of one digest: its window, its
// hash (vsecure.Digest.Hash) and the chain heads it sealed.
type WitnessRecord struct {
	DigestFrom time.Time            `json:"digestFrom"`
	DigestTo   time.Time            `json:"digestTo"`
	DigestHash string               `json:"digestHash"`
	Heads      []vsecure.DigestHead `json:"heads"`
	At         time.Time            `json:"at"`
}
