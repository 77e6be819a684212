package digest

import (
	"context"
	"fmt"
	"time"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// Finding kinds.
const (
	// Entry findings name the entry (its key, or "<epoch>#<seq>" for a
	// deleted entry whose id nothing kept).
	Deleted   = "deleted"   // written (sealed, or proven by its chain, a later epoch or the witness), no longer in the log
	Modified  = "modified"  // in place, but its MAC or its sealed hash no longer matches
	Inserted  = "inserted"  // no valid MAC, unknown epoch, duplicate position, or in a sealed window but not in its digest
	Reordered = "reordered" // a valid entry stored under another key (records swapped or moved)
	// Digest findings name the window.
	BadSignature  = "bad_signature"  // the digest is forged or altered, or signed by another key
	ChainBroken   = "chain_broken"   // Previous does not match the digest before: one was removed or replaced
	Gap           = "gap"            // windows do not join: a digest was removed
	DigestDeleted = "digest_deleted" // the witness knows a digest the log lacks (or has replaced)
	Unsealed      = "unsealed"       // entries older than the sealing schedule allows have no digest
)

// Finding and Report are the domain's (vsecure), so that the wire
// contract (shared/api) can carry a report without importing this package.
type (
	Finding = vsecure.Finding
	Report  = vsecure.Report
)

// Verifier checks the log against its digests.
type Verifier struct{ cfg Config }

// NewVerifier validates cfg (Signer only needs to verify; MACKeys, if set,
// must be able to open keys; Witness is optional).
func NewVerifier(cfg Config) (*Verifier, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	return &Verifier{cfg: cfg}, nil
}

// Verify checks every digest whose window overlaps [from, to) (zero from:
// the beginning; zero to: now), the log's records of those windows and
// after them, their MACs if MACKeys is set, and the witness's records.
func (v *Verifier) Verify(ctx context.Context, from, to time.Time) (Report, error) {
	c := v.cfg
	start := c.Now()
	now := start.UTC()
	if to.IsZero() {
		to = now
	}
	r := Report{From: from, To: to, Findings: []Finding{}, KeyID: c.Signer.KeyID()}
	ds, err := c.Store.Digests(ctx, from, to)
	if err != nil {
		return r, fmt.Errorf("verify: digests: %w", err)
	}
	anchor, hasAnchor, err := v.before(ctx, from)
	if err != nil {
		return r, err
	}
	if hasAnchor && anchor.To.After(from) { // it covers the start of the range
		ds = append([]vsecure.Digest{anchor}, ds...)
		if anchor, hasAnchor, err = v.before(ctx, anchor.From); err != nil {
			return r, err
		}
	}
	readFrom := from
	if len(ds) > 0 && ds[0].From.Before(from) {
		readFrom = ds[0].From
	}
	readTo := to
	if len(ds) > 0 && ds[len(ds)-1].To.After(to) {
		readTo = ds[len(ds)-1].To
	}
	var recs []vsecure.AuditRecord
	if err := c.Store.AuditRange(ctx, readFrom, readTo, func(rec vsecure.AuditRecord) (bool, error) {
		recs = append(recs, rec)
		return true, nil
	}); err != nil {
		return r, fmt.Errorf("verify: read entries: %w", err)
	}
	var wit []WitnessRecord
	if c.Witness != nil {
		if wit, err = c.Witness.Records(ctx); err != nil {
			return r, fmt.Errorf("verify: witness: %w", err)
		}
	}
	k := &check{pub: c.Signer, recs: recs, ds: ds, witness: wit, full: from.IsZero(),
		window: c.Window, grace: c.Grace, now: now, r: &r}
	if err := v.retained(ctx, k); err != nil {
		return r, err
	}
	if hasAnchor {
		k.anchor = &anchor
	}
	if c.MACKeys != nil {
		k.keys = newKeyring(c.MACKeys, c.Store)
	}
	if err := k.run(ctx); err != nil {
		return r, err
	}
	r.Head = head(ds, k.anchor)
	r.Elapsed = c.Now().Sub(start)
	return r, nil
}

func head(ds []vsecure.Digest, anchor *vsecure.Digest) string {
	if len(ds) > 0 {
		return ds[len(ds)-1].Hash()
	}
	if anchor != nil {
		return anchor.Hash()
	}
	return ""
}

func (v *Verifier) before(ctx context.Context, t time.Time) (vsecure.Digest, bool, error) {
	if t.IsZero() {
		return vsecure.Digest{}, false, nil
	}
	d, err := v.cfg.Store.DigestBefore(ctx, t)
	if vsecure.IsCode(err, vsecure.ENotFound) {
		return d, false, nil
	}
	if err != nil {
		return d, false, fmt.Errorf("verify: digest before %s: %w", t.Format(time.RFC3339), err)
	}
	return d, true, nil
}

// retained prepares the check of the digests sealed before the retention
// horizon, whose entries the store may have let go: with an archive, their
// records are the archived ones (the evidence that outlives the store);
// without one, an entry they seal that is missing is counted as archived.
// A window whose archive is missing is checked against the store alone,
// so entries gone from it are named deleted: nothing proves they were
// kept.
func (v *Verifier) retained(ctx context.Context, k *check) error {
	c := v.cfg
	if c.Retention <= 0 {
		return nil
	}
	horizon := k.now.Add(-c.Retention)
	k.horizon = horizon
	n := 0
	for n < len(k.ds) && k.ds[n].From.Before(horizon) {
		n++
	}
	if n == 0 {
		return nil
	}
	past := k.ds[:n]
	if c.Archive == nil {
		k.expired = map[string]bool{}
		for _, d := range past {
			for _, de := range d.Entries {
				k.expired[de.ID] = true
			}
		}
		return nil
	}
	ads, arecs, err := c.Archive.Archived(ctx, past[0].From, past[n-1].From.Add(time.Nanosecond))
	if err != nil {
		return fmt.Errorf("verify: archive: %w", err)
	}
	archived := map[time.Time]string{}
	for _, d := range ads {
		archived[d.From.UTC()] = d.Hash()
	}
	var spans [][2]time.Time
	for _, d := range past {
		switch h, ok := archived[d.From.UTC()]; {
		case !ok:
		case h != d.Hash():
			k.r.Findings = append(k.r.Findings, Finding{Kind: DigestDeleted, Window: d.From,
				Detail: "the archive holds another digest of this window: the store's was replaced"})
		default:
			spans = append(spans, [2]time.Time{d.From, d.To})
		}
	}
	in := func(t time.Time) bool {
		for _, s := range spans {
			if !t.Before(s[0]) && t.Before(s[1]) {
				return true
			}
		}
		return false
	}
	recs := make([]vsecure.AuditRecord, 0, len(k.recs))
	for _, r := range k.recs {
		if !in(r.Entry.Timestamp) {
			recs = append(recs, r)
		}
	}
	for _, r := range arecs {
		if in(r.Entry.Timestamp) {
			recs = append(recs, r)
		}
	}
	k.recs = recs
	return nil
}
