package storetest

import "github.com/vsecure/vsecure/shared/vsecure"

// capped stores an approved read approval of agent-1 on uri with n uses.
func (e *env) capped(uri string, n int) vsecure.Approval {
	e.t.Helper()
	a := e.approval("agent-1", uri, vsecure.OpRead)
	a.MaxUses, a.UsesLeft = n, n
	return e.approve(e.createApproval(a))
}

// SpendUse stores the spent approval, counts the read and appends its
// entry together; a spend built on a stale version writes nothing.
func testSpendUse(e *env) {
	uri := "vsecure://secrets/production/DB"
	e.putSecret(uri, 1)
	a := e.capped(uri, 2)
	entries := e.auditAll(vsecure.AuditFilter{})
	next, err := a.Spend()
	e.ok(err, "Spend")
	en := e.entry(vsecure.AuditUse, uri, "agent-1")
	en.ApprovalID = a.ID
	e.ok(e.s.SpendUse(e.ctx, next, uri, en.Timestamp, en), "SpendUse")
	entries = append(entries, en)
	got, err := e.s.GetApproval(e.ctx, a.ID)
	e.ok(err, "GetApproval")
	e.same("approval after SpendUse", got, next)
	e.same("grant after SpendUse", *e.load("agent-1", uri, vsecure.OpRead, 0).Grant, next)

	stale := e.entry(vsecure.AuditUse, uri, "agent-1")
	e.code(e.s.SpendUse(e.ctx, next, uri, stale.Timestamp, stale), vsecure.EConflict, "SpendUse of a spent version")
	e.flush()
	head := e.load("agent-1", uri, vsecure.OpRead, 0).Secret
	if head.AccessCount != 1 {
		e.t.Fatalf("accessCount %d after one spend and one refused, want 1", head.AccessCount)
	}
	e.wantEntries(entries...)
}

// The last use leaves the approval stored with none left: the grant the
// store returns no longer grants.
func testSpendUseLast(e *env) {
	uri := "vsecure://secrets/production/DB"
	e.putSecret(uri, 1)
	next, err := e.capped(uri, 1).Spend()
	e.ok(err, "Spend")
	en := e.entry(vsecure.AuditRead, uri, "agent-1")
	e.ok(e.s.SpendUse(e.ctx, next, uri, en.Timestamp, en), "SpendUse")
	g := e.load("agent-1", uri, vsecure.OpRead, 0).Grant
	if g != nil && g.Grants("agent-1", uri, vsecure.OpRead, next.RequestedAt) {
		e.t.Fatalf("the grant still grants after the last use: %+v", g)
	}
	if _, err := next.Spend(); !vsecure.IsCode(err, vsecure.EApprovalRequired) {
		e.t.Fatalf("a spent approval spends again: %v", err)
	}
}

// 24 readers spend the one use of one approval at once: one wins, the
// others lose the conditional write (EConflict) and write nothing.
func testConcurrentSpendUse(e *env) {
	const racers = 24
	uri := "vsecure://secrets/production/DB"
	e.putSecret(uri, 1)
	a := e.capped(uri, 1)
	next, err := a.Spend()
	e.ok(err, "Spend")
	entries := make([]vsecure.Entry, racers)
	for i := range entries {
		entries[i] = e.entry(vsecure.AuditRead, uri, "agent-1")
	}
	wins := e.race(racers, vsecure.EConflict, func(i int) error {
		return e.s.SpendUse(e.ctx, next, uri, entries[i].Timestamp, entries[i])
	})
	if wins != 1 {
		e.t.Fatalf("%d of %d spends of one use won, want exactly 1", wins, racers)
	}
	e.flush()
	if n := len(e.auditAll(vsecure.AuditFilter{Resource: uri, Operation: vsecure.AuditRead})); n != 1 {
		e.t.Fatalf("%d read entries written, want 1", n)
	}
	if head := e.load("agent-1", uri, vsecure.OpRead, 0).Secret; head.AccessCount != 1 {
		e.t.Fatalf("accessCount %d, want 1", head.AccessCount)
	}
}
