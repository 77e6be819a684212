package vsecure

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// TestSpend: each spend of a capped approval takes one use and moves the
// version on (the store's condition); the last use leaves it spent, and an
// uncapped or spent approval cannot be spent.
func TestSpend(t *testing.T) {
	a := pending(1)
	if _, err := a.Spend(); !IsCode(err, EInvalid) {
		t.Fatalf("spend of an uncapped approval: %v, want invalid_request", err)
	}
	a.MaxUses, a.UsesLeft = 2, 2
	b, err := a.Spend()
	if err != nil || b.UsesLeft != 1 || b.Version != a.Version+1 || b.Spent() || a.UsesLeft != 2 {
		t.Fatalf("first spend: %+v, %v; want 1 use left at version %d, the original unchanged", b, err, a.Version+1)
	}
	c, err := b.Spend()
	if err != nil || c.UsesLeft != 0 || c.Version != a.Version+2 || !c.Spent() {
		t.Fatalf("last spend: %+v, %v; want spent at version %d", c, err, a.Version+2)
	}
	if _, err := c.Spend(); !IsCode(err, EApprovalRequired) {
		t.Fatalf("spend of a spent approval: %v, want approval_required", err)
	}
}

// TestActsForRequester: for separation of duties the requester is the
// requesting key's principal, the human it acts for, and any other agent
// of either.
func TestActsForRequester(t *testing.T) {
	a := forAlice() // requested by agent for alice
	for _, tc := range []struct {
		p    Principal
		want bool
	}{
		{Principal{ID: "agent"}, true},
		{Principal{ID: "alice"}, true},
		{Principal{ID: "helper-bot", OnBehalfOf: "alice"}, true},
		{Principal{ID: "sub-agent", OnBehalfOf: "agent"}, true},
		{Principal{ID: "bob"}, false},
		{Principal{ID: "bob-bot", OnBehalfOf: "bob"}, false},
	} {
		if got := a.ActsForRequester(tc.p); got != tc.want {
			t.Errorf("ActsForRequester(%+v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if b := pending(1); b.ActsForRequester(Principal{ID: "bob"}) || !b.ActsForRequester(Principal{ID: "agent"}) {
		t.Error("without onBehalfOf only the requesting principal is the requester")
	}
}

// TestAuditFilterMatches: each field of the filter restricts, and a
// pattern resource matches the entries of the secrets it covers.
func TestAuditFilterMatches(t *testing.T) {
	e := &Entry{Resource: "vsecure://secrets/production/DB", Actor: "agent", Operation: AuditRead, Success: true, Timestamp: t0}
	yes, no := true, false
	for _, tc := range []struct {
		name string
		f    AuditFilter
		want bool
	}{
		{"none", AuditFilter{}, true},
		{"actor", AuditFilter{Actor: "agent"}, true},
		{"other_actor", AuditFilter{Actor: "alice"}, false},
		{"operation", AuditFilter{Operation: AuditRead}, true},
		{"other_operation", AuditFilter{Operation: AuditWrite}, false},
		{"success", AuditFilter{Success: &yes}, true},
		{"failures", AuditFilter{Success: &no}, false},
		{"from_at", AuditFilter{From: t0}, true},
		{"from_after", AuditFilter{From: t0.Add(time.Second)}, false},
		{"to_at", AuditFilter{To: t0}, true},
		{"to_before", AuditFilter{To: t0.Add(-time.Second)}, false},
		{"resource", AuditFilter{Resource: "vsecure://secrets/production/DB"}, true},
		{"pattern", AuditFilter{Resource: "vsecure://secrets/production/*"}, true},
		{"other_pattern", AuditFilter{Resource: "vsecure://secrets/staging/*"}, false},
		{"other_resource", AuditFilter{Resource: "vsecure://secrets/production/OTHER"}, false},
		{"bad_filter_resource", AuditFilter{Resource: "not a uri"}, false},
	} {
		if got := tc.f.Matches(e); got != tc.want {
			t.Errorf("%s: Matches = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestApprovalFilterMatches: a non-admin sees the approvals they (or
// their agents, for them) requested and those they may decide; status
// (judged at Now), resource and operation each restrict.
func TestApprovalFilterMatches(t *testing.T) {
	a := forAlice()
	a.Approvers = []string{"bob"}
	for who, want := range map[string]bool{"": true, "agent": true, "alice": true, "bob": true, "carol": false} {
		if got := (ApprovalFilter{Visible: who, Now: t0}).Matches(&a); got != want {
			t.Errorf("visible to %q: %v, want %v", who, got, want)
		}
	}
	for _, tc := range []struct {
		name string
		f    ApprovalFilter
		want bool
	}{
		{"pending", ApprovalFilter{Status: StatusPending, Now: t0}, true},
		{"approved", ApprovalFilter{Status: StatusApproved, Now: t0}, false},
		{"expired_by_now", ApprovalFilter{Status: StatusExpired, Now: a.ExpiresAt}, true},
		{"resource", ApprovalFilter{Resource: a.Resource, Now: t0}, true},
		{"other_resource", ApprovalFilter{Resource: "vsecure://secrets/production/OTHER", Now: t0}, false},
		{"operation", ApprovalFilter{Operation: OpRead, Now: t0}, true},
		{"other_operation", ApprovalFilter{Operation: OpWrite, Now: t0}, false},
	} {
		if got := tc.f.Matches(&a); got != tc.want {
			t.Errorf("%s: Matches = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestCountsAccess: reads and uses count as accesses of a secret, nothing
// else does.
func TestCountsAccess(t *testing.T) {
	for _, op := range AuditOperations {
		if got, want := CountsAccess(op), op == AuditRead || op == AuditUse; got != want {
			t.Errorf("CountsAccess(%q) = %v, want %v", op, got, want)
		}
	}
}

// TestPermitsUseUnderRead: read implies use; use and write imply nothing.
func TestPermitsUseUnderRead(t *testing.T) {
	for _, tc := range []struct {
		perms []Operation
		op    Operation
		want  bool
	}{
		{[]Operation{OpRead}, OpUse, true},
		{[]Operation{OpRead}, OpRead, true},
		{[]Operation{OpUse}, OpUse, true},
		{[]Operation{OpUse}, OpRead, false},
		{[]Operation{OpWrite}, OpUse, false},
		{[]Operation{OpWrite}, OpRead, false},
		{nil, OpUse, false},
	} {
		p := Policy{Permissions: tc.perms}
		if got := p.Permits(tc.op); got != tc.want {
			t.Errorf("%v permits %s: %v, want %v", tc.perms, tc.op, got, tc.want)
		}
	}
}

// TestCallActor: a call without a principal is audited as anonymous.
func TestCallActor(t *testing.T) {
	if got := (Call{}).Actor(); got != Anonymous {
		t.Errorf("actor of no principal: %q", got)
	}
	if got := (Call{Principal: Principal{ID: "alice"}}).Actor(); got != "alice" {
		t.Errorf("actor of alice: %q", got)
	}
}

// TestErrors: a wrapped cause shows in Error and unwraps; IsCode is false
// for nil and for other codes.
func TestErrors(t *testing.T) {
	e := Wrap(EUnavailable, io.ErrUnexpectedEOF, "store unavailable")
	if msg := e.Error(); !strings.Contains(msg, "store unavailable") || !strings.Contains(msg, io.ErrUnexpectedEOF.Error()) || !errors.Is(e, io.ErrUnexpectedEOF) {
		t.Errorf("wrapped error %q", msg)
	}
	if msg := Errorf(EInvalid, "bad %s", "input").Error(); msg != "invalid_request: bad input" {
		t.Errorf("plain error %q", msg)
	}
	if IsCode(nil, "") || IsCode(nil, EInvalid) || IsCode(e, EInvalid) || !IsCode(e, EUnavailable) {
		t.Error("IsCode")
	}
}

// TestReportOK: a report is OK only without findings.
func TestReportOK(t *testing.T) {
	if !(Report{}).OK() || (Report{Findings: []Finding{{Kind: "missing"}}}).OK() {
		t.Error("Report.OK")
	}
}

// TestEntryAndRecordHashes: an entry's hash is a function of its content,
// and a record's also of its seal, so an edit of either shows.
func TestEntryAndRecordHashes(t *testing.T) {
	e := Entry{ID: "log_1", Timestamp: t0, Resource: "vsecure://secrets/production/DB", Actor: "agent", Operation: AuditRead, Success: true,
		Metadata: map[string]string{"b": "2", "a": "1"}}
	edited := e
	edited.Actor = "alice"
	if string(EntryHash(e)) != string(EntryHash(e)) || string(EntryHash(e)) == string(EntryHash(edited)) || len(EntryHash(e)) != 32 {
		t.Error("EntryHash is not a function of the entry's content")
	}
	seal := &AuditSeal{Epoch: "ep_1", Seq: 3}
	other := &AuditSeal{Epoch: "ep_1", Seq: 4}
	if string(RecordHash(e, seal)) != string(RecordHash(e, seal)) || string(RecordHash(e, seal)) == string(RecordHash(e, other)) ||
		string(RecordHash(e, seal)) == string(RecordHash(edited, seal)) || string(RecordHash(e, nil)) == string(RecordHash(e, seal)) {
		t.Error("RecordHash is not a function of the entry and its seal")
	}
}

// TestDigestHash: a digest's signed bytes leave out the signature, and its
// hash (the next digest's Previous) covers both, so replacing either
// breaks the chain.
func TestDigestHash(t *testing.T) {
	d := Digest{Version: 2, From: t0, To: t0.Add(5 * time.Minute), Count: 1, Signature: []byte("sig-1")}
	resigned := d
	resigned.Signature = []byte("sig-2")
	recounted := d
	recounted.Count = 2
	if string(d.SignedBytes()) != string(resigned.SignedBytes()) || strings.Contains(string(d.SignedBytes()), "c2lnLT") {
		t.Errorf("signed bytes carry the signature: %s", d.SignedBytes())
	}
	if d.Hash() == resigned.Hash() || d.Hash() == recounted.Hash() || d.Hash() != d.Hash() {
		t.Error("Hash does not cover the signed bytes and the signature")
	}
}
