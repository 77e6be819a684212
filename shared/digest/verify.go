package digest

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// Finding kinds.
const (
	// Entry findings name the entry.
	Deleted   = "deleted"   // sealed, no longer in the log
	Modified  = "modified"  // in the log, different from what was sealed (or stored under another id)
	Inserted  = "inserted"  // in a sealed window, not in its digest: inserted, or written later than the grace delay
	Reordered = "reordered" // sealed, now out of its sealed position
	// Digest findings name the window.
	BadSignature = "bad_signature" // the digest is forged or altered, or signed by another key
	ChainBroken  = "chain_broken"  // Previous does not match the digest before: one was removed or replaced
	Gap          = "gap"           // windows do not join: a digest was removed
	Unsealed     = "unsealed"      // entries older than the sealing schedule allows have no digest
)

// Finding is one discrepancy.
type Finding struct {
	Kind string `json:"kind"`
	// Entry is the entry's id for entry findings.
	Entry string `json:"entry,omitempty"`
	// Window is the start of the digest's window.
	Window time.Time `json:"window"`
	Detail string    `json:"detail"`
}

// Report is the outcome of Verify.
type Report struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Digests and Entries checked.
	Digests int `json:"digests"`
	Entries int `json:"entries"`
	// SealedTo is the end of the last digest; Unsealed counts the entries
	// after it (not verifiable yet).
	SealedTo time.Time `json:"sealedTo"`
	Unsealed int       `json:"unsealed"`
	Findings []Finding `json:"findings"`
	// Elapsed is how long verification took.
	Elapsed time.Duration `json:"-"`
}

// OK reports whether nothing was found.
func (r Report) OK() bool { return len(r.Findings) == 0 }

// Verifier checks the log against its digests.
type Verifier struct{ cfg Config }

// NewVerifier validates cfg (Signer only needs to verify).
func NewVerifier(cfg Config) (*Verifier, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	return &Verifier{cfg: cfg}, nil
}

// Verify checks every digest whose window overlaps [from, to) (zero from:
// the beginning; zero to: now): its signature, its link to the digest
// before it, and the log's entries of its window against it; and reports
// entries left unsealed longer than the schedule allows.
func (v *Verifier) Verify(ctx context.Context, from, to time.Time) (Report, error) {
	c := v.cfg
	start := c.Now()
	now := start.UTC()
	if to.IsZero() {
		to = now
	}
	r := Report{From: from, To: to, Findings: []Finding{}}
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
	prev, hasPrev := anchor, hasAnchor
	for _, d := range ds {
		v.checkDigest(ctx, &r, d, prev, hasPrev)
		if err := v.checkEntries(ctx, &r, d); err != nil {
			return r, err
		}
		prev, hasPrev = d, true
		r.Digests++
	}
	// What the chain does not cover yet: everything after its end, and
	// anything before its first window if the range starts there.
	sealedTo := from
	if hasPrev {
		sealedTo = prev.To
	}
	r.SealedTo = sealedTo
	ranges := [][2]time.Time{}
	if sealedTo.Before(to) {
		ranges = append(ranges, [2]time.Time{sealedTo, to})
	}
	if !hasAnchor && len(ds) > 0 && from.Before(ds[0].From) {
		ranges = append(ranges, [2]time.Time{from, ds[0].From})
	}
	// Sealing runs every few minutes and seals a window Grace after it
	// ends; older entries without a digest mean the sealer stopped or the
	// newest digests were deleted.
	overdue := now.Add(-c.Grace - 3*c.Window)
	for _, rg := range ranges {
		err := c.Store.AuditRange(ctx, rg[0], rg[1], func(rec vsecure.AuditRecord) (bool, error) {
			k, e := rec.Key, rec.Entry
			r.Unsealed++
			if e.Timestamp.Before(overdue) {
				r.Findings = append(r.Findings, Finding{Kind: Unsealed, Entry: k, Window: e.Timestamp.Truncate(c.Window),
					Detail: "no digest covers this entry although its window closed long ago: the sealer is not running, or the newest digests were deleted"})
			}
			return true, nil
		})
		if err != nil {
			return r, fmt.Errorf("verify: unsealed entries: %w", err)
		}
	}
	r.Elapsed = c.Now().Sub(start)
	return r, nil
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

func (v *Verifier) checkDigest(ctx context.Context, r *Report, d, prev vsecure.Digest, hasPrev bool) {
	add := func(kind, detail string) {
		r.Findings = append(r.Findings, Finding{Kind: kind, Window: d.From, Detail: detail})
	}
	s := v.cfg.Signer
	switch {
	case d.KeyID != s.KeyID() || d.Algorithm != s.Algorithm():
		add(BadSignature, fmt.Sprintf("signed by %s (%s), not by the audit signing key %s", d.KeyID, d.Algorithm, s.KeyID()))
	case s.Verify(ctx, d.SignedBytes(), d.Signature) != nil:
		add(BadSignature, "the signature does not match the digest: it was altered or forged")
	case d.Count != len(d.Entries):
		add(BadSignature, "the digest's count does not match its entries")
	}
	want := ""
	if hasPrev {
		want = prev.Hash()
	}
	if d.Previous != want {
		add(ChainBroken, "the digest's previous-digest hash does not match the digest before it: a digest was removed or replaced")
	}
	if hasPrev && !d.From.Equal(prev.To) {
		add(Gap, fmt.Sprintf("the previous digest ends at %s: the windows between are not sealed", prev.To.Format(time.RFC3339)))
	}
}

// checkEntries compares the log's entries of d's window with d.
func (v *Verifier) checkEntries(ctx context.Context, r *Report, d vsecure.Digest) error {
	add := func(kind, id, detail string) {
		r.Findings = append(r.Findings, Finding{Kind: kind, Entry: id, Window: d.From, Detail: detail})
	}
	sealed := make(map[string]int, len(d.Entries))
	for i, e := range d.Entries {
		sealed[e.ID] = i
	}
	seen := make([]bool, len(d.Entries))
	var order []int // sealed positions, in the log's order
	var ids []string
	err := v.cfg.Store.AuditRange(ctx, d.From, d.To, func(rec vsecure.AuditRecord) (bool, error) {
		k, e := rec.Key, rec.Entry
		r.Entries++
		i, ok := sealed[k]
		if !ok || seen[i] {
			add(Inserted, k, "in a sealed window but not in its digest: inserted after sealing, or written later than the grace delay")
			return true, nil
		}
		seen[i] = true
		order, ids = append(order, i), append(ids, k)
		if k != e.ID {
			add(Modified, k, fmt.Sprintf("stored under %s but its record says %s", k, e.ID))
		} else if string(vsecure.EntryHash(e)) != string(d.Entries[i].Hash) {
			add(Modified, k, "its content differs from the sealed hash")
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("verify: read window %s: %w", d.From.Format(time.RFC3339), err)
	}
	for i, e := range d.Entries {
		if !seen[i] {
			add(Deleted, e.ID, "sealed in the digest, missing from the log")
		}
	}
	for _, j := range outOfOrder(order) {
		add(Reordered, ids[j], "no longer in its sealed position")
	}
	return nil
}

// outOfOrder returns the positions of seq (distinct ints) outside one
// longest increasing subsequence: the fewest entries whose moving explains
// the new order.
func outOfOrder(seq []int) []int {
	if sort.IntsAreSorted(seq) {
		return nil
	}
	// Patience sorting with back links, O(n log n).
	tails := []int{} // index into seq of the smallest tail of each length
	back := make([]int, len(seq))
	for i, x := range seq {
		n := sort.Search(len(tails), func(k int) bool { return seq[tails[k]] >= x })
		back[i] = -1
		if n > 0 {
			back[i] = tails[n-1]
		}
		if n == len(tails) {
			tails = append(tails, i)
		} else {
			tails[n] = i
		}
	}
	keep := make([]bool, len(seq))
	for i := tails[len(tails)-1]; i >= 0; i = back[i] {
		keep[i] = true
	}
	var out []int
	for i := range seq {
		if !keep[i] {
			out = append(out, i)
		}
	}
	return out
}
