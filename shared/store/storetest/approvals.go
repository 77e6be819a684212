package storetest

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vsecure/vsecure/shared/vsecure"
)

func testCreateApprovalRoundTrip(e *env) {
	a := e.approval("agent-1", "vsecure://secrets/production/DB", vsecure.OpRead)
	a.Notice = map[string]string{"channel": "C123", "ts": "1700000000.000100"}
	en := e.entry(vsecure.AuditRequestApproval, a.Resource, a.RequestedBy)
	e.ok(e.s.CreateApproval(e.ctx, a, en), "CreateApproval")
	got, err := e.s.GetApproval(e.ctx, a.ID)
	e.ok(err, "GetApproval")
	e.same("GetApproval", got, a)
	e.wantEntries(en)
	if id := e.grantID("agent-1", a.Resource, vsecure.OpRead); id != "" {
		e.t.Fatalf("a pending request granted access (grant %s)", id)
	}
}

func testCreateApprovalDuplicate(e *env) {
	a := e.createApproval(e.approval("agent-1", "vsecure://secrets/production/DB", vsecure.OpRead))
	dup := e.approval("agent-2", "vsecure://secrets/staging/DB", vsecure.OpWrite)
	dup.ID = a.ID
	e.code(e.s.CreateApproval(e.ctx, dup, e.entry(vsecure.AuditRequestApproval, dup.Resource, dup.RequestedBy)), vsecure.EConflict, "CreateApproval with an existing id")
	got, err := e.s.GetApproval(e.ctx, a.ID)
	e.ok(err, "GetApproval")
	e.same("approval after a refused duplicate", got, a)
	if n := e.auditCount(); n != 1 {
		e.t.Fatalf("%d audit entries, want only the first request's", n)
	}
}

// Auto-approved requests are created approved: they grant at once.
func testCreateApprovalApproved(e *env) {
	a := e.approval("agent-1", "vsecure://secrets/production/DB", vsecure.OpRead).AutoApprove()
	a.TokenHash = "tok-" + a.ID
	e.createApproval(a)
	if id := e.grantID("agent-1", a.Resource, vsecure.OpRead); id != a.ID {
		e.t.Fatalf("grant %q after an auto-approved request, want %s", id, a.ID)
	}
	got, err := e.s.ApprovalByToken(e.ctx, a.TokenHash)
	e.ok(err, "ApprovalByToken")
	e.same("ApprovalByToken", got, a)
}

func testGetApprovalMissing(e *env) {
	_, err := e.s.GetApproval(e.ctx, NewID("appr_", e.now()))
	e.code(err, vsecure.ENotFound, "GetApproval of a missing id")
}

func testUpdateApprovalNextVersion(e *env) {
	a := e.createApproval(e.approval("agent-1", "vsecure://secrets/production/DB", vsecure.OpRead))
	noticed := a
	noticed.TaskToken = "task-token"
	noticed.Notice = map[string]string{"channel": "C1", "ts": "1.2"}
	noticed.Version++
	e.ok(e.s.UpdateApproval(e.ctx, noticed, vsecure.Entry{}), "UpdateApproval notice")
	got, err := e.s.GetApproval(e.ctx, a.ID)
	e.ok(err, "GetApproval")
	e.same("after storing the notice", got, noticed)

	decided := e.approve(got)
	got, err = e.s.GetApproval(e.ctx, a.ID)
	e.ok(err, "GetApproval")
	e.same("after the decision", got, decided)
	if got.Version != a.Version+2 {
		e.t.Fatalf("version %d, want %d", got.Version, a.Version+2)
	}
}

func testUpdateApprovalStale(e *env) {
	a := e.createApproval(e.approval("agent-1", "vsecure://secrets/production/DB", vsecure.OpRead))
	try := func(version int, what string) {
		e.t.Helper()
		x := a
		x.Reason = "overwritten"
		x.Version = version
		e.code(e.s.UpdateApproval(e.ctx, x, e.entry(vsecure.AuditApprove, a.Resource, "alice")), vsecure.EConflict, "%s (version %d)", what, version)
	}
	try(a.Version, "same version as stored")
	try(a.Version+2, "skipping a version")
	try(a.Version-1, "older version")

	// Two writers both built on version 1: the second loses.
	first, second := a, a
	first.Version, second.Version = a.Version+1, a.Version+1
	first.TaskToken, second.TaskToken = "first", "second"
	e.ok(e.s.UpdateApproval(e.ctx, first, vsecure.Entry{}), "first writer")
	e.code(e.s.UpdateApproval(e.ctx, second, e.entry(vsecure.AuditApprove, a.Resource, "bob")), vsecure.EConflict, "second writer of the same version")

	got, err := e.s.GetApproval(e.ctx, a.ID)
	e.ok(err, "GetApproval")
	e.same("approval after refused updates", got, first)
	if n := e.auditCount(); n != 1 {
		e.t.Fatalf("refused updates wrote audit entries: %d in store, want 1", n)
	}
}

func testUpdateApprovalMissing(e *env) {
	a := e.approval("agent-1", "vsecure://secrets/production/DB", vsecure.OpRead)
	a.Version = 2
	e.code(e.s.UpdateApproval(e.ctx, a, e.entry(vsecure.AuditApprove, a.Resource, "alice")), vsecure.ENotFound, "UpdateApproval of a missing approval")
	if n := e.auditCount(); n != 0 {
		e.t.Fatalf("refused update wrote %d audit entries", n)
	}
}

func testUpdateApprovalApproveSetsGrant(e *env) {
	a := e.createApproval(e.approval("agent-1", "vsecure://secrets/production/DB", vsecure.OpRead))
	if id := e.grantID("agent-1", a.Resource, vsecure.OpRead); id != "" {
		e.t.Fatalf("grant %s before approval", id)
	}
	approved := e.approve(a)
	v := e.load("agent-1", a.Resource, vsecure.OpRead, 0)
	if v.Grant == nil {
		e.t.Fatal("no grant after approval")
	}
	e.same("grant", *v.Grant, approved)
}

func testUpdateApprovalRevokeClearsGrant(e *env) {
	a := e.approve(e.createApproval(e.approval("agent-1", "vsecure://secrets/production/DB", vsecure.OpRead)))
	e.revoke(a)
	if id := e.grantID("agent-1", a.Resource, vsecure.OpRead); id != "" {
		e.t.Fatalf("grant %s survived revocation", id)
	}
}

func testUpdateApprovalExpireClearsGrant(e *env) {
	a := e.approve(e.createApproval(e.approval("agent-1", "vsecure://secrets/production/DB", vsecure.OpRead)))
	expired, err := a.Expire(a.ExpiresAt)
	e.ok(err, "Expire")
	e.ok(e.s.UpdateApproval(e.ctx, expired, e.entry(vsecure.AuditExpire, a.Resource, "system")), "UpdateApproval expire")
	if id := e.grantID("agent-1", a.Resource, vsecure.OpRead); id != "" {
		e.t.Fatalf("grant %s survived expiry", id)
	}
}

// The grant is the most recently approved request; later writes to an
// older approval (a stored notice, its revocation) do not move it.
func testUpdateApprovalGrantFollowsLatest(e *env) {
	res := "vsecure://secrets/production/DB"
	older := e.approve(e.createApproval(e.approval("agent-1", res, vsecure.OpRead)))
	newer := e.approve(e.createApproval(e.approval("agent-1", res, vsecure.OpRead)))
	write := e.approve(e.createApproval(e.approval("agent-1", res, vsecure.OpWrite)))
	want := func(what, wantRead string) {
		e.t.Helper()
		if id := e.grantID("agent-1", res, vsecure.OpRead); id != wantRead {
			e.t.Fatalf("%s: read grant %q, want %q", what, id, wantRead)
		}
		if id := e.grantID("agent-1", res, vsecure.OpWrite); id != write.ID {
			e.t.Fatalf("%s: write grant %q, want %q", what, id, write.ID)
		}
	}
	want("two approvals", newer.ID)

	touched := older
	touched.Notice = map[string]string{"ts": "9.9"}
	touched.Version++
	e.ok(e.s.UpdateApproval(e.ctx, touched, vsecure.Entry{}), "UpdateApproval of the older approval")
	want("older approval rewritten", newer.ID)

	e.revoke(touched)
	want("older approval revoked", newer.ID)

	e.revoke(newer)
	want("newer approval revoked", "")
}

// A token hash stored on a request that is still pending finds nothing: a
// token is valid only once the request is approved.
func testTokenFoundOnceApproved(e *env) {
	a := e.approval("agent-1", "vsecure://secrets/production/DB", vsecure.OpRead)
	a.TokenHash = "tok-" + a.ID
	e.createApproval(a)
	noticed := a
	noticed.Notice = map[string]string{"ts": "1.1"}
	noticed.Version++
	e.ok(e.s.UpdateApproval(e.ctx, noticed, vsecure.Entry{}), "UpdateApproval while pending")
	_, err := e.s.ApprovalByToken(e.ctx, a.TokenHash)
	e.code(err, vsecure.ENotFound, "ApprovalByToken before approval")
	a = noticed
	approved := e.approve(a)
	got, err := e.s.ApprovalByToken(e.ctx, approved.TokenHash)
	e.ok(err, "ApprovalByToken")
	e.same("ApprovalByToken", got, approved)
}

func testTokenUnknown(e *env) {
	e.approve(e.createApproval(e.approval("agent-1", "vsecure://secrets/production/DB", vsecure.OpRead)))
	for _, h := range []string{"", "tok-unknown"} {
		_, err := e.s.ApprovalByToken(e.ctx, h)
		e.code(err, vsecure.ENotFound, "ApprovalByToken(%q)", h)
	}
}

// After revocation a token must not find an approval that still grants:
// the store may drop the index entry or return the revoked approval.
func testTokenRevoked(e *env) {
	a := e.approve(e.createApproval(e.approval("agent-1", "vsecure://secrets/production/DB", vsecure.OpRead)))
	revoked := e.revoke(a)
	got, err := e.s.ApprovalByToken(e.ctx, a.TokenHash)
	switch {
	case vsecure.IsCode(err, vsecure.ENotFound):
	case err != nil:
		e.t.Fatalf("ApprovalByToken after revocation: %v", err)
	default:
		e.same("ApprovalByToken after revocation", got, revoked)
	}
}

// approvalSet stores eight requests, A (oldest) to H (newest), and returns
// them by letter with the instant to evaluate filters at. H was made by an
// agent acting for dana and cancelled.
func (e *env) approvalSet() (map[string]vsecure.Approval, time.Time) {
	e.t.Helper()
	const (
		prodDB = "vsecure://secrets/production/DB"
		stgAPI = "vsecure://secrets/staging/API"
		custom = "vsecure://custom/db/x"
	)
	specs := []struct {
		letter, requester, onBehalfOf, resource string
		op                                      vsecure.Operation
		approvers                               []string
		status                                  vsecure.Status
		lapsed                                  bool // expiresAt passes before the filters run
	}{
		{"A", "agent-1", "", prodDB, vsecure.OpRead, []string{"alice", "bob"}, vsecure.StatusPending, false},
		{"B", "agent-1", "", prodDB, vsecure.OpWrite, []string{"alice"}, vsecure.StatusApproved, false},
		{"C", "agent-2", "", prodDB, vsecure.OpRead, []string{"bob", "carol"}, vsecure.StatusPending, true},
		{"D", "agent-2", "", stgAPI, vsecure.OpRead, []string{"carol"}, vsecure.StatusDenied, false},
		{"E", "agent-1", "", stgAPI, vsecure.OpRead, []string{"bob"}, vsecure.StatusRevoked, false},
		{"F", "agent-2", "", custom, vsecure.OpWrite, []string{"alice", "carol"}, vsecure.StatusApproved, true},
		{"G", "agent-3", "", prodDB, vsecure.OpRead, []string{"alice"}, vsecure.StatusExpired, true},
		{"H", "agent-4", "dana", stgAPI, vsecure.OpRead, []string{"erin"}, vsecure.StatusCancelled, false},
	}
	set := map[string]vsecure.Approval{}
	for _, sp := range specs {
		a := e.approval(sp.requester, sp.resource, sp.op)
		a.Approvers = sp.approvers
		a.Status = sp.status
		a.OnBehalfOf = sp.onBehalfOf
		if sp.lapsed {
			a.ExpiresAt = a.RequestedAt.Add(time.Second)
		}
		set[sp.letter] = e.createApproval(a)
	}
	return set, e.now()
}

// approvalFilters are the filter cases: letters newest first.
func approvalFilters(now time.Time) []struct {
	name string
	f    vsecure.ApprovalFilter
	want string
} {
	return []struct {
		name string
		f    vsecure.ApprovalFilter
		want string
	}{
		{"all", vsecure.ApprovalFilter{Now: now}, "HGFEDCBA"},
		{"visible_to_requester", vsecure.ApprovalFilter{Visible: "agent-1", Now: now}, "EBA"},
		{"visible_to_approver", vsecure.ApprovalFilter{Visible: "alice", Now: now}, "GFBA"},
		{"visible_to_requester_or_approver", vsecure.ApprovalFilter{Visible: "carol", Now: now}, "FDC"},
		{"visible_to_stranger", vsecure.ApprovalFilter{Visible: "mallory", Now: now}, ""},
		{"visible_to_human_an_agent_acts_for", vsecure.ApprovalFilter{Visible: "dana", Now: now}, "H"},
		{"status_cancelled", vsecure.ApprovalFilter{Status: vsecure.StatusCancelled, Now: now}, "H"},
		{"human_an_agent_acts_for_with_status", vsecure.ApprovalFilter{Visible: "dana", Status: vsecure.StatusCancelled, Now: now}, "H"},
		{"status_pending_excludes_lapsed", vsecure.ApprovalFilter{Status: vsecure.StatusPending, Now: now}, "A"},
		{"status_expired_includes_lapsed", vsecure.ApprovalFilter{Status: vsecure.StatusExpired, Now: now}, "GFC"},
		{"status_approved", vsecure.ApprovalFilter{Status: vsecure.StatusApproved, Now: now}, "B"},
		{"status_denied", vsecure.ApprovalFilter{Status: vsecure.StatusDenied, Now: now}, "D"},
		{"status_revoked", vsecure.ApprovalFilter{Status: vsecure.StatusRevoked, Now: now}, "E"},
		{"resource", vsecure.ApprovalFilter{Resource: "vsecure://secrets/production/DB", Now: now}, "GCBA"},
		{"operation", vsecure.ApprovalFilter{Operation: vsecure.OpWrite, Now: now}, "FB"},
		{"combined", vsecure.ApprovalFilter{Visible: "alice", Resource: "vsecure://secrets/production/DB", Operation: vsecure.OpRead, Now: now}, "GA"},
		{"combined_with_status", vsecure.ApprovalFilter{Visible: "alice", Resource: "vsecure://secrets/production/DB", Operation: vsecure.OpRead, Status: vsecure.StatusPending, Now: now}, "A"},
	}
}

func (e *env) listApprovals(f vsecure.ApprovalFilter, limit int) []vsecure.Approval {
	e.t.Helper()
	var out []vsecure.Approval
	seen := map[string]bool{}
	cursor := ""
	for range 1000 {
		page, next, err := e.s.ListApprovals(e.ctx, f, cursor, limit)
		e.ok(err, "ListApprovals")
		if len(page) > limit {
			e.t.Fatalf("ListApprovals returned %d items over limit %d", len(page), limit)
		}
		for _, a := range page {
			if seen[a.ID] {
				e.t.Fatalf("ListApprovals returned %s twice", a.ID)
			}
			seen[a.ID] = true
		}
		out = append(out, page...)
		if next == "" {
			return out
		}
		cursor = next
	}
	e.t.Fatal("ListApprovals cursor never ended")
	return nil
}

func letters(set map[string]vsecure.Approval, list []vsecure.Approval) string {
	byID := map[string]string{}
	for l, a := range set {
		byID[a.ID] = l
	}
	var b strings.Builder
	for _, a := range list {
		if l, ok := byID[a.ID]; ok {
			b.WriteString(l)
		} else {
			b.WriteString("?")
		}
	}
	return b.String()
}

func testListApprovalsFilters(e *env) {
	set, now := e.approvalSet()
	for _, tc := range approvalFilters(now) {
		got := e.listApprovals(tc.f, 100)
		if l := letters(set, got); l != tc.want {
			e.t.Errorf("%s: listed %q, want %q (newest first)", tc.name, l, tc.want)
			continue
		}
		for _, a := range got {
			e.same(tc.name+": listed approval", a, set[letters(set, []vsecure.Approval{a})])
		}
	}
}

func testListApprovalsPagination(e *env) {
	set, now := e.approvalSet()
	for _, tc := range approvalFilters(now) {
		for _, limit := range []int{1, 2, 3} {
			if l := letters(set, e.listApprovals(tc.f, limit)); l != tc.want {
				e.t.Errorf("%s with limit %d: listed %q, want %q", tc.name, limit, l, tc.want)
			}
		}
	}
}

func testListApprovalsGarbageCursor(e *env) {
	e.approvalSet()
	for _, c := range garbageCursors {
		_, _, err := e.s.ListApprovals(e.ctx, vsecure.ApprovalFilter{}, c, 10)
		e.code(err, vsecure.EInvalid, "ListApprovals cursor %q", c)
	}
}

func testListLiveApprovals(e *env) {
	set, _ := e.approvalSet()
	got, err := e.s.ListLiveApprovals(e.ctx)
	e.ok(err, "ListLiveApprovals")
	slices.SortFunc(got, func(a, b vsecure.Approval) int { return strings.Compare(a.ID, b.ID) })
	// C and F have lapsed but are still stored live: the workflow expires them.
	if l := letters(set, got); l != "ABCF" {
		e.t.Fatalf("ListLiveApprovals listed %q, want %q", l, "ABCF")
	}
	for _, a := range got {
		e.same(fmt.Sprintf("live approval %s", a.ID), a, set[letters(set, []vsecure.Approval{a})])
	}
}
