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
