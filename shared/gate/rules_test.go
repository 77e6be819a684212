package gate_test

// The gate's rules, specified at the gate over the embedded store (see
// world_test.go): quorum, self-approval, token scope, expiry, revocation,
// auto-approve windows and racing decisions. The HTTP tests only check how
// these outcomes map to statuses and envelopes.

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/vsecure"
)

func TestQuorum(t *testing.T) {
	type vote struct {
		by, action string
		code       vsecure.Code   // the vote's refusal, or "" for accepted
		status     vsecure.Status // the approval's status after an accepted vote
		approvals  int            // approve votes counted after an accepted vote
	}
	cases := []struct {
		name     string
		resource string
		votes    []vote
		read     vsecure.Code // the requester's read afterwards
	}{
		{"one_approver_of_one_approves", dbURI, []vote{
			{"alice", "approve", "", vsecure.StatusApproved, 1}}, ""},
		{"partial_approval_stays_pending", vaultURI, []vote{
			{"alice", "approve", "", vsecure.StatusPending, 1}}, vsecure.EApprovalRequired},
		{"duplicate_approver_counts_once", vaultURI, []vote{
			{"alice", "approve", "", vsecure.StatusPending, 1},
			{"alice", "approve", vsecure.EAlreadyDecided, "", 0}}, vsecure.EApprovalRequired},
		{"duplicate_approver_cannot_turn_to_deny", vaultURI, []vote{
			{"alice", "approve", "", vsecure.StatusPending, 1},
			{"alice", "deny", vsecure.EAlreadyDecided, "", 0}}, vsecure.EApprovalRequired},
		{"two_distinct_approvers_reach_quorum", vaultURI, []vote{
			{"alice", "approve", "", vsecure.StatusPending, 1},
			{"bob", "approve", "", vsecure.StatusApproved, 2}}, ""},
		{"any_deny_ends_a_quorum_request", vaultURI, []vote{
			{"alice", "approve", "", vsecure.StatusPending, 1},
			{"bob", "deny", "", vsecure.StatusDenied, 1}}, vsecure.EApprovalRequired},
		{"deny_ends_a_request", dbURI, []vote{
			{"alice", "deny", "", vsecure.StatusDenied, 0}}, vsecure.EApprovalRequired},
		{"no_vote_after_approval", dbURI, []vote{
			{"alice", "approve", "", vsecure.StatusApproved, 1},
			{"bob", "deny", vsecure.EAlreadyDecided, "", 0}}, ""},
		{"no_vote_after_denial", dbURI, []vote{
			{"alice", "deny", "", vsecure.StatusDenied, 0},
			{"bob", "approve", vsecure.EAlreadyDecided, "", 0}}, vsecure.EApprovalRequired},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			id := w.pending(tc.resource)
			quorum := 1
			if tc.resource == vaultURI {
				quorum = 2
			}
			last := vsecure.StatusPending
			for i, v := range tc.votes {
				d, err := w.decide(v.by, id, v.action)
				want(t, err, v.code, v.by+" "+v.action)
				if v.code != "" {
					if got := w.stored(id).Status; got != last {
						t.Fatalf("vote %d refused, yet the status moved from %s to %s", i, last, got)
					}
					continue
				}
				if d.Status != v.status || d.Approvals != v.approvals || d.RequiredApprovals != quorum {
					t.Fatalf("after vote %d: status %s, approvals %d/%d; want %s, %d", i, d.Status, d.Approvals, d.RequiredApprovals, v.status, v.approvals)
				}
				// The token is issued by the vote that approves, and only then.
				if (d.AccessToken != "") != (v.status == vsecure.StatusApproved) {
					t.Fatalf("after vote %d (%s): token issued %v", i, d.Status, d.AccessToken != "")
				}
				if v.status == vsecure.StatusApproved && d.ApprovedBy != v.by {
					t.Fatalf("approvedBy %q, want %q", d.ApprovedBy, v.by)
				}
				if v.status == vsecure.StatusDenied && d.DeniedBy != v.by {
					t.Fatalf("deniedBy %q, want %q", d.DeniedBy, v.by)
				}
				last = v.status
			}
			if got := w.stored(id); got.Status != last {
				t.Fatalf("stored status %s, want %s", got.Status, last)
			}
			_, err := w.read(w.as("ai-agent-123"), tc.resource)
			want(t, err, tc.read, "requester's read after the votes")
		})
	}
}

func TestSelfApproval(t *testing.T) {
	cases := []struct {
		name      string
		requester string
		resource  string
		decider   string
		r         api.Respond
		code      vsecure.Code
	}{
		{"requester_cannot_approve_own_request", "dual", opsURI, "dual", api.Respond{Action: "approve"}, vsecure.ESelfApproval},
		{"requester_cannot_deny_own_request", "dual", opsURI, "dual", api.Respond{Action: "deny"}, vsecure.ESelfApproval},
		{"admin_cannot_approve_own_request", "admin", opsURI, "admin", api.Respond{Action: "approve"}, vsecure.ESelfApproval},
		{"admin_not_listed_is_not_an_approver", "ai-agent-123", dbURI, "admin", api.Respond{Action: "approve"}, vsecure.ENotApprover},
		{"admin_listed_by_the_policy_may_approve", "ai-agent-123", opsURI, "admin", api.Respond{Action: "approve"}, ""},
		{"listed_approver_approves_anothers_request", "dual", opsURI, "alice", api.Respond{Action: "approve"}, ""},
		{"unlisted_approver_refused", "ai-agent-123", dbURI, "carol", api.Respond{Action: "approve"}, vsecure.ENotApprover},
		{"agent_role_cannot_decide", "ai-agent-123", dbURI, "ai-agent-999", api.Respond{Action: "approve"}, vsecure.EForbidden},
		{"approvedBy_must_be_the_caller", "ai-agent-123", dbURI, "alice", api.Respond{Action: "approve", ApprovedBy: "bob"}, vsecure.EForbidden},
		{"approvedBy_may_name_the_caller", "ai-agent-123", dbURI, "alice", api.Respond{Action: "approve", ApprovedBy: "alice"}, ""},
		{"unknown_action", "ai-agent-123", dbURI, "alice", api.Respond{Action: "maybe"}, vsecure.EInvalid},
		{"reason_too_long", "ai-agent-123", dbURI, "alice", api.Respond{Action: "approve", Reason: strings.Repeat("r", 1001)}, vsecure.EInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			a, err := w.request(tc.requester, tc.resource, "read", nil)
			if err != nil || a.Status != vsecure.StatusPending {
				t.Fatalf("request: %v (%s)", err, a.Status)
			}
			d, err := w.g.Decide(t.Context(), w.as(tc.decider), a.ID, tc.r)
			want(t, err, tc.code, tc.decider+" deciding")
			st := w.stored(a.ID)
			if tc.code != "" {
				if st.Status != vsecure.StatusPending || len(st.Decisions) != 0 {
					t.Fatalf("a refused decision changed the approval: %s with %d decisions", st.Status, len(st.Decisions))
				}
				op := vsecure.AuditRespond
				if tc.r.Action == "approve" {
					op = vsecure.AuditApprove
				} else if tc.r.Action == "deny" {
					op = vsecure.AuditDeny
				}
				if e := w.refusal(op, tc.decider); e.Success || e.Error != string(tc.code) || e.ApprovalID != a.ID {
					t.Fatalf("the refusal is not audited as %s: %+v", tc.code, e)
				}
				return
			}
			if d.Status != vsecure.StatusApproved || d.ApprovedBy != tc.decider || st.Status != vsecure.StatusApproved {
				t.Fatalf("approve: view %s by %q, stored %s", d.Status, d.ApprovedBy, st.Status)
			}
		})
	}
	t.Run("missing_approval_is_not_found", func(t *testing.T) {
		w := newWorld(t)
		_, err := w.decide("alice", "appr_nope", "approve")
		want(t, err, vsecure.ENotFound, "deciding a missing approval")
	})
}

func TestTokenScope(t *testing.T) {
	// Each row acts as "token" (the access token of ai-agent-123's approved
	// read of dbURI), "agent" (ai-agent-123's own key) or "other"
	// (ai-agent-999).
	v := "x"
	cases := []struct {
		name string
		as   string
		call func(w *world, c gate.Call, id string) error
		code vsecure.Code
	}{
		{"token_reads_its_resource", "token", func(w *world, c gate.Call, id string) error {
			r, err := w.read(c, dbURI)
			if err == nil && (r.Value != dbValue || r.ApprovalID != id) {
				w.t.Fatalf("token read %q with approval %q", r.Value, r.ApprovalID)
			}
			if err == nil && w.entry(vsecure.AuditRead, "ai-agent-123").ApprovalID != id {
				w.t.Fatal("the read's audit entry does not name its approval")
			}
			return err
		}, ""},
		{"requester_reads_with_own_key", "agent", func(w *world, c gate.Call, id string) error {
			r, err := w.read(c, dbURI)
			if err == nil && (r.Value != dbValue || r.ApprovalID != id) {
				w.t.Fatalf("key read %q with approval %q", r.Value, r.ApprovalID)
			}
			if err == nil && w.entry(vsecure.AuditRead, "ai-agent-123").ApprovalID != id {
				w.t.Fatal("the read's audit entry does not name its approval")
			}
			return err
		}, ""},
		{"approval_grants_no_other_resource_to_its_key", "agent", func(w *world, c gate.Call, _ string) error {
			_, err := w.read(c, otherURI)
			return err
		}, vsecure.EApprovalRequired},
		{"approval_does_not_reach_other_agents", "other", func(w *world, c gate.Call, _ string) error {
			_, err := w.read(c, dbURI)
			return err
		}, vsecure.EApprovalRequired},
		{"other_agent_cannot_see_the_approval", "other", func(w *world, c gate.Call, id string) error {
			_, err := w.g.GetApproval(w.t.Context(), c, id)
			return err
		}, vsecure.ENotFound},
		{"token_cannot_read_another_resource_under_the_same_policy", "token", func(w *world, c gate.Call, _ string) error {
			_, err := w.read(c, otherURI)
			return err
		}, vsecure.EForbidden},
		{"token_cannot_read_an_open_resource", "token", func(w *world, c gate.Call, _ string) error {
			_, err := w.read(c, stagingURI)
			return err
		}, vsecure.EForbidden},
		{"token_cannot_write_its_resource", "token", func(w *world, c gate.Call, _ string) error {
			_, err := w.write(c, dbURI, v)
			return err
		}, vsecure.EForbidden},
		{"token_cannot_write_elsewhere", "token", func(w *world, c gate.Call, _ string) error {
			_, err := w.write(c, stagingURI, v)
			return err
		}, vsecure.EForbidden},
		{"token_cannot_list_approvals", "token", func(w *world, c gate.Call, _ string) error {
			_, _, err := w.g.ListApprovals(w.t.Context(), c, gate.ApprovalQuery{})
			return err
		}, vsecure.EForbidden},
		{"token_cannot_see_its_approval", "token", func(w *world, c gate.Call, id string) error {
			_, err := w.g.GetApproval(w.t.Context(), c, id)
			return err
		}, vsecure.ENotFound},
		{"token_cannot_list_resources", "token", func(w *world, c gate.Call, _ string) error {
			_, err := w.g.ListResources(w.t.Context(), c)
			return err
		}, vsecure.EForbidden},
		{"token_cannot_get_a_pattern", "token", func(w *world, c gate.Call, _ string) error {
			_, err := w.g.GetPattern(w.t.Context(), c, uri(w.t, "vsecure://secrets/production/*"))
			return err
		}, vsecure.EForbidden},
		{"token_cannot_list_secrets", "token", func(w *world, c gate.Call, _ string) error {
			_, _, err := w.g.ListSecrets(w.t.Context(), c, nil, "", 0)
			return err
		}, vsecure.EForbidden},
		{"token_cannot_request_approval", "token", func(w *world, c gate.Call, _ string) error {
			_, err := w.g.RequestApproval(w.t.Context(), c, api.ApprovalRequest{Resource: otherURI, Operation: "read"})
			return err
		}, vsecure.EForbidden},
		{"token_cannot_decide", "token", func(w *world, c gate.Call, _ string) error {
			_, err := w.g.Decide(w.t.Context(), c, w.pending(otherURI), api.Respond{Action: "approve"})
			return err
		}, vsecure.EForbidden},
		{"token_cannot_revoke_its_approval", "token", func(w *world, c gate.Call, id string) error {
			_, err := w.g.Revoke(w.t.Context(), c, id)
			return err
		}, vsecure.ENotApprover},
		{"token_cannot_read_audit", "token", func(w *world, c gate.Call, _ string) error {
			_, _, err := w.g.QueryAudit(w.t.Context(), c, gate.AuditQuery{})
			return err
		}, vsecure.EForbidden},
		{"token_cannot_configure", "token", func(w *world, c gate.Call, _ string) error {
			_, err := w.g.ConfigurePolicy(w.t.Context(), c, vsecure.Policy{URI: "vsecure://secrets/x/*", Permissions: []vsecure.Operation{vsecure.OpRead}})
			return err
		}, vsecure.EForbidden},
		{"token_cannot_create_keys", "token", func(w *world, c gate.Call, _ string) error {
			_, err := w.g.CreateKey(w.t.Context(), c, api.KeyRequest{Principal: "x", Roles: []string{"admin"}})
			return err
		}, vsecure.EForbidden},
		{"token_cannot_list_keys", "token", func(w *world, c gate.Call, _ string) error {
			_, _, err := w.g.ListKeys(w.t.Context(), c, "", 0)
			return err
		}, vsecure.EForbidden},
		{"token_cannot_revoke_keys", "token", func(w *world, c gate.Call, _ string) error {
			_, err := w.g.RevokeKey(w.t.Context(), c, w.keys["ai-agent-999"].ID)
			return err
		}, vsecure.EForbidden},
		{"token_cannot_rotate_its_key", "token", func(w *world, c gate.Call, _ string) error {
			_, err := w.g.RotateKey(w.t.Context(), c, w.keys["ai-agent-123"].ID, api.RotateRequest{})
			return err
		}, vsecure.EForbidden},
		{"token_cannot_change_keys", "token", func(w *world, c gate.Call, _ string) error {
			_, err := w.g.UpdateKey(w.t.Context(), c, w.keys["ai-agent-123"].ID, api.KeyUpdateRequest{Roles: []string{"admin"}})
			return err
		}, vsecure.EForbidden},
		{"token_shows_its_scope_and_no_roles", "token", func(w *world, c gate.Call, id string) error {
			me, err := w.g.Whoami(w.t.Context(), c)
			if err == nil && (me.Principal != "ai-agent-123" || len(me.Roles) != 0 || me.Credential != api.CredentialAccessToken ||
				me.Scope == nil || me.Scope.ApprovalID != id || me.Scope.Resource != dbURI || me.Scope.Operation != vsecure.OpRead) {
				w.t.Fatalf("whoami with the token: %+v", me)
			}
			return err
		}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			id, token := w.approved()
			c := map[string]gate.Call{"token": w.login(token), "agent": w.as("ai-agent-123"), "other": w.as("ai-agent-999")}[tc.as]
			want(t, tc.call(w, c, id), tc.code, tc.name)
			if tc.code != "" {
				if got := w.stored(id).Status; got != vsecure.StatusApproved {
					t.Fatalf("a refused call moved the approval to %s", got)
				}
			}
		})
	}
	t.Run("a_write_approval_token_cannot_read", func(t *testing.T) {
		w := newWorld(t)
		w.configure(vsecure.Policy{URI: "vsecure://secrets/release/*", Permissions: []vsecure.Operation{vsecure.OpRead, vsecure.OpWrite},
			RequiresApproval: true, Approvers: []string{"alice"}})
		a, err := w.request("ai-agent-123", "vsecure://secrets/release/KEY", "write", nil)
		want(t, err, "", "request write")
		d, err := w.decide("alice", a.ID, "approve")
		want(t, err, "", "approve write")
		tok := w.login(d.AccessToken)
		_, err = w.write(tok, "vsecure://secrets/release/KEY", "v1")
		want(t, err, "", "write with the write token")
		_, err = w.read(tok, "vsecure://secrets/release/KEY")
		want(t, err, vsecure.EForbidden, "read with the write token")
		_, err = w.read(w.as("ai-agent-123"), "vsecure://secrets/release/KEY")
		want(t, err, vsecure.EApprovalRequired, "read with the key that has a write approval")
	})
	t.Run("policy_narrowed_after_approval_ends_the_token", func(t *testing.T) {
		w := newWorld(t)
		_, token := w.approved()
		tok := w.login(token)
		w.configure(vsecure.Policy{URI: "vsecure://secrets/production/*", Permissions: []vsecure.Operation{vsecure.OpWrite},
			RequiresApproval: true, Approvers: []string{"alice"}})
		_, err := w.read(tok, dbURI)
		want(t, err, vsecure.EOperationNotAllowed, "token read after the policy stopped permitting read")
	})
}

func TestExpiry(t *testing.T) {
	cases := []struct {
		name string
		run  func(w *world)
	}{
		{"request_cannot_be_approved_after_its_ttl", func(w *world) {
			a, err := w.request("ai-agent-123", dbURI, "read", ptr(60))
			want(w.t, err, "", "request")
			if !a.ExpiresAt.Equal(start.Add(time.Minute)) || a.TTL != 60 {
				w.t.Fatalf("expiresAt %s ttl %d", a.ExpiresAt, a.TTL)
			}
			w.clock.Advance(61 * time.Second)
			_, err = w.decide("alice", a.ID, "approve")
			want(w.t, err, vsecure.EExpired, "approve after the ttl")
			if st := w.stored(a.ID).Status; st != vsecure.StatusExpired {
				w.t.Fatalf("status %s", st)
			}
		}},
		{"request_expires_at_exactly_expiresAt", func(w *world) {
			a, _ := w.request("ai-agent-123", dbURI, "read", ptr(60))
			w.clock.Advance(59 * time.Second)
			if v, err := w.g.GetApproval(w.t.Context(), w.as("ai-agent-123"), a.ID); err != nil || v.Status != vsecure.StatusPending {
				w.t.Fatalf("a second before expiresAt: %v %s", err, v.Status)
			}
			w.clock.Advance(time.Second)
			_, err := w.decide("alice", a.ID, "approve")
			want(w.t, err, vsecure.EExpired, "approve at expiresAt")
		}},
		{"default_ttl_is_an_hour", func(w *world) {
			a, _ := w.request("ai-agent-123", dbURI, "read", nil)
			if a.TTL != vsecure.DefaultTTL || !a.ExpiresAt.Equal(start.Add(time.Hour)) {
				w.t.Fatalf("ttl %d expiresAt %s", a.TTL, a.ExpiresAt)
			}
		}},
		{"ttl_bounds", func(w *world) {
			for _, ttl := range []int{0, -1, vsecure.DefaultMaxTTL + 1} {
				_, err := w.request("ai-agent-123", dbURI, "read", ptr(ttl))
				want(w.t, err, vsecure.EInvalid, "ttl "+strconv.Itoa(ttl))
			}
			_, err := w.request("ai-agent-123", dbURI, "read", ptr(vsecure.DefaultMaxTTL))
			want(w.t, err, "", "ttl at the default maximum")
		}},
		{"policy_maxTtl_bounds_the_ttl", func(w *world) {
			w.configure(vsecure.Policy{URI: "vsecure://secrets/production/*", Permissions: []vsecure.Operation{vsecure.OpRead},
				RequiresApproval: true, Approvers: []string{"alice"}, MaxTTL: 600})
			_, err := w.request("ai-agent-123", dbURI, "read", ptr(601))
			want(w.t, err, vsecure.EInvalid, "ttl above maxTtl")
			_, err = w.request("ai-agent-123", dbURI, "read", ptr(600))
			want(w.t, err, "", "ttl at maxTtl")
		}},
		{"granted_access_ends_at_expiresAt", func(w *world) {
			id, token := w.approved()
			tok := w.login(token)
			agent := w.as("ai-agent-123")
			w.clock.Advance(time.Hour - time.Second)
			_, err := w.read(agent, dbURI)
			want(w.t, err, "", "key read a second before expiresAt")
			_, err = w.read(tok, dbURI)
			want(w.t, err, "", "token read a second before expiresAt")
			w.clock.Advance(time.Second)
			_, err = w.read(agent, dbURI)
			want(w.t, err, vsecure.EApprovalRequired, "key read at expiresAt")
			_, err = w.g.Authenticate(w.t.Context(), token, gate.Call{})
			want(w.t, err, vsecure.EUnauthenticated, "authenticating the token at expiresAt")
			_, err = w.read(tok, dbURI)
			want(w.t, err, vsecure.EExpired, "token read with the scope resolved before expiresAt")
			if v, err := w.g.GetApproval(w.t.Context(), agent, id); err != nil || v.Status != vsecure.StatusExpired {
				w.t.Fatalf("status after expiresAt: %v %s", err, v.Status)
			}
		}},
		{"expired_approval_cannot_be_revoked", func(w *world) {
			id, _ := w.approved()
			w.clock.Advance(time.Hour)
			_, err := w.g.Revoke(w.t.Context(), w.as("alice"), id)
			want(w.t, err, vsecure.EExpired, "revoke after expiresAt")
		}},
		{"workflow_expires_only_after_expiresAt", func(w *world) {
			id := w.pending(dbURI)
			_, err := w.g.Expire(w.t.Context(), id)
			want(w.t, err, vsecure.EInvalid, "expire before expiresAt")
			w.clock.Advance(time.Hour)
			a, err := w.g.Expire(w.t.Context(), id)
			want(w.t, err, "", "expire at expiresAt")
			if a.Status != vsecure.StatusExpired {
				w.t.Fatalf("status %s", a.Status)
			}
			_, err = w.g.Expire(w.t.Context(), id)
			want(w.t, err, vsecure.EAlreadyDecided, "expire twice")
		}},
		{"status_filter_judges_expiry", func(w *world) {
			for range 3 {
				w.pending(dbURI)
			}
			agent := w.as("ai-agent-123")
			count := func(st string) int {
				l, _, err := w.g.ListApprovals(w.t.Context(), agent, gate.ApprovalQuery{Status: vsecure.Status(st)})
				want(w.t, err, "", "list "+st)
				return len(l)
			}
			if p, e := count("pending"), count("expired"); p != 3 || e != 0 {
				w.t.Fatalf("before expiry: %d pending, %d expired", p, e)
			}
			w.clock.Advance(2 * time.Hour)
			if p, e := count("pending"), count("expired"); p != 0 || e != 3 {
				w.t.Fatalf("after expiry: %d pending, %d expired", p, e)
			}
		}},
		{"rotated_key_expires_after_the_overlap", func(w *world) {
			old := w.as("ai-agent-123")
			r, err := w.g.RotateKey(w.t.Context(), w.as("admin"), w.keys["ai-agent-123"].ID, api.RotateRequest{OverlapSeconds: ptr(60)})
			want(w.t, err, "", "rotate")
			if r.Replaces.ExpiresAt == nil || !r.Replaces.ExpiresAt.Equal(start.Add(time.Minute)) || r.RotatedFrom != w.keys["ai-agent-123"].ID ||
				r.Principal != "ai-agent-123" || !slices.Equal(r.Roles, []vsecure.Role{vsecure.RoleAgent}) {
				w.t.Fatalf("rotation: %+v", r)
			}
			w.clock.Advance(59 * time.Second)
			_, err = w.g.Authenticate(w.t.Context(), w.cred("ai-agent-123"), gate.Call{})
			want(w.t, err, "", "old key within the overlap")
			w.clock.Advance(time.Second)
			_, err = w.g.Authenticate(w.t.Context(), w.cred("ai-agent-123"), gate.Call{})
			want(w.t, err, vsecure.EUnauthenticated, "old key after the overlap")
			_, err = w.read(old, stagingURI)
			want(w.t, err, vsecure.EUnauthenticated, "old key's principal resolved before its expiry")
			_, err = w.read(w.login(r.Secret), stagingURI)
			want(w.t, err, "", "new key")
		}},
		{"default_overlap_is_an_hour_and_zero_ends_at_once", func(w *world) {
			admin := w.as("admin")
			first := w.keys["ai-agent-123"].ID
			r, err := w.g.RotateKey(w.t.Context(), admin, first, api.RotateRequest{})
			want(w.t, err, "", "rotate")
			if !r.Replaces.ExpiresAt.Equal(start.Add(time.Hour)) {
				w.t.Fatalf("default overlap ends at %s", r.Replaces.ExpiresAt)
			}
			r2, err := w.g.RotateKey(w.t.Context(), admin, r.ID, api.RotateRequest{OverlapSeconds: ptr(0)})
			want(w.t, err, "", "rotate with no overlap")
			_, err = w.g.Authenticate(w.t.Context(), r.Secret, gate.Call{})
			want(w.t, err, vsecure.EUnauthenticated, "key rotated with no overlap")
			_, err = w.g.Authenticate(w.t.Context(), r2.Secret, gate.Call{})
			want(w.t, err, "", "its replacement")
			// A second rotation of the first key never lengthens its life.
			r3, err := w.g.RotateKey(w.t.Context(), admin, first, api.RotateRequest{OverlapSeconds: ptr(7200)})
			want(w.t, err, "", "rotate the first key again")
			if !r3.Replaces.ExpiresAt.Equal(start.Add(time.Hour)) {
				w.t.Fatalf("re-rotation moved the end to %s", r3.Replaces.ExpiresAt)
			}
		}},
		{"expired_key_cannot_be_rotated", func(w *world) {
			admin := w.as("admin")
			id := w.keys["ai-agent-123"].ID
			_, err := w.g.RotateKey(w.t.Context(), admin, id, api.RotateRequest{OverlapSeconds: ptr(60)})
			want(w.t, err, "", "rotate")
			w.clock.Advance(time.Minute)
			_, err = w.g.RotateKey(w.t.Context(), w.as("admin"), id, api.RotateRequest{})
			want(w.t, err, vsecure.EExpired, "rotate the expired key")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { tc.run(newWorld(t)) })
	}
}

func TestRevocation(t *testing.T) {
	cases := []struct {
		name string
		run  func(w *world)
	}{
		{"revoked_approval_ends_its_token_and_grant_at_once", func(w *world) {
			id, token := w.approved()
			tok := w.login(token)
			r, err := w.g.Revoke(w.t.Context(), w.as("alice"), id)
			want(w.t, err, "", "revoke")
			if r.Status != vsecure.StatusRevoked || r.RevokedBy != "alice" || r.RevokedAt == nil {
				w.t.Fatalf("revoked view: %+v", r)
			}
			_, err = w.g.Authenticate(w.t.Context(), token, gate.Call{})
			want(w.t, err, vsecure.EUnauthenticated, "authenticating the token")
			_, err = w.read(tok, dbURI)
			want(w.t, err, vsecure.EUnauthenticated, "token read with the scope resolved before the revocation")
			_, err = w.read(w.as("ai-agent-123"), dbURI)
			want(w.t, err, vsecure.EApprovalRequired, "key read after the revocation")
		}},
		{"admin_may_revoke", func(w *world) {
			id, _ := w.approved()
			_, err := w.g.Revoke(w.t.Context(), w.as("admin"), id)
			want(w.t, err, "", "admin revoke")
		}},
		{"requester_cannot_revoke", func(w *world) {
			id, _ := w.approved()
			_, err := w.g.Revoke(w.t.Context(), w.as("ai-agent-123"), id)
			want(w.t, err, vsecure.ENotApprover, "requester revoke")
		}},
		{"unlisted_approver_cannot_revoke", func(w *world) {
			id, _ := w.approved()
			_, err := w.g.Revoke(w.t.Context(), w.as("carol"), id)
			want(w.t, err, vsecure.ENotApprover, "carol revoke")
			if st := w.stored(id).Status; st != vsecure.StatusApproved {
				w.t.Fatalf("status %s after a refused revocation", st)
			}
		}},
		{"revocation_is_final", func(w *world) {
			id, _ := w.approved()
			_, err := w.g.Revoke(w.t.Context(), w.as("alice"), id)
			want(w.t, err, "", "revoke")
			_, err = w.g.Revoke(w.t.Context(), w.as("admin"), id)
			want(w.t, err, vsecure.EAlreadyDecided, "revoke twice")
		}},
		{"pending_approval_is_denied_not_revoked", func(w *world) {
			id := w.pending(dbURI)
			_, err := w.g.Revoke(w.t.Context(), w.as("alice"), id)
			want(w.t, err, vsecure.EAlreadyDecided, "revoke pending")
		}},
		{"denied_approval_cannot_be_revoked", func(w *world) {
			id := w.pending(dbURI)
			_, err := w.decide("alice", id, "deny")
			want(w.t, err, "", "deny")
			_, err = w.g.Revoke(w.t.Context(), w.as("alice"), id)
			want(w.t, err, vsecure.EAlreadyDecided, "revoke denied")
		}},
		{"revoked_key_stops_at_once", func(w *world) {
			agent := w.as("ai-agent-123")
			_, err := w.g.RevokeKey(w.t.Context(), w.as("admin"), w.keys["ai-agent-123"].ID)
			want(w.t, err, "", "revoke key")
			_, err = w.g.Authenticate(w.t.Context(), w.cred("ai-agent-123"), gate.Call{})
			want(w.t, err, vsecure.EUnauthenticated, "authenticating the revoked key")
			_, err = w.read(agent, stagingURI)
			want(w.t, err, vsecure.EUnauthenticated, "read with the principal resolved before the revocation")
			_, err = w.write(agent, stagingURI, "x")
			want(w.t, err, vsecure.EUnauthenticated, "write with the principal resolved before the revocation")
			_, err = w.g.LivePrincipal(w.t.Context(), agent.Principal)
			want(w.t, err, vsecure.EUnauthenticated, "live principal of the revoked key")
		}},
		{"key_revocation_is_final", func(w *world) {
			id := w.keys["ai-agent-123"].ID
			_, err := w.g.RevokeKey(w.t.Context(), w.as("admin"), id)
			want(w.t, err, "", "revoke key")
			_, err = w.g.RevokeKey(w.t.Context(), w.as("admin"), id)
			want(w.t, err, vsecure.EAlreadyDecided, "revoke key twice")
			_, err = w.g.RotateKey(w.t.Context(), w.as("admin"), id, api.RotateRequest{})
			want(w.t, err, vsecure.EAlreadyDecided, "rotate the revoked key")
			_, err = w.g.RevokeKey(w.t.Context(), w.as("admin"), "key_missing")
			want(w.t, err, vsecure.ENotFound, "revoke a missing key")
		}},
		{"revoking_the_requesting_key_ends_the_token", func(w *world) {
			id, token := w.approved()
			tok := w.login(token)
			_, err := w.g.RevokeKey(w.t.Context(), w.as("admin"), w.keys["ai-agent-123"].ID)
			want(w.t, err, "", "revoke key")
			_, err = w.g.Authenticate(w.t.Context(), token, gate.Call{})
			want(w.t, err, vsecure.EUnauthenticated, "authenticating the token of the revoked key")
			_, err = w.read(tok, dbURI)
			want(w.t, err, vsecure.EUnauthenticated, "token read with the scope resolved before the key's revocation")
			if st := w.stored(id).Status; st != vsecure.StatusApproved {
				w.t.Fatalf("the approval itself is %s; only its token ends", st)
			}
		}},
		{"rotating_the_requesting_key_away_ends_the_token", func(w *world) {
			_, token := w.approved()
			_, err := w.g.RotateKey(w.t.Context(), w.as("admin"), w.keys["ai-agent-123"].ID, api.RotateRequest{OverlapSeconds: ptr(0)})
			want(w.t, err, "", "rotate with no overlap")
			_, err = w.g.Authenticate(w.t.Context(), token, gate.Call{})
			want(w.t, err, vsecure.EUnauthenticated, "token of the rotated-away key")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { tc.run(newWorld(t)) })
	}
}

func TestAutoApproveWindows(t *testing.T) {
	const ciURI = "vsecure://secrets/ci/TOKEN"
	utc := func(s string) time.Time {
		at, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return at
	}
	cases := []struct {
		name      string
		auto      *vsecure.AutoApprove // nil: the policy needs no approval at all
		requester string
		at        string
		approved  bool
	}{
		{"inside_a_utc_window", window("09:00-17:00 UTC"), "ai-agent-123", "2024-03-15T10:30:00Z", true},
		{"before_the_window", window("09:00-17:00 UTC"), "ai-agent-123", "2024-03-15T08:59:59Z", false},
		{"start_is_inclusive", window("09:00-17:00 UTC"), "ai-agent-123", "2024-03-15T09:00:00Z", true},
		{"last_second_is_inside", window("09:00-17:00 UTC"), "ai-agent-123", "2024-03-15T16:59:59Z", true},
		{"end_is_exclusive", window("09:00-17:00 UTC"), "ai-agent-123", "2024-03-15T17:00:00Z", false},
		{"whole_day", window("00:00-24:00 UTC"), "ai-agent-123", "2024-03-15T23:59:59Z", true},
		{"across_midnight_late", window("22:00-06:00 UTC"), "ai-agent-123", "2024-03-15T23:30:00Z", true},
		{"across_midnight_early", window("22:00-06:00 UTC"), "ai-agent-123", "2024-03-16T05:59:00Z", true},
		{"across_midnight_ends_at_end", window("22:00-06:00 UTC"), "ai-agent-123", "2024-03-16T06:00:00Z", false},
		{"across_midnight_midday_is_outside", window("22:00-06:00 UTC"), "ai-agent-123", "2024-03-15T12:00:00Z", false},
		{"pst_means_pacific_daylight_time_in_summer", window("09:00-17:00 PST"), "ai-agent-123", "2024-07-01T16:30:00Z", true},       // 09:30 PDT
		{"pst_summer_end_in_pdt", window("09:00-17:00 PST"), "ai-agent-123", "2024-07-02T00:00:00Z", false},                          // 17:00 PDT
		{"pst_in_winter_before_start", window("09:00-17:00 PST"), "ai-agent-123", "2024-01-15T16:59:00Z", false},                     // 08:59 PST
		{"pst_in_winter_at_start", window("09:00-17:00 PST"), "ai-agent-123", "2024-01-15T17:00:00Z", true},                          // 09:00 PST
		{"iana_zone_a_day_ahead_of_utc", window("09:00-10:00 Asia/Tokyo"), "ai-agent-123", "2024-03-15T00:30:00Z", true},             // 09:30 JST
		{"iana_zone_previous_utc_day", window("09:00-10:00 Asia/Tokyo"), "ai-agent-123", "2024-03-14T23:59:00Z", false},              // 08:59 JST
		{"dst_spring_forward_skipped_hour", window("01:30-02:30 America/New_York"), "ai-agent-123", "2024-03-10T06:45:00Z", true},    // 01:45 EST
		{"dst_spring_forward_after_the_jump", window("01:30-02:30 America/New_York"), "ai-agent-123", "2024-03-10T07:00:00Z", false}, // 03:00 EDT
		{"trusted_requester_in_the_window", windowFor("09:00-17:00 UTC", "trusted-agent-1"), "trusted-agent-1", "2024-03-15T10:30:00Z", true},
		{"untrusted_requester_in_the_window", windowFor("09:00-17:00 UTC", "trusted-agent-1"), "ai-agent-123", "2024-03-15T10:30:00Z", false},
		{"trusted_requester_out_of_the_window", windowFor("09:00-17:00 UTC", "trusted-agent-1"), "trusted-agent-1", "2024-03-15T18:00:00Z", false},
		{"requester_list_alone", windowFor("", "trusted-agent-1"), "trusted-agent-1", "2024-03-15T03:00:00Z", true},
		{"no_conditions_approve_everyone", &vsecure.AutoApprove{Enabled: true}, "ai-agent-123", "2024-03-15T03:00:00Z", true},
		{"disabled_block_never_approves", &vsecure.AutoApprove{Enabled: false}, "ai-agent-123", "2024-03-15T10:30:00Z", false},
		{"policy_without_approval_grants_at_once", nil, "ai-agent-123", "2024-03-15T03:00:00Z", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, utc(tc.at))
			if tc.requester == "trusted-agent-1" {
				k, err := w.g.CreateKey(t.Context(), w.as("admin"), api.KeyRequest{Principal: tc.requester, Roles: []string{"agent"}})
				want(t, err, "", "trusted key")
				w.keys[tc.requester] = k
			}
			p := vsecure.Policy{URI: "vsecure://secrets/ci/*", Permissions: []vsecure.Operation{vsecure.OpRead},
				RequiresApproval: tc.auto != nil, AutoApprove: tc.auto}
			if tc.auto != nil {
				p.Approvers = []string{"alice"}
			}
			w.configure(p)
			v := "ci token"
			_, err := w.g.WriteSecret(t.Context(), w.as("admin"), uri(t, ciURI), api.SecretWrite{Value: &v})
			want(t, err, "", "write")
			a, err := w.request(tc.requester, ciURI, "read", nil)
			want(t, err, "", "request")
			_, readErr := w.read(w.as(tc.requester), ciURI)
			if !tc.approved {
				if a.Status != vsecure.StatusPending || a.AccessToken != "" || a.ApprovedBy != "" {
					t.Fatalf("auto-approved at %s: %+v", tc.at, a)
				}
				want(t, readErr, vsecure.EApprovalRequired, "read of a pending request")
				return
			}
			if a.Status != vsecure.StatusApproved || a.ApprovedBy != vsecure.AutoApprover || !strings.HasPrefix(a.AccessToken, gate.TokenPrefix) ||
				a.ApprovedAt == nil || !a.ApprovedAt.Equal(a.RequestedAt) {
				t.Fatalf("not auto-approved at %s: %+v", tc.at, a)
			}
			want(t, readErr, "", "requester's read")
			r, err := w.read(w.login(a.AccessToken), ciURI)
			want(t, err, "", "token read")
			if r.Value != v {
				t.Fatalf("token read %q", r.Value)
			}
			// Audited like any other request, naming the auto approver.
			if e := w.entry(vsecure.AuditRequestApproval, tc.requester); !e.Success || e.ApprovalID != a.ID || e.Metadata["approvedBy"] != vsecure.AutoApprover {
				t.Fatalf("request entry: %+v", e)
			}
		})
	}
}

func window(tw string) *vsecure.AutoApprove {
	return &vsecure.AutoApprove{Enabled: true, Conditions: vsecure.AutoApproveConditions{TimeWindow: tw}}
}

func windowFor(tw string, requesters ...string) *vsecure.AutoApprove {
	a := window(tw)
	a.Conditions.Requester = requesters
	return a
}

// TestConcurrentDecisions: approvers racing on one request have exactly
// the winners the rules allow; the losers see already_decided.
func TestConcurrentDecisions(t *testing.T) {
	cases := []struct {
		name    string
		quorum  int
		mixed   bool // odd approvers deny
		winners int
		status  vsecure.Status // "": approved or denied, whoever wins
	}{
		{"one_decision_wins", 1, true, 1, ""},
		{"one_approval_wins", 1, false, 1, vsecure.StatusApproved},
		{"quorum_counts_each_vote_once", 2, false, 2, vsecure.StatusApproved},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			var names []string
			for i := range 12 {
				n := "appr-" + strconv.Itoa(i)
				k, err := w.g.CreateKey(t.Context(), w.as("admin"), api.KeyRequest{Principal: n, Roles: []string{"approver"}})
				want(t, err, "", "approver key")
				w.keys[n] = k
				names = append(names, n)
			}
			w.configure(vsecure.Policy{URI: "vsecure://secrets/race/*", Permissions: []vsecure.Operation{vsecure.OpRead},
				RequiresApproval: true, Approvers: names, RequiredApprovals: tc.quorum})
			id := w.pending("vsecure://secrets/race/X")
			calls := make([]gate.Call, len(names))
			for i, n := range names {
				calls[i] = w.as(n)
			}
			views := make([]api.ApprovalView, len(names))
			errs := make([]error, len(names))
			var wg sync.WaitGroup
			for i := range names {
				wg.Go(func() {
					action := "approve"
					if tc.mixed && i%2 == 1 {
						action = "deny"
					}
					views[i], errs[i] = w.g.Decide(t.Context(), calls[i], id, api.Respond{Action: action})
				})
			}
			wg.Wait()
			won, tokens := 0, 0
			for i, err := range errs {
				switch {
				case err == nil:
					won++
					if views[i].AccessToken != "" {
						tokens++
					}
				case !vsecure.IsCode(err, vsecure.EAlreadyDecided):
					t.Fatalf("%s: %v, want success or already_decided", names[i], err)
				}
			}
			a := w.stored(id)
			decided := a.Status == tc.status || tc.status == "" && (a.Status == vsecure.StatusApproved || a.Status == vsecure.StatusDenied)
			if won != tc.winners || len(a.Decisions) != tc.winners || !decided {
				t.Fatalf("%d won, %d decisions stored, status %s; want %d winners, status %q", won, len(a.Decisions), a.Status, tc.winners, tc.status)
			}
			if wantTokens := boolInt(a.Status == vsecure.StatusApproved); tokens != wantTokens {
				t.Fatalf("%d access tokens issued, want %d", tokens, wantTokens)
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
