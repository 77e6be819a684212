package digest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/vsecure/vsecure/shared/auditlog"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// check is one verification over records and digests held in memory,
// shared by the online (store + MAC keys) and offline (export + public
// key) paths. Nothing in it depends on how ids sort: records are matched
// to digests as sets, and chains are ordered by Seq.
type check struct {
	pub     SignatureVerifier
	keys    *keyring // nil offline: MACs are not checkable
	recs    []vsecure.AuditRecord
	ds      []vsecure.Digest // oldest first
	anchor  *vsecure.Digest  // the digest before ds[0], if any
	witness []WitnessRecord
	// full: the range starts at the beginning of the log, so every chain
	// starts at Seq 0 inside it.
	full           bool
	trustFirstLink bool
	window, grace  time.Duration
	now            time.Time

	r     *Report
	named map[string]bool // record keys already named
	// digested holds every key a digest sealed (nil for the sealer's
	// view of one window, which no digest covers yet).
	digested map[string]bool
	// expired holds the ids sealed before the retention horizon that may
	// be gone from the store (no archive to check them against).
	expired map[string]bool
	// horizon is now − retention (zero: entries are kept forever).
	horizon time.Time
}

// expiredEpoch reports whether epoch was opened before the retention
// horizon, so its opening entry may be gone from the store.
func (c *check) expiredEpoch(epoch string) bool {
	at, ok := auditlog.EpochOpened(epoch)
	return ok && !c.horizon.IsZero() && at.Before(c.horizon)
}

// gone reports, for a sealed id missing from the records, whether it left
// through retention (counted as archived) rather than being deleted.
func (c *check) gone(id string) bool {
	if !c.expired[id] {
		return false
	}
	if !c.named[id] {
		c.named[id] = true
		c.r.Archived++
	}
	return true
}

type pos struct {
	epoch string
	seq   uint64
}

func (c *check) entryFinding(kind, key string, at time.Time, detail string) {
	if c.named[key] {
		return // one finding per record
	}
	c.named[key] = true
	c.r.Findings = append(c.r.Findings, Finding{Kind: kind, Entry: key, Window: c.windowOf(at), Detail: detail})
}

func (c *check) windowOf(at time.Time) time.Time {
	for _, d := range c.ds {
		if !at.Before(d.From) && at.Before(d.To) {
			return d.From
		}
	}
	return at.UTC().Truncate(c.window)
}

func (c *check) run(ctx context.Context) error {
	c.named = map[string]bool{}
	if c.r.Findings == nil {
		c.r.Findings = []Finding{}
	}
	c.digests(ctx)
	c.r.Entries = len(c.recs)
	if c.keys != nil {
		for _, rec := range c.recs {
			c.keys.learn(ctx, rec)
		}
		for _, d := range c.ds {
			c.keys.heads(d)
		}
		if c.anchor != nil {
			c.keys.heads(*c.anchor)
		}
	}
	// Index what is present.
	byKey := make(map[string]int, len(c.recs))
	byID := make(map[string]int, len(c.recs))
	at := make(map[pos][]int)
	for i, rec := range c.recs {
		byKey[rec.Key] = i
		if j, dup := byID[rec.Entry.ID]; !dup || c.recs[j].Key != rec.Entry.ID {
			byID[rec.Entry.ID] = i
		}
		if rec.Seal != nil {
			p := pos{rec.Seal.Epoch, rec.Seal.Seq}
			at[p] = append(at[p], i)
		}
	}
	c.digested = map[string]bool{}
	for _, d := range c.ds {
		for _, de := range d.Entries {
			c.digested[de.ID] = true
		}
	}
	// genuine: a record that holds a valid place in its chain. A log with
	// no seal at all was written before seals (or by an unsealed test
	// store): its records are judged by the digests alone.
	sealedLog := len(at) > 0
	genuine := make([]bool, len(c.recs))
	for i, rec := range c.recs {
		ok, err := c.classify(ctx, rec, at, byKey)
		if err != nil {
			return err
		}
		genuine[i] = ok || (!sealedLog && rec.Seal == nil)
	}
	// Match the digests' sealed entries against the records, as sets.
	sealed := make(map[int]bool, len(c.recs))
	accounted := map[pos]string{} // sealed positions, with the sealed id
	upper := map[string]uint64{}  // per epoch: every Seq below must exist
	lower := map[string]uint64{}
	hasLower := map[string]bool{}
	bound := func(epoch string, seq uint64) {
		if !hasLower[epoch] || seq < lower[epoch] {
			lower[epoch], hasLower[epoch] = seq, true
		}
		if seq+1 > upper[epoch] {
			upper[epoch] = seq + 1
		}
	}
	for _, d := range c.ds {
		for _, h := range d.Heads {
			if h.Next > upper[h.Epoch] {
				upper[h.Epoch] = h.Next
			}
		}
		for _, de := range d.Entries {
			if de.Epoch >= 0 && de.Epoch < len(d.Heads) {
				p := pos{d.Heads[de.Epoch].Epoch, de.Seq}
				accounted[p] = de.ID
				bound(p.epoch, p.seq)
			}
			i, ok := byKey[de.ID]
			if !ok || (c.recs[i].Entry.ID != de.ID && de.Flag == "") {
				if i, ok = byID[de.ID]; !ok {
					if c.gone(de.ID) {
						continue
					}
					c.entryFinding(Deleted, de.ID, d.From, "sealed in the digest, missing from the log")
					continue
				}
			}
			sealed[i] = true
			rec := c.recs[i]
			hash := vsecure.RecordHash(rec.Entry, rec.Seal)
			if d.Version < 2 {
				hash = vsecure.EntryHash(rec.Entry)
			}
			switch {
			case de.Flag != "":
				c.entryFinding(de.Flag, rec.Key, rec.Entry.Timestamp, "the sealer found this entry already tampered with when it sealed its window")
			case !bytes.Equal(hash, de.Hash):
				c.entryFinding(Modified, rec.Key, rec.Entry.Timestamp, "its content differs from the sealed hash")
			case d.Version < 2 && rec.Seal == nil:
				genuine[i] = true // sealed before entries carried seals
			}
		}
	}
	// Records in sealed windows that no digest sealed; the rest is unsealed.
	sealedTo := time.Time{}
	if len(c.ds) > 0 {
		sealedTo = c.ds[len(c.ds)-1].To
	} else if c.anchor != nil {
		sealedTo = c.anchor.To
	}
	c.r.SealedTo = sealedTo
	overdue := c.now.Add(-c.grace - 3*c.window)
	for i, rec := range c.recs {
		if sealed[i] {
			continue
		}
		ts := rec.Entry.Timestamp
		if c.covered(ts) {
			c.entryFinding(Inserted, rec.Key, ts, "in a sealed window but not in its digest: inserted after sealing, or written later than the grace delay")
			continue
		}
		c.r.Unsealed++
		if !genuine[i] {
			c.entryFinding(Inserted, rec.Key, ts, "no valid seal: not written by a vsecure writer")
		} else if ts.Before(overdue) {
			c.entryFinding(Unsealed, rec.Key, ts, "no digest covers this entry although its window closed long ago: the sealer is not running, or the newest digests were deleted")
		}
	}
	// Chains: every Seq between the lowest known and the highest proven.
	present := map[pos]bool{}
	for i, rec := range c.recs {
		if genuine[i] && rec.Seal != nil {
			present[pos{rec.Seal.Epoch, rec.Seal.Seq}] = true
			bound(rec.Seal.Epoch, rec.Seal.Seq)
			if rec.Entry.Operation == auditlog.OpEpoch && rec.Seal.Seq == 0 {
				if pe := rec.Entry.Metadata[auditlog.MetaPrevEpoch]; pe != "" {
					if n, err := strconv.ParseUint(rec.Entry.Metadata[auditlog.MetaPrevNext], 10, 64); err == nil && n > upper[pe] {
						upper[pe] = n
					}
				}
			}
		}
	}
	if w := c.lastWitness(); w != nil {
		for _, h := range w.Heads {
			if h.Next > upper[h.Epoch] {
				upper[h.Epoch] = h.Next
			}
		}
	}
	epochs := make([]string, 0, len(upper))
	for e := range upper {
		epochs = append(epochs, e)
	}
	slices.Sort(epochs)
	for _, e := range epochs {
		lo := lower[e]
		if c.full {
			lo = 0
		} else if !hasLower[e] {
			continue // nothing of this epoch in the range
		}
		for s := lo; s < upper[e]; s++ {
			p := pos{e, s}
			if present[p] {
				continue
			}
			if id, ok := accounted[p]; ok {
				if c.gone(id) {
					continue
				}
				c.entryFinding(Deleted, id, time.Time{}, "sealed in the digest, missing from the log")
				continue
			}
			name := e + "#" + strconv.FormatUint(s, 10)
			c.entryFinding(Deleted, name, time.Time{}, fmt.Sprintf("seq %d of epoch %s is missing: its chain, a later epoch or the witness proves it was written", s, e))
		}
	}
	return nil
}

// classify names a record that is not what its writer wrote and reports
// whether it holds a valid place in its chain.
func (c *check) classify(ctx context.Context, rec vsecure.AuditRecord, at map[pos][]int, byKey map[string]int) (bool, error) {
	ts := rec.Entry.Timestamp
	if rec.Key != rec.Entry.ID {
		if i, ok := byKey[rec.Entry.ID]; ok && c.recs[i].Entry.ID == rec.Entry.ID && sameSeal(c.recs[i].Seal, rec.Seal) {
			c.entryFinding(Inserted, rec.Key, ts, fmt.Sprintf("a copy of entry %s stored under another key", rec.Entry.ID))
			return false, nil
		}
		c.entryFinding(Reordered, rec.Key, ts, fmt.Sprintf("stored under %s but its record is entry %s", rec.Key, rec.Entry.ID))
	}
	if rec.Seal == nil {
		return false, nil // inserted, unless a version-1 digest sealed it (decided by the caller)
	}
	p := pos{rec.Seal.Epoch, rec.Seal.Seq}
	if c.keys == nil {
		return c.linked(rec, at), nil
	}
	key, ok, err := c.keys.key(ctx, p.epoch)
	if err != nil {
		return false, err
	}
	if !ok && c.expiredEpoch(p.epoch) {
		// Its opening entry left the store with the retention: the MAC
		// cannot be checked here, the digests still judge it (as offline).
		return c.linked(rec, at), nil
	}
	if !ok {
		c.entryFinding(Inserted, rec.Key, ts, "sealed in an epoch no valid opening entry opened")
		return false, nil
	}
	if key.Check(rec.Entry, *rec.Seal) {
		return true, nil
	}
	for _, j := range at[p] {
		if o := c.recs[j]; o.Key != rec.Key && key.Check(o.Entry, *o.Seal) {
			c.entryFinding(Inserted, rec.Key, ts, fmt.Sprintf("claims seq %d of epoch %s, which a valid entry holds", p.seq, p.epoch))
			return false, nil
		}
	}
	if c.digested != nil && !c.digested[rec.Key] && c.covered(ts) {
		// Linked or not, a record with no valid MAC that no digest of
		// its sealed window knows was never sealed there: a forgery
		// after the chain's newest entry looks linked, and is inserted
		// (named by the caller).
		return false, nil
	}
	if c.linked(rec, at) {
		c.entryFinding(Modified, rec.Key, ts, "its MAC does not match: the entry was changed after it was written")
		return true, nil // in place: its position is not missing
	}
	c.entryFinding(Inserted, rec.Key, ts, "no valid MAC and no place in its chain")
	return false, nil
}

// linked reports whether rec's seal fits its chain: the next entry links
// to its MAC, or it is the only claim of its position and links to the
// entry before it.
func (c *check) linked(rec vsecure.AuditRecord, at map[pos][]int) bool {
	s := rec.Seal
	for _, j := range at[pos{s.Epoch, s.Seq + 1}] {
		if n := c.recs[j].Seal; bytes.Equal(n.Prev, s.MAC) {
			return true
		}
	}
	if len(at[pos{s.Epoch, s.Seq}]) > 1 {
		return false
	}
	if s.Seq == 0 {
		return true
	}
	prev := at[pos{s.Epoch, s.Seq - 1}]
	if len(prev) == 0 {
		return true // the entry before is outside the range, or deleted (named there)
	}
	for _, j := range prev {
		if bytes.Equal(c.recs[j].Seal.MAC, s.Prev) {
			return true
		}
	}
	return false
}

func (c *check) covered(ts time.Time) bool {
	for _, d := range c.ds {
		if !ts.Before(d.From) && ts.Before(d.To) {
			return true
		}
	}
	return false
}

func (c *check) lastWitness() *WitnessRecord {
	if len(c.witness) == 0 {
		return nil
	}
	return &c.witness[len(c.witness)-1]
}

// digests checks signatures, the chain and the windows' joins, and the
// witness's digests against the store's.
func (c *check) digests(ctx context.Context) {
	add := func(kind string, w time.Time, detail string) {
		c.r.Findings = append(c.r.Findings, Finding{Kind: kind, Window: w, Detail: detail})
	}
	prev := c.anchor
	for _, d := range c.ds {
		switch {
		case c.pub.KeyID() != "" && d.KeyID != c.pub.KeyID() || d.Algorithm != c.pub.Algorithm():
			add(BadSignature, d.From, fmt.Sprintf("signed by %s (%s), not by the audit signing key %s", d.KeyID, d.Algorithm, c.pub.KeyID()))
		case c.pub.Verify(ctx, d.SignedBytes(), d.Signature) != nil:
			add(BadSignature, d.From, "the signature does not match the digest: it was altered or forged")
		case d.Count != len(d.Entries):
			add(BadSignature, d.From, "the digest's count does not match its entries")
		}
		want := ""
		if prev != nil {
			want = prev.Hash()
		} else if c.trustFirstLink {
			want = d.Previous
		}
		if d.Previous != want {
			add(ChainBroken, d.From, "the digest's previous-digest hash does not match the digest before it: a digest was removed or replaced")
		}
		if prev != nil && !d.From.Equal(prev.To) {
			add(Gap, d.From, fmt.Sprintf("the previous digest ends at %s: the windows between are not sealed", prev.To.Format(time.RFC3339)))
		}
		prev = &d
		c.r.Digests++
	}
	if len(c.witness) == 0 {
		return
	}
	have := map[time.Time]string{}
	for _, d := range c.ds {
		have[d.From.UTC()] = d.Hash()
	}
	if c.anchor != nil {
		have[c.anchor.From.UTC()] = c.anchor.Hash()
	}
	lo, hi := time.Time{}, far
	if !c.full {
		lo = c.r.From
	}
	if !c.r.To.IsZero() {
		hi = c.r.To
	}
	for _, w := range c.witness {
		if w.DigestTo.Before(lo) || !w.DigestFrom.Before(hi) || (!c.full && w.DigestFrom.Before(lo)) {
			continue
		}
		switch h, ok := have[w.DigestFrom.UTC()]; {
		case !ok:
			add(DigestDeleted, w.DigestFrom, "the witness recorded this digest; the log no longer has it")
		case h != w.DigestHash:
			add(DigestDeleted, w.DigestFrom, "the witness recorded another digest of this window: it was replaced")
		}
	}
}

// classifyAll runs only the per-record checks (the sealer's view of one
// window: no digests yet).
func (c *check) classifyAll(ctx context.Context) error {
	c.named = map[string]bool{}
	for _, rec := range c.recs {
		c.keys.learn(ctx, rec)
	}
	byKey := make(map[string]int, len(c.recs))
	at := make(map[pos][]int)
	for i, rec := range c.recs {
		byKey[rec.Key] = i
		if rec.Seal != nil {
			p := pos{rec.Seal.Epoch, rec.Seal.Seq}
			at[p] = append(at[p], i)
		}
	}
	for _, rec := range c.recs {
		ok, err := c.classify(ctx, rec, at, byKey)
		if err != nil {
			return err
		}
		if !ok && rec.Seal == nil {
			c.entryFinding(Inserted, rec.Key, rec.Entry.Timestamp, "no seal: not written by a vsecure writer")
		}
	}
	return nil
}

func sameSeal(a, b *vsecure.AuditSeal) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Epoch == b.Epoch && a.Seq == b.Seq && bytes.Equal(a.MAC, b.MAC)
}
