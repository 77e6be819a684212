package gate_test

// Step-up: on a policy with stepUp, deciding or revoking an approval needs
// a fresh passkey step-up on the call. No credential carries one (API
// keys, MCP, Slack), so today only a call the console builds can decide.

import (
	"errors"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/vsecure"
)

const guardedURI = "vsecure://secrets/guarded/K" // guarded/*: read, alice or bob, stepUp

// guarded adds the stepUp policy and a secret under it to w.
func (w *world) guarded(auto *vsecure.AutoApprove) {
	w.t.Helper()
	w.configure(vsecure.Policy{URI: "vsecure://secrets/guarded/*", Permissions: []vsecure.Operation{vsecure.OpRead},
		RequiresApproval: true, StepUp: true, Approvers: []string{"alice", "bob"}, AutoApprove: auto})
	if _, err := w.write(w.as("admin"), guardedURI, "guarded value"); err != nil {
		w.t.Fatal(err)
	}
}

// stepped is principal's call with a passkey step-up made age ago.
func (w *world) stepped(principal string, age time.Duration) gate.Call {
	c := w.as(principal)
	c.StepUp = &vsecure.StepUp{Method: vsecure.StepUpPasskey, CredentialID: "cred-" + principal, At: w.clock.Now().Add(-age)}
	return c
}

func TestStepUp(t *testing.T) {
	fresh := time.Minute
	type row struct {
		name   string
		action string // approve, deny or revoke (of an approval granted with a fresh step-up)
		by     string
		stepUp func(w *world, by string) gate.Call
		code   vsecure.Code
	}
	plain := func(w *world, by string) gate.Call { return w.as(by) }
	aged := func(age time.Duration) func(w *world, by string) gate.Call {
		return func(w *world, by string) gate.Call { return w.stepped(by, age) }
	}
	method := func(m, cred string) func(w *world, by string) gate.Call {
		return func(w *world, by string) gate.Call {
			c := w.as(by)
			c.StepUp = &vsecure.StepUp{Method: m, CredentialID: cred, At: w.clock.Now()}
			return c
		}
	}
	cases := []row{
		{"approve_without_step_up_refused", "approve", "alice", plain, vsecure.EStepUpRequired},
		{"deny_without_step_up_refused", "deny", "alice", plain, vsecure.EStepUpRequired},
		{"revoke_without_step_up_refused", "revoke", "alice", plain, vsecure.EStepUpRequired},
		{"admin_revoke_without_step_up_refused", "revoke", "admin", plain, vsecure.EStepUpRequired},
		{"approve_with_stale_step_up_refused", "approve", "alice", aged(vsecure.StepUpMaxAge + time.Second), vsecure.EStepUpRequired},
		{"revoke_with_stale_step_up_refused", "revoke", "bob", aged(vsecure.StepUpMaxAge + time.Second), vsecure.EStepUpRequired},
		{"step_up_from_the_future_refused", "approve", "alice", aged(-vsecure.StepUpSkew - time.Second), vsecure.EStepUpRequired},
		{"approve_with_wrong_method_refused", "approve", "alice", method("totp", "cred-alice"), vsecure.EStepUpRequired},
		{"approve_without_credential_refused", "approve", "alice", method(vsecure.StepUpPasskey, ""), vsecure.EStepUpRequired},
		{"approve_with_fresh_passkey", "approve", "alice", aged(fresh), ""},
		{"approve_at_the_max_age", "approve", "bob", aged(vsecure.StepUpMaxAge), ""},
		{"deny_with_fresh_passkey", "deny", "bob", aged(fresh), ""},
		{"revoke_with_fresh_passkey", "revoke", "alice", aged(fresh), ""},
		{"admin_revoke_with_fresh_passkey", "revoke", "admin", aged(fresh), ""},
		// The approval's own rules come first: a step-up makes nobody an approver.
		{"unlisted_approver_with_step_up_is_not_an_approver", "approve", "carol", aged(fresh), vsecure.ENotApprover},
		{"agent_with_step_up_cannot_decide", "approve", "ai-agent-999", aged(fresh), vsecure.EForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.guarded(nil)
			a, err := w.request("ai-agent-123", guardedURI, "read", nil)
			if err != nil || a.Status != vsecure.StatusPending || !a.StepUp {
				t.Fatalf("request: %v (status %s, stepUp %v)", err, a.Status, a.StepUp)
			}
			if tc.action == "revoke" {
				approver := "bob"
				if tc.by == "bob" {
					approver = "alice"
				}
				if _, err := w.g.Decide(t.Context(), w.stepped(approver, fresh), a.ID, api.Respond{Action: "approve"}); err != nil {
					t.Fatalf("approve before revoke: %v", err)
				}
			}
			before := w.stored(a.ID)
			c := tc.stepUp(w, tc.by)
			var v api.ApprovalView
			op := vsecure.AuditApprove
			switch tc.action {
			case "revoke":
				op = vsecure.AuditRevoke
				v, err = w.g.Revoke(t.Context(), c, a.ID)
			case "deny":
				op = vsecure.AuditDeny
				fallthrough
			default:
				v, err = w.g.Decide(t.Context(), c, a.ID, api.Respond{Action: tc.action})
			}
			want(t, err, tc.code, tc.by+" "+tc.action)
			if tc.code != "" {
				if st := w.stored(a.ID); st.Status != before.Status || len(st.Decisions) != len(before.Decisions) {
					t.Fatalf("a refused %s changed the approval: %s with %d decisions", tc.action, st.Status, len(st.Decisions))
				}
				e := w.refusal(op, tc.by)
				if e.Error != string(tc.code) || e.ApprovalID != a.ID {
					t.Fatalf("the refusal is not audited as %s: %+v", tc.code, e)
				}
				if tc.code == vsecure.EStepUpRequired {
					var de *vsecure.Error
					if !errors.As(err, &de) || de.Detail["approvalUrl"] != a.ApprovalURL || a.ApprovalURL == "" {
						t.Fatalf("the refusal does not point to the console at %q: %v", a.ApprovalURL, err)
					}
					if e.Resource != guardedURI || (c.StepUp != nil && e.Metadata["stepUp"] != c.StepUp.Method) {
						t.Fatalf("the refusal does not record the resource and the step-up presented: %+v", e)
					}
				}
				return
			}
			wantStatus := map[string]vsecure.Status{"approve": vsecure.StatusApproved, "deny": vsecure.StatusDenied, "revoke": vsecure.StatusRevoked}[tc.action]
			if v.Status != wantStatus || w.stored(a.ID).Status != wantStatus || !v.StepUp {
				t.Fatalf("%s: view %s (stepUp %v), stored %s; want %s", tc.action, v.Status, v.StepUp, w.stored(a.ID).Status, wantStatus)
			}
			if (v.AccessToken != "") != (tc.action == "approve") {
				t.Fatalf("%s: token issued %v", tc.action, v.AccessToken != "")
			}
			e := w.entry(op, tc.by)
			if !e.Success || e.Metadata["stepUp"] != vsecure.StepUpPasskey || e.Metadata["stepUpCredentialId"] != "cred-"+tc.by {
				t.Fatalf("the %s entry does not record the step-up: %+v", tc.action, e.Metadata)
			}
			if tc.action == "approve" {
				if _, err := w.read(w.login(v.AccessToken), guardedURI); err != nil {
					t.Fatalf("read with the stepped-up approval's token: %v", err)
				}
			}
		})
	}
}

func TestStepUpViews(t *testing.T) {
	w := newWorld(t)
	w.guarded(nil)
	rs, err := w.g.ListResources(t.Context(), w.as("ai-agent-123"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.StepUp != (r.URI == "vsecure://secrets/guarded/*") {
			t.Fatalf("listed %s with stepUp %v", r.URI, r.StepUp)
		}
	}
	id := w.pending(guardedURI)
	for _, who := range []string{"ai-agent-123", "alice"} {
		v, err := w.g.GetApproval(t.Context(), w.as(who), id)
		if err != nil || !v.StepUp {
			t.Fatalf("%s sees the approval: %v (stepUp %v)", who, err, v.StepUp)
		}
	}
	other := w.pending(dbURI)
	if v, err := w.g.GetApproval(t.Context(), w.as("alice"), other); err != nil || v.StepUp {
		t.Fatalf("an approval without stepUp: %v (stepUp %v)", err, v.StepUp)
	}
	// Call metadata cannot claim a step-up.
	forged := w.as("bob")
	forged.Metadata = map[string]string{"stepUp": vsecure.StepUpPasskey, "stepUpCredentialId": "cred-bob"}
	_, err = w.g.Decide(t.Context(), forged, id, api.Respond{Action: "approve"})
	want(t, err, vsecure.EStepUpRequired, "approve with a step-up claimed in metadata")
	if e := w.refusal(vsecure.AuditApprove, "bob"); e.Metadata["stepUp"] != "" || e.Metadata["stepUpCredentialId"] != "" {
		t.Fatalf("the refusal records a step-up the call did not make: %+v", e.Metadata)
	}
	// Without stepUp a step-up is not needed, but one the call carries is
	// recorded: the entry says what the decider proved.
	if _, err := w.g.Decide(t.Context(), w.stepped("alice", time.Minute), other, api.Respond{Action: "approve"}); err != nil {
		t.Fatal(err)
	}
	if e := w.entry(vsecure.AuditApprove, "alice"); e.Metadata["stepUp"] != vsecure.StepUpPasskey {
		t.Fatalf("a carried step-up is not recorded: %+v", e.Metadata)
	}
}

// Auto-approve skips humans, so on a stepUp policy it still grants: that
// is the policy author's choice. Taking the grant back is a human's act
// and needs the step-up.
func TestStepUpAutoApprove(t *testing.T) {
	w := newWorld(t)
	w.guarded(windowFor("00:00-24:00 UTC", "ai-agent-123"))
	a, err := w.request("ai-agent-123", guardedURI, "read", nil)
	if err != nil || a.Status != vsecure.StatusApproved || a.ApprovedBy != vsecure.AutoApprover || a.AccessToken == "" || !a.StepUp {
		t.Fatalf("auto-approve on a stepUp policy: %v (%s by %q, stepUp %v)", err, a.Status, a.ApprovedBy, a.StepUp)
	}
	_, err = w.g.Revoke(t.Context(), w.as("alice"), a.ID)
	want(t, err, vsecure.EStepUpRequired, "revoke without step-up")
	_, err = w.g.Revoke(t.Context(), w.stepped("alice", 0), a.ID)
	want(t, err, "", "revoke with step-up")
}

func TestStepUpNeedsRequiresApproval(t *testing.T) {
	w := newWorld(t)
	_, err := w.g.ConfigurePolicy(t.Context(), w.as("admin"), vsecure.Policy{URI: "vsecure://secrets/loose/*",
		Permissions: []vsecure.Operation{vsecure.OpRead}, StepUp: true})
	want(t, err, vsecure.EInvalid, "stepUp without requiresApproval")
	if e := w.refusal(vsecure.AuditConfigure, "admin"); e.Error != string(vsecure.EInvalid) {
		t.Fatalf("the refusal is not audited: %+v", e)
	}
}
