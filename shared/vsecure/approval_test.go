package vsecure

import (
	"testing"
	"time"
)

var t0 = time.Date(2024, 3, 15, 10, 30, 0, 0, time.UTC)

func pending(quorum int) Approval {
	return Approval{
		ID: "appr_1", Resource: "vsecure://secrets/production/DB", Operation: OpRead,
		RequestedBy: "agent", RequestedAt: t0, ExpiresAt: t0.Add(time.Hour), TTL: 3600,
		Status: StatusPending, Approvers: []string{"alice", "bob", "agent"}, RequiredApprovals: quorum, Version: 1,
	}
}

// forAlice is pending(1) requested by an agent key acting for alice.
func forAlice() Approval {
	a := pending(1)
	a.OnBehalfOf = "alice"
	return a
}

func TestDecide(t *testing.T) {
	now := t0.Add(time.Minute)
	cases := []struct {
		name   string
		a      Approval
		by     string
		action Action
		at     time.Time
		code   Code
		status Status
	}{
		{"approver_approves", pending(1), "alice", ActionApprove, now, "", StatusApproved},
		{"approver_denies", pending(1), "alice", ActionDeny, now, "", StatusDenied},
		{"requester_cannot_approve_own_request", pending(1), "agent", ActionApprove, now, ESelfApproval, ""},
		{"unlisted_cannot_decide", pending(1), "mallory", ActionApprove, now, ENotApprover, ""},
		{"expired_request_gives_expired", pending(1), "alice", ActionApprove, t0.Add(time.Hour), EExpired, ""},
		{"quorum_of_two_stays_pending_after_one", pending(2), "alice", ActionApprove, now, "", StatusPending},
		{"unknown_action", pending(1), "alice", Action("maybe"), now, EInvalid, ""},
		{"human_an_agent_acts_for_cannot_approve", forAlice(), "alice", ActionApprove, now, ESelfApproval, ""},
		{"human_an_agent_acts_for_cannot_deny", forAlice(), "alice", ActionDeny, now, ESelfApproval, ""},
		{"another_approver_decides_for_the_agent", forAlice(), "bob", ActionApprove, now, "", StatusApproved},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.a.Decide(c.by, c.action, "", c.at)
			if ErrorCode(err) != c.code {
				t.Fatalf("err = %v, want code %q", err, c.code)
			}
			if err == nil {
				if got.Status != c.status {
					t.Fatalf("status = %s, want %s", got.Status, c.status)
				}
				if got.Version != c.a.Version+1 {
					t.Fatalf("version = %d, want %d", got.Version, c.a.Version+1)
				}
			}
		})
	}
	t.Run("quorum_needs_distinct_approvers", func(t *testing.T) {
		a, err := pending(2).Decide("alice", ActionApprove, "", now)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Decide("alice", ActionApprove, "", now); ErrorCode(err) != EAlreadyDecided {
			t.Fatalf("second vote by alice: %v", err)
		}
		a, err = a.Decide("bob", ActionApprove, "", now)
		if err != nil || a.Status != StatusApproved || a.ApprovedBy != "bob" || a.Approvals() != 2 {
			t.Fatalf("after bob: %+v, %v", a, err)
		}
	})
	t.Run("any_deny_ends_quorum", func(t *testing.T) {
		a, _ := pending(2).Decide("alice", ActionApprove, "", now)
		a, err := a.Decide("bob", ActionDeny, "no", now)
		if err != nil || a.Status != StatusDenied || a.DeniedBy != "bob" {
			t.Fatalf("%+v, %v", a, err)
		}
	})
	t.Run("decided_cannot_be_decided_again", func(t *testing.T) {
		a, _ := pending(1).Decide("alice", ActionApprove, "", now)
		if _, err := a.Decide("bob", ActionDeny, "", now); ErrorCode(err) != EAlreadyDecided {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestStatusAtAndGrants(t *testing.T) {
	a, _ := pending(1).Decide("alice", ActionApprove, "", t0.Add(time.Minute))
	if !a.Grants("agent", a.Resource, OpRead, t0.Add(59*time.Minute)) {
		t.Fatal("approved access not granted before expiresAt")
	}
	if a.Grants("agent", a.Resource, OpRead, t0.Add(time.Hour)) {
		t.Fatal("access granted at expiresAt")
	}
	if a.Grants("agent", a.Resource, OpWrite, t0.Add(time.Minute)) {
		t.Fatal("read approval granted write")
	}
	if a.Grants("other", a.Resource, OpRead, t0.Add(time.Minute)) {
		t.Fatal("approval granted to someone else")
	}
	if a.StatusAt(t0.Add(2*time.Hour)) != StatusExpired {
		t.Fatal("approved past expiresAt is not expired")
	}
	p := pending(1)
	if p.StatusAt(t0.Add(time.Hour)) != StatusExpired {
		t.Fatal("pending past expiresAt is not expired")
	}
}

func TestRevokeAndExpire(t *testing.T) {
	now := t0.Add(time.Minute)
	a, _ := pending(1).Decide("alice", ActionApprove, "", now)
	r, err := a.Revoke("alice", now)
	if err != nil || r.Status != StatusRevoked || r.Grants("agent", a.Resource, OpRead, now) {
		t.Fatalf("revoke: %+v %v", r, err)
	}
	if _, err := r.Revoke("alice", now); ErrorCode(err) != EAlreadyDecided {
		t.Fatalf("second revoke: %v", err)
	}
	if _, err := pending(1).Revoke("alice", now); ErrorCode(err) != EAlreadyDecided {
		t.Fatalf("revoke pending: %v", err)
	}
	if _, err := pending(1).Expire(now); err == nil {
		t.Fatal("expired before expiresAt")
	}
	e, err := pending(1).Expire(t0.Add(time.Hour))
	if err != nil || e.Status != StatusExpired {
		t.Fatalf("expire: %+v %v", e, err)
	}
	if _, err := r.Expire(t0.Add(time.Hour)); ErrorCode(err) != EAlreadyDecided {
		t.Fatalf("expire revoked: %v", err)
	}
}

func TestCancel(t *testing.T) {
	now := t0.Add(time.Minute)
	c, err := forAlice().Cancel("alice", now)
	if err != nil || c.Status != StatusCancelled || c.CancelledBy != "alice" || c.CancelledAt == nil || c.Version != 2 {
		t.Fatalf("cancel pending: %+v %v", c, err)
	}
	if _, err := c.Cancel("agent", now); ErrorCode(err) != EAlreadyDecided {
		t.Fatalf("second cancel: %v", err)
	}
	if _, err := c.Decide("bob", ActionApprove, "", now); ErrorCode(err) != EAlreadyDecided {
		t.Fatalf("approve after cancel: %v", err)
	}
	a, _ := forAlice().Decide("bob", ActionApprove, "", now)
	r, err := a.Cancel("alice", now)
	if err != nil || r.Status != StatusRevoked || r.RevokedBy != "alice" || r.Grants("agent", a.Resource, OpRead, now) {
		t.Fatalf("cancel approved: %+v %v", r, err)
	}
	if _, err := forAlice().Cancel("alice", t0.Add(time.Hour)); ErrorCode(err) != EExpired {
		t.Fatalf("cancel expired: %v", err)
	}
	for _, tc := range []struct {
		p    Principal
		want bool
	}{
		{Principal{ID: "agent", Roles: []Role{RoleAgent}}, true},
		{Principal{ID: "alice", Roles: []Role{RoleAuditor}}, true},
		{Principal{ID: "root", Roles: []Role{RoleAdmin}}, true},
		{Principal{ID: "bob", Roles: []Role{RoleApprover}}, false},
		{Principal{ID: "agent", Scope: &Scope{ApprovalID: "appr_1"}}, false},
	} {
		a := forAlice()
		if got := a.CanCancel(tc.p); got != tc.want {
			t.Errorf("CanCancel(%s) = %v, want %v", tc.p.ID, got, tc.want)
		}
	}
	if got := RequesterLabel("ai-agent-123", "alice"); got != "ai-agent-123 for alice" {
		t.Errorf("label %q", got)
	}
}
