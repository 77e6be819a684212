package storetest

import (
	"time"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// rangeKeys returns the keys and ids AuditRange yields for [from, to).
func (e *env) rangeKeys(from, to time.Time) (keys, ids []string) {
	e.t.Helper()
	err := e.s.AuditRange(e.ctx, from, to, func(rec vsecure.AuditRecord) (bool, error) {
		k, en := rec.Key, rec.Entry
		keys = append(keys, k)
		ids = append(ids, en.ID)
		return true, nil
	})
	e.ok(err, "AuditRange")
	return keys, ids
}

func idsOf(entries []vsecure.Entry) []string {
	out := []string{}
	for _, en := range entries {
		out = append(out, en.ID)
	}
	return out
}

func testAuditRangeWindow(e *env) {
	entries := e.auditSet() // one a second, appended out of order
	keys, ids := e.rangeKeys(entries[3].Timestamp, entries[8].Timestamp)
	e.same("ids in [3, 8)", ids, idsOf(entries[3:8]))
	e.same("keys", keys, ids)
	_, all := e.rangeKeys(base, entries[11].Timestamp.Add(time.Second))
	e.same("every entry", all, idsOf(entries))
	_, none := e.rangeKeys(entries[11].Timestamp.Add(time.Second), entries[11].Timestamp.Add(time.Hour))
	e.same("after the last", len(none), 0)
}

func testAuditRangeStops(e *env) {
	entries := e.auditSet()
	var ids []string
	err := e.s.AuditRange(e.ctx, base, entries[11].Timestamp, func(rec vsecure.AuditRecord) (bool, error) {
		en := rec.Entry
		ids = append(ids, en.ID)
		return len(ids) < 2, nil
	})
	e.ok(err, "AuditRange")
	e.same("ids", ids, idsOf(entries[:2]))
}

func testOldestAudit(e *env) {
	_, err := e.s.OldestAudit(e.ctx)
	e.code(err, vsecure.ENotFound, "OldestAudit on an empty log")
	entries := e.auditSet()
	got, err := e.s.OldestAudit(e.ctx)
	e.ok(err, "OldestAudit")
	e.same("oldest", got.ID, entries[0].ID)
}

func (e *env) digest(from time.Time, ids ...string) vsecure.Digest {
	d := vsecure.Digest{
		Version: vsecure.DigestVersion, From: from, To: from.Add(5 * time.Minute), Count: len(ids),
		SealedAt: from.Add(10 * time.Minute), KeyID: "test", Algorithm: "none", Signature: []byte{1, 2, 3},
	}
	for _, id := range ids {
		d.Entries = append(d.Entries, vsecure.DigestEntry{ID: id, Hash: []byte("h-" + id)})
	}
	return d
}

func testDigestsRoundTrip(e *env) {
	_, err := e.s.DigestBefore(e.ctx, base.Add(time.Hour))
	e.code(err, vsecure.ENotFound, "DigestBefore with no digests")
	var ds []vsecure.Digest
	for i := range 4 { // stored newest first, read oldest first
		d := e.digest(base.Add(time.Duration(3-i)*5*time.Minute), "log_a", "log_b")
		d.Previous = string(rune('a' + i))
		e.ok(e.s.PutDigest(e.ctx, d), "PutDigest %d", i)
		ds = append([]vsecure.Digest{d}, ds...)
	}
	got, err := e.s.Digests(e.ctx, base, base.Add(time.Hour))
	e.ok(err, "Digests")
	e.same("all digests", len(got), 4)
	for i := range got {
		e.same("digest", got[i].Hash(), ds[i].Hash())
	}
	got, err = e.s.Digests(e.ctx, ds[1].From, ds[3].From)
	e.ok(err, "Digests")
	e.same("[1, 3)", len(got), 2)
	e.same("first of [1, 3)", got[0].Hash(), ds[1].Hash())
	d, err := e.s.DigestBefore(e.ctx, ds[2].From)
	e.ok(err, "DigestBefore")
	e.same("before 2", d.Hash(), ds[1].Hash())
	d, err = e.s.DigestBefore(e.ctx, base.Add(time.Hour))
	e.ok(err, "DigestBefore")
	e.same("latest", d.Hash(), ds[3].Hash())
	_, err = e.s.DigestBefore(e.ctx, base)
	e.code(err, vsecure.ENotFound, "DigestBefore the first")
}

func testDigestSameWindowConflicts(e *env) {
	e.ok(e.s.PutDigest(e.ctx, e.digest(base, "log_a")), "PutDigest")
	e.code(e.s.PutDigest(e.ctx, e.digest(base, "log_b")), vsecure.EConflict, "second digest of the window")
	got, err := e.s.Digests(e.ctx, base, base.Add(time.Second))
	e.ok(err, "Digests")
	e.same("kept the first", got[0].Entries[0].ID, "log_a")
}
