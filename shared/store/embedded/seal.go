package embedded

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vsecure/vsecure/shared/auditlog"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// The audit chain (see package auditlog). Its head lives in bucketHead and
// is read and advanced in the transaction that writes the entry, so a
// rolled-back transaction (bbolt's, or a group commit retried without a
// failing call) leaves neither a gap nor a reused position. Only one
// process holds the file, so the head in the bucket is this process's.
var (
	bucketHead = []byte("auditHead")
	headKey    = []byte("head")
)

// WithSeal seals every audit entry the store writes with a chain of its
// own, opened at the first write after Open, its MAC key wrapped by keys.
// writer names this process in the opening entry. Without it entries are
// stored unsealed.
func WithSeal(keys auditlog.MACKeys, writer string) Option {
	return func(c *config) { c.macKeys, c.writer = keys, writer }
}

// chain is this process's epoch: its key exists only here, and in the
// store only wrapped, inside the opening entry.
type chain struct {
	keys   auditlog.MACKeys
	writer string

	mu      sync.Mutex // held by the write transaction's goroutine only; for the race detector's sake
	key     *auditlog.Key
	opening []byte // the opening entry's JSON
	openID  string
	openAt  time.Time
	// last is the head this process last wrote, as stored and decoded:
	// the next entry of the same transaction (or the next one, if nothing
	// else wrote the head) reuses it instead of decoding JSON again.
	lastRaw  []byte
	lastHead auditlog.Head
}

// head returns the key and the head the next entry takes, writing the
// epoch's opening entry in tx first if tx does not have it yet.
func (c *chain) head(tx *bolt.Tx, data []byte) (auditlog.Key, auditlog.Head, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := tx.Bucket(bucketHead)
	var stored auditlog.Head
	if v := b.Get(headKey); v != nil && c.lastRaw != nil && bytes.Equal(v, c.lastRaw) {
		stored = c.lastHead
	} else if v != nil {
		if err := decode(v, &stored); err != nil {
			return auditlog.Key{}, auditlog.Head{}, err
		}
	}
	if c.key == nil {
		var prev *auditlog.Head
		if stored.Epoch != "" {
			prev = &stored
		}
		// Dated no later than the entry it opens the epoch for (data), so
		// a sealer reading that entry's window finds the epoch's key in
		// it or before it, never only in a later window.
		now := time.Now()
		var first struct {
			Timestamp time.Time `json:"timestamp"`
		}
		if json.Unmarshal(data, &first) == nil && !first.Timestamp.IsZero() && first.Timestamp.Before(now) {
			now = first.Timestamp
		}
		// The first write after start; Open's KMS or file work is
		// short, and it happens once per process.
		k, e, err := auditlog.Open(context.Background(), c.keys, auditlog.NewEpoch(now), auditlog.NewEntryID(now), c.writer, now, prev)
		if err != nil {
			return auditlog.Key{}, auditlog.Head{}, err
		}
		data, err := json.Marshal(e)
		if err != nil {
			return auditlog.Key{}, auditlog.Head{}, vsecure.Wrap(vsecure.EInternal, err, "encode audit entry")
		}
		c.key, c.opening, c.openID, c.openAt = &k, data, e.ID, e.Timestamp
	}
	if stored.Epoch == c.key.Epoch {
		return *c.key, stored, nil
	}
	// This transaction carries the epoch's first entry (again, if an
	// earlier one carrying it was rolled back).
	seal, next := c.key.SealJSON(auditlog.Head{Epoch: c.key.Epoch}, c.opening)
	if err := entryFree(tx, c.openID); err != nil {
		return auditlog.Key{}, auditlog.Head{}, err
	}
	if err := putAudit(tx, c.openID, c.openAt, sealedRecord(c.opening, seal)); err != nil {
		return auditlog.Key{}, auditlog.Head{}, err
	}
	return *c.key, next, nil
}

// seal returns the stored form of the entry data (its JSON) sealed at the
// chain's head, advancing the head in tx.
func (c *chain) seal(tx *bolt.Tx, data []byte) ([]byte, error) {
	k, h, err := c.head(tx, data)
	if err != nil {
		return nil, err
	}
	s, next := k.SealJSON(h, data)
	hv, err := json.Marshal(next)
	if err != nil {
		return nil, vsecure.Wrap(vsecure.EInternal, err, "encode audit head")
	}
	if err := tx.Bucket(bucketHead).Put(headKey, hv); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.lastRaw, c.lastHead = hv, next
	c.mu.Unlock()
	return sealedRecord(data, s), nil
}

// sealedRecord is vsecure.AuditRecord's JSON without the key, built around
// the entry's bytes instead of encoding the entry a second time.
func sealedRecord(entry []byte, s vsecure.AuditSeal) []byte {
	// The seal's JSON as encoding/json writes it (epoch ids are plain
	// [a-z0-9_], bytes are standard base64), appended by hand: this runs
	// once per audited request.
	enc := base64.StdEncoding
	n := len(recordPrefix) + len(entry) + len(s.Epoch) + enc.EncodedLen(len(s.Prev)) + enc.EncodedLen(len(s.MAC)) + 64
	b := make([]byte, 0, n)
	b = append(b, recordPrefix...)
	b = append(b, entry...)
	b = append(b, `,"seal":{"epoch":"`...)
	b = append(b, s.Epoch...)
	b = append(b, `","seq":`...)
	b = strconv.AppendUint(b, s.Seq, 10)
	if len(s.Prev) > 0 {
		b = append(b, `,"prev":"`...)
		b = enc.AppendEncode(b, s.Prev)
		b = append(b, '"')
	}
	b = append(b, `,"mac":"`...)
	b = enc.AppendEncode(b, s.MAC)
	return append(b, `"}}`...)
}

var recordPrefix = []byte(`{"entry":`)

// storedRecord is an audit bucket value in its sealed form.
type storedRecord struct {
	Entry vsecure.Entry      `json:"entry"`
	Seal  *vsecure.AuditSeal `json:"seal,omitempty"`
}

// decodeRecord reads an audit bucket value: a sealed record, or the plain
// entry JSON of entries written before seals (Seal nil).
func decodeRecord(v []byte) (vsecure.Entry, *vsecure.AuditSeal, error) {
	if bytes.HasPrefix(v, recordPrefix) {
		var r storedRecord
		err := decode(v, &r)
		return r.Entry, r.Seal, err
	}
	var e vsecure.Entry
	err := decode(v, &e)
	return e, nil, err
}

func decodeEntry(v []byte, e *vsecure.Entry) error {
	var err error
	*e, _, err = decodeRecord(v)
	return err
}
