// Package digest makes the audit log tamper-evident without touching its
// hot path. Appends stay blind, independent writes; a periodic step (a
// ticker in the local server, a scheduled Lambda in AWS) seals each closed
// time window of entries into a vsecure.Digest — the entries' ids in order,
// the SHA-256 of each entry, the hash of the previous digest — and signs it
// (Ed25519 locally, a KMS asymmetric key in AWS). Verify replays the log
// against the chain and names every entry that was deleted, changed,
// inserted or moved, and every digest that was removed or forged.
//
// Windows are sealed only once they closed more than a grace delay ago, so
// an entry written a little late (a slow request, a skewed clock) still
// lands in its window's digest. An entry that appears in an already sealed
// window is reported: it was inserted, or written later than the grace.
// This is CloudTrail's log-file integrity validation, with windows for log
// files: like CloudTrail it cannot tell a deleted newest digest from one not
// yet written, so Verify flags entries left unsealed for longer than the
// schedule allows, and the sealer logs every digest hash as an outside
// witness.
package digest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/vsecure/vsecure/shared/auditlog"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// Signer signs digests and checks their signatures. Implementations:
// crypto/local.Signer (Ed25519, a 0600 key file) and crypto/kms.Signer
// (ECDSA P-256 with a KMS asymmetric key).
type Signer interface {
	SignatureVerifier
	Sign(ctx context.Context, msg []byte) ([]byte, error)
}

// SignatureVerifier checks digest signatures: a Signer, or a public key
// alone (ParsePublicKey) for offline verification.
type SignatureVerifier interface {
	// KeyID and Algorithm are recorded in every digest. An empty KeyID
	// accepts any key id (a bare public key does not know its KMS ARN).
	KeyID() string
	Algorithm() string
	// Verify returns an error unless sig is this key's signature of msg.
	Verify(ctx context.Context, msg, sig []byte) error
}

// Defaults.
const (
	// MACs protect entries from the first byte, so windows can be short.
	DefaultWindow = time.Minute
	DefaultGrace  = 30 * time.Second
	// DefaultMaxEntries keeps a digest under DynamoDB's 400 KB item limit
	// (≈ 115 bytes of JSON per entry). A fuller window is split in time.
	DefaultMaxEntries = 2500
	// DefaultMaxDigests bounds one run (a day of 5-minute windows), so a
	// scheduled run catching up finishes well inside its timeout.
	DefaultMaxDigests = 288
)

// Config configures a Sealer and a Verifier.
type Config struct {
	Store  vsecure.AuditDigests
	Signer Signer
	// Window is the length of a sealed window; Grace how long after its
	// end a window is sealed. Zero means the defaults.
	Window, Grace time.Duration
	MaxEntries    int
	MaxDigests    int
	// MACKeys opens epoch keys, so the sealer checks every entry's MAC
	// before sealing it and the verifier checks every MAC. Nil: MACs are
	// not checked (sealed hashes and chain links still are).
	MACKeys auditlog.MACKeys
	// Witness, if set, gets a record of every digest written and is
	// compared with the store when verifying.
	Witness Witness
	// Retention is how long the store keeps entries (DynamoDB TTL); zero:
	// forever. The verifier does not take an entry sealed before now −
	// Retention that is gone from the store for a deletion: it checks it
	// in Archive, or without one counts it as archived (Report.Archived).
	Retention time.Duration
	// Archive, if set, holds the entries past retention (package archive).
	Archive Archive
	Log     *slog.Logger
	Now     func() time.Time
}

// Archive is the audit archive as the verifier reads it.
type Archive interface {
	// Archived returns the archived digests starting in [from, to) and
	// the records archived with them.
	Archived(ctx context.Context, from, to time.Time) ([]vsecure.Digest, []vsecure.AuditRecord, error)
}

func (c *Config) defaults() error {
	if c.Store == nil || c.Signer == nil {
		return errors.New("digest: store and signer are required")
	}
	if c.Window <= 0 {
		c.Window = DefaultWindow
	}
	if c.Grace <= 0 {
		c.Grace = DefaultGrace
	}
	if c.MaxEntries <= 0 {
		c.MaxEntries = DefaultMaxEntries
	}
	if c.MaxDigests <= 0 {
		c.MaxDigests = DefaultMaxDigests
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// Sealer writes digests. Several sealers may run at once (overlapping
// scheduled runs): a window's digest is a conditional write, so one wins
// and the others stop.
type Sealer struct {
	cfg  Config
	keys *keyring
}

// NewSealer validates cfg.
func NewSealer(cfg Config) (*Sealer, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	s := &Sealer{cfg: cfg}
	if cfg.MACKeys != nil {
		s.keys = newKeyring(cfg.MACKeys, cfg.Store)
	}
	return s, nil
}

// far is after any digest's start.
var far = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// Seal seals every window that closed at least Grace ago and is not sealed
// yet (up to MaxDigests), oldest first, and returns the digests it wrote.
func (s *Sealer) Seal(ctx context.Context) ([]vsecure.Digest, error) {
	c := s.cfg
	now := c.Now().UTC()
	closed := now.Add(-c.Grace).Truncate(c.Window)
	var from time.Time
	prevHash := ""
	last, err := c.Store.DigestBefore(ctx, far)
	switch {
	case err == nil:
		from, prevHash = last.To, last.Hash()
		if s.keys != nil {
			s.keys.heads(last)
		}
	case vsecure.IsCode(err, vsecure.ENotFound):
		oldest, err := c.Store.OldestAudit(ctx)
		if vsecure.IsCode(err, vsecure.ENotFound) {
			return nil, nil // nothing to seal yet
		}
		if err != nil {
			return nil, fmt.Errorf("digest: oldest entry: %w", err)
		}
		from = oldest.Timestamp.UTC().Truncate(c.Window)
	default:
		return nil, fmt.Errorf("digest: latest digest: %w", err)
	}
	var out []vsecure.Digest
	for len(out) < c.MaxDigests && from.Before(closed) {
		d, err := s.window(ctx, from, closed)
		if err != nil {
			return out, err
		}
		d.Previous, d.SealedAt = prevHash, now
		d.KeyID, d.Algorithm = c.Signer.KeyID(), c.Signer.Algorithm()
		if d.Signature, err = c.Signer.Sign(ctx, d.SignedBytes()); err != nil {
			return out, fmt.Errorf("digest: sign window %s: %w", from.Format(time.RFC3339), err)
		}
		if err := c.Store.PutDigest(ctx, d); vsecure.IsCode(err, vsecure.EConflict) {
			return out, nil // a concurrent run sealed it; it carries on
		} else if err != nil {
			return out, fmt.Errorf("digest: store window %s: %w", from.Format(time.RFC3339), err)
		}
		prevHash = d.Hash()
		c.Log.InfoContext(ctx, "audit window sealed", "from", d.From, "to", d.To, "entries", d.Count, "digest", prevHash)
		if c.Witness != nil {
			w := WitnessRecord{DigestFrom: d.From, DigestTo: d.To, DigestHash: prevHash, Heads: d.Heads, At: now}
			if err := c.Witness.Append(ctx, w); err != nil {
				// The digest is stored; the next run cannot re-witness it,
				// so say loudly that the witness misses one.
				return out, fmt.Errorf("digest: witness window %s: %w", from.Format(time.RFC3339), err)
			}
		}
		out = append(out, d)
		from = d.To
	}
	return out, nil
}

// window builds the unsigned digest starting at from: normally to the end
// of from's window; across every following empty window at once; or, for
// a window with more than MaxEntries entries, up to the timestamp of the
// first entry that does not fit.
func (s *Sealer) window(ctx context.Context, from, closed time.Time) (vsecure.Digest, error) {
	c := s.cfg
	to := from.Truncate(c.Window).Add(c.Window)
	var es []vsecure.AuditRecord
	var stamps []time.Time
	err := c.Store.AuditRange(ctx, from, to, func(rec vsecure.AuditRecord) (bool, error) {
		es = append(es, rec)
		stamps = append(stamps, rec.Entry.Timestamp)
		return len(es) <= c.MaxEntries, nil
	})
	if err != nil {
		return vsecure.Digest{}, fmt.Errorf("digest: read window %s: %w", from.Format(time.RFC3339), err)
	}
	switch {
	case len(es) == 0:
		// Skip to the window of the next entry (or to closed): one empty
		// digest covers the quiet stretch.
		end := closed
		err := c.Store.AuditRange(ctx, to, closed, func(rec vsecure.AuditRecord) (bool, error) {
			e := rec.Entry
			end = e.Timestamp.UTC().Truncate(c.Window)
			return false, nil
		})
		if end.After(to) {
			to = end
		}
		if err != nil {
			return vsecure.Digest{}, fmt.Errorf("digest: find next entry: %w", err)
		}
	case len(es) > c.MaxEntries:
		cut := stamps[c.MaxEntries]
		if !cut.After(from) {
			// More than MaxEntries at one instant: seal that instant alone.
			cut = from.Add(time.Nanosecond)
			es, stamps = nil, nil
			err := c.Store.AuditRange(ctx, from, cut, func(rec vsecure.AuditRecord) (bool, error) {
				es = append(es, rec)
				return true, nil
			})
			if err != nil {
				return vsecure.Digest{}, fmt.Errorf("digest: read instant %s: %w", from.Format(time.RFC3339Nano), err)
			}
		}
		to = cut
		n := 0
		for n < len(stamps) && stamps[n].Before(cut) {
			n++
		}
		if stamps != nil {
			es = es[:n]
		}
	}
	d := vsecure.Digest{Version: vsecure.DigestVersion, From: from, To: to}
	if err := s.entries(ctx, &d, es); err != nil {
		return d, err
	}
	return d, nil
}

// entries checks each record the way the verifier would (MAC, key, place
// in its chain) and seals it as what it is: a tampered entry is sealed
// with its finding as Flag, and logged, so it is named once by every later
// verification, online or offline, and never silently made part of the
// evidence.
func (s *Sealer) entries(ctx context.Context, d *vsecure.Digest, recs []vsecure.AuditRecord) error {
	c := s.cfg
	flags := map[string]string{}
	if s.keys != nil {
		r := Report{}
		k := &check{pub: acceptAll{}, keys: s.keys, recs: recs, window: c.Window, grace: c.Grace, r: &r}
		if err := k.classifyAll(ctx); err != nil {
			return err
		}
		for _, f := range r.Findings {
			flags[f.Entry] = f.Kind
			c.Log.WarnContext(ctx, "audit entry tampered with before it was sealed", "entry", f.Entry, "finding", f.Kind, "detail", f.Detail)
		}
	}
	idx := map[string]int{}
	for _, rec := range recs {
		de := vsecure.DigestEntry{ID: rec.Key, Hash: vsecure.RecordHash(rec.Entry, rec.Seal), Epoch: -1, Flag: flags[rec.Key]}
		if rec.Seal != nil && de.Flag != Inserted {
			i, ok := idx[rec.Seal.Epoch]
			if !ok {
				i = len(d.Heads)
				idx[rec.Seal.Epoch] = i
				d.Heads = append(d.Heads, vsecure.DigestHead{Epoch: rec.Seal.Epoch})
			}
			de.Epoch, de.Seq = i, rec.Seal.Seq
			h := &d.Heads[i]
			if rec.Seal.Seq+1 > h.Next {
				h.Next, h.Prev = rec.Seal.Seq+1, rec.Seal.MAC
			}
			if rec.Seal.Seq == 0 && rec.Entry.Operation == auditlog.OpEpoch {
				h.Opened = rec.Entry.Timestamp
			}
		}
		d.Entries = append(d.Entries, de)
	}
	for i := range d.Heads {
		h := &d.Heads[i]
		if h.Opened.IsZero() && s.keys != nil {
			s.keys.mu.Lock()
			h.Opened = s.keys.opened[h.Epoch]
			s.keys.mu.Unlock()
		}
	}
	if s.keys != nil {
		s.keys.heads(*d)
	}
	d.Count = len(d.Entries)
	return nil
}

// acceptAll stands in for a signature verifier where none is checked.
type acceptAll struct{}

func (acceptAll) KeyID() string                                { return "" }
func (acceptAll) Algorithm() string                            { return "" }
func (acceptAll) Verify(context.Context, []byte, []byte) error { return nil }
