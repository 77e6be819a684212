// Package auditlog protects every audit entry from the moment it is
// written, not minutes later when a digest seals its window.
//
// Each writer (a local server process, a Lambda container) keeps its own
// chain, an epoch: a fresh 32-byte MAC key, held only in the writer's
// memory and stored only wrapped, so that the store's writers cannot read
// it back (KMS GenerateDataKey in AWS, where only the verifying functions
// may Decrypt; locally a wrapping key kept outside the data directory).
// Entry n of an epoch carries Seq n, the MAC of entry n-1 and its own MAC
// over the entry, the epoch, the sequence number and that link. Entry 0 is
// the epoch's opening entry, carrying the wrapped key.
//
// Whoever can write the store but does not hold the MAC key can therefore
// not change an entry (its MAC breaks), insert one (it has no valid MAC),
// move one (its MAC covers its id and position) or delete one from the
// middle of a chain (its sequence number goes missing). What a chain alone
// cannot show is the loss of its newest entries: the signed digests and the
// witness outside the store (see package digest) cover that.
//
// Nothing here depends on how ids or timestamps sort: a chain is ordered by
// its sequence numbers.
package auditlog

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// Seal is what an entry carries besides itself (vsecure.AuditSeal: the
// store interface names it, so it lives with the domain types).
type Seal = vsecure.AuditSeal

// Head is a chain's state between two entries: the epoch and the position
// and link the next entry takes.
type Head struct {
	Epoch string `json:"epoch"`
	Next  uint64 `json:"next"`
	Prev  []byte `json:"prev,omitempty"`
}

// sumDomain separates these MACs from any other use of an HMAC key.
const sumDomain = "vsecure-audit-seal-v1\n"

// Sum is the MAC of e at position seq of epoch, linked to prev.
func Sum(key []byte, e vsecure.Entry, epoch string, seq uint64, prev []byte) []byte {
	return SumJSON(key, canonical(e), epoch, seq, prev)
}

// canonical is e's JSON (encoding/json: fixed field order, sorted metadata
// keys), as vsecure.EntryHash hashes it.
func canonical(e vsecure.Entry) []byte {
	b, err := json.Marshal(e)
	if err != nil { // strings, a time, a bool and a string map: cannot fail
		panic("auditlog: encode entry: " + err.Error())
	}
	return b
}

// Key is an open epoch's MAC key. It never leaves the writer's memory (or,
// on the verifying side, the verifier's).
type Key struct {
	Epoch string
	mac   []byte
}

// NewKey wraps a raw 32-byte MAC key for epoch.
func NewKey(epoch string, mac []byte) (Key, error) {
	if len(mac) != 32 {
		return Key{}, fmt.Errorf("auditlog: MAC key of epoch %s has %d bytes, want 32", epoch, len(mac))
	}
	return Key{Epoch: epoch, mac: mac}, nil
}

// Seal seals e at head h (which must be of k's epoch) and returns its seal
// and the head after it. It is pure: the caller makes the new head current
// only once the entry is written.
func (k Key) Seal(h Head, e vsecure.Entry) (Seal, Head) {
	mac := Sum(k.mac, e, k.Epoch, h.Next, h.Prev)
	return Seal{Epoch: k.Epoch, Seq: h.Next, Prev: h.Prev, MAC: mac}, Head{Epoch: k.Epoch, Next: h.Next + 1, Prev: mac}
}

// Check reports whether s is a valid seal of e under k. It checks the MAC
// only; whether Seq and Prev fit the rest of the chain is the verifier's
// business.
func (k Key) Check(e vsecure.Entry, s Seal) bool {
	return s.Epoch == k.Epoch && hmac.Equal(s.MAC, Sum(k.mac, e, k.Epoch, s.Seq, s.Prev))
}

// MACKeys creates epoch keys that only a verifier can unwrap.
type MACKeys interface {
	// NewMACKey returns a fresh 32-byte key for epoch, the key wrapped,
	// and the id of the wrapping key (a KMS key ARN, "local-aes:…").
	NewMACKey(ctx context.Context, epoch string) (key, wrapped []byte, keyID string, err error)
	// OpenMACKey unwraps a key NewMACKey wrapped for epoch. Writers
	// need not be allowed to (in AWS they are not).
	OpenMACKey(ctx context.Context, epoch string, wrapped []byte, keyID string) ([]byte, error)
}

// Opening entries.
const (
	// OpEpoch is the operation of an epoch's opening entry (Seq 0).
	OpEpoch = "audit_epoch"
	// Actor of opening entries.
	Actor = "vsecure"
	// Metadata of an opening entry.
	MetaEpoch      = "epoch"
	MetaKeyID      = "keyId"
	MetaWrappedKey = "wrappedKey"
	MetaWriter     = "writer"
	// MetaPrevEpoch and MetaPrevNext name the chain this writer continues
	// after (a restart of the same store) and that chain's Next as the
	// writer last knew it, so that losing the tail of the old chain shows.
	MetaPrevEpoch = "previousEpoch"
	MetaPrevNext  = "previousNext"
)

// Open starts an epoch: it asks keys for a new MAC key and returns it with
// the opening entry the writer must write (sealed at Seq 0 with Head{Epoch:
// epoch}) before any other entry of the epoch. id is the opening entry's id
// and writer a free-form name of the writer (a host, a Lambda function).
// prev, if not nil, is the head of the chain this epoch continues.
func Open(ctx context.Context, keys MACKeys, epoch, id, writer string, now time.Time, prev *Head) (Key, vsecure.Entry, error) {
	raw, wrapped, keyID, err := keys.NewMACKey(ctx, epoch)
	if err != nil {
		return Key{}, vsecure.Entry{}, vsecure.Wrap(vsecure.EUnavailable, err, "audit MAC key unavailable")
	}
	k, err := NewKey(epoch, raw)
	if err != nil {
		return Key{}, vsecure.Entry{}, vsecure.Wrap(vsecure.EInternal, err, "audit MAC key")
	}
	md := map[string]string{
		MetaEpoch: epoch, MetaKeyID: keyID, MetaWriter: writer,
		MetaWrappedKey: base64.StdEncoding.EncodeToString(wrapped),
	}
	if prev != nil {
		md[MetaPrevEpoch] = prev.Epoch
		md[MetaPrevNext] = fmt.Sprint(prev.Next)
	}
	e := vsecure.Entry{ID: id, Timestamp: now.UTC().Truncate(time.Second), Operation: OpEpoch, Actor: Actor, Success: true, Metadata: md}
	return k, e, nil
}

// OpenFromEntry recovers the key of the epoch e opened (a verifier's side).
func OpenFromEntry(ctx context.Context, keys MACKeys, e vsecure.Entry) (Key, error) {
	if e.Operation != OpEpoch {
		return Key{}, fmt.Errorf("auditlog: entry %s is not an epoch's opening entry", e.ID)
	}
	wrapped, err := base64.StdEncoding.DecodeString(e.Metadata[MetaWrappedKey])
	if err != nil {
		return Key{}, fmt.Errorf("auditlog: epoch %s: wrapped key: %w", e.Metadata[MetaEpoch], err)
	}
	raw, err := keys.OpenMACKey(ctx, e.Metadata[MetaEpoch], wrapped, e.Metadata[MetaKeyID])
	if err != nil {
		return Key{}, err
	}
	return NewKey(e.Metadata[MetaEpoch], raw)
}

// Record is an entry as a store or an export holds it (see
// vsecure.AuditRecord).
type Record = vsecure.AuditRecord
