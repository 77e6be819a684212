package digest

import (
	"context"
	"encoding/json"
	"time"
)

// PROVISIONAL: h-verify defines Witness and WitnessRecord (AUDIT2.md
// decision 4); this file mirrors that shape so the witness adapters build
// before the merge, and is dropped in favour of h-verify's definition.

// Witness keeps a copy of every digest's hash outside the store, so that
// deleting the newest digests (and the entries after them) shows.
type Witness interface {
	Append(ctx context.Context, r WitnessRecord) error
	Records(ctx context.Context) ([]WitnessRecord, error)
}

// WitnessRecord is what the sealer tells the witness after each PutDigest.
type WitnessRecord struct {
	DigestFrom time.Time       `json:"digestFrom"`
	DigestTo   time.Time       `json:"digestTo"`
	DigestHash string          `json:"digestHash"`
	Heads      json.RawMessage `json:"heads,omitempty"`
	At         time.Time       `json:"at"`
}
