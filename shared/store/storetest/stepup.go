package storetest

import (
	"bytes"
	"time"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/crypto/local"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// A stepUp policy is stored as is, and its approvals carry stepUp from
// request to revocation: a store that dropped the flag would let the API,
// MCP and Slack decide what only the console may.

func testStepUpPolicyRoundTrip(e *env) {
	p := e.policy("vsecure://secrets/production/*")
	p.StepUp = true
	e.ok(e.s.PutPolicy(e.ctx, p, e.entry(vsecure.AuditConfigure, p.URI, "admin")), "PutPolicy")
	got, err := e.s.ListPolicies(e.ctx)
	e.ok(err, "ListPolicies")
	e.same("ListPolicies", got, []vsecure.Policy{p})
	v := e.load("agent-1", "vsecure://secrets/production/DB", vsecure.OpRead, 0)
	if len(v.Policies) != 1 || !v.Policies[0].StepUp {
		e.t.Fatalf("LoadAccess candidates lost stepUp: %+v", v.Policies)
	}
}

func testStepUpApprovalRoundTrip(e *env) {
	a := e.approval("agent-1", "vsecure://secrets/production/DB", vsecure.OpRead)
	a.StepUp = true
	e.createApproval(a)
	got, err := e.s.GetApproval(e.ctx, a.ID)
	e.ok(err, "GetApproval")
	e.same("GetApproval", got, a)
	approved := e.approve(a)
	byToken, err := e.s.ApprovalByToken(e.ctx, approved.TokenHash)
	e.ok(err, "ApprovalByToken")
	e.same("ApprovalByToken", byToken, approved)
	listed, _, err := e.s.ListApprovals(e.ctx, vsecure.ApprovalFilter{Now: approved.RequestedAt}, "", 10)
	e.ok(err, "ListApprovals")
	e.same("ListApprovals", listed, []vsecure.Approval{approved})
	revoked := e.revoke(approved)
	got, err = e.s.GetApproval(e.ctx, a.ID)
	e.ok(err, "GetApproval after revoke")
	e.same("GetApproval after revoke", got, revoked)
}

// The gate over this store: without a fresh passkey step-up the decision
// is refused and audited; with one it is made and its entry names the
// credential.
func testStepUpGate(e *env) {
	now := base.Add(time.Hour)
	sealer, err := local.New(bytes.Repeat([]byte{7}, 32))
	e.ok(err, "local sealer")
	g, err := gate.New(gate.Config{
		Store: e.s, Sealer: sealer, CursorKey: bytes.Repeat([]byte("c"), 32), ApprovalRate: gate.NoApprovalRate,
		ApprovalURL: func(id string) string { return "https://vsecure.example/approvals/" + id },
		Now:         func() time.Time { return now },
	})
	e.ok(err, "gate.New")
	admin := gate.Call{Principal: vsecure.Principal{ID: "admin", Roles: []vsecure.Role{vsecure.RoleAdmin}}}
	p := e.policy("vsecure://secrets/production/*")
	p.StepUp = true
	_, err = g.ConfigurePolicy(e.ctx, admin, p)
	e.ok(err, "ConfigurePolicy")
	agent := gate.Call{Principal: vsecure.Principal{ID: "agent-1", Roles: []vsecure.Role{vsecure.RoleAgent}}}
	a, err := g.RequestApproval(e.ctx, agent, api.ApprovalRequest{Resource: "vsecure://secrets/production/DB", Operation: "read"})
	e.ok(err, "RequestApproval")
	if !a.StepUp {
		e.t.Fatal("the approval of a stepUp policy does not say stepUp")
	}
	alice := gate.Call{Principal: vsecure.Principal{ID: "alice", Roles: []vsecure.Role{vsecure.RoleApprover}}}
	_, err = g.Decide(e.ctx, alice, a.ID, api.Respond{Action: "approve"})
	e.code(err, vsecure.EStepUpRequired, "approve without step-up")
	alice.StepUp = &vsecure.StepUp{Method: vsecure.StepUpPasskey, CredentialID: "cred-alice", At: now.Add(-vsecure.StepUpMaxAge - time.Second)}
	_, err = g.Decide(e.ctx, alice, a.ID, api.Respond{Action: "approve"})
	e.code(err, vsecure.EStepUpRequired, "approve with a stale step-up")
	alice.StepUp.At = now.Add(-time.Minute)
	v, err := g.Decide(e.ctx, alice, a.ID, api.Respond{Action: "approve"})
	e.ok(err, "approve with a fresh step-up")
	if v.Status != vsecure.StatusApproved {
		e.t.Fatalf("status %s after a stepped-up approve", v.Status)
	}
	failed, ok := false, true
	refused := e.auditAll(vsecure.AuditFilter{Actor: "alice", Operation: vsecure.AuditApprove, Success: &failed})
	if len(refused) != 2 || refused[0].Error != string(vsecure.EStepUpRequired) || refused[1].Error != string(vsecure.EStepUpRequired) {
		e.t.Fatalf("refusals of alice: %+v, want two step_up_required", refused)
	}
	granted := e.auditAll(vsecure.AuditFilter{Actor: "alice", Operation: vsecure.AuditApprove, Success: &ok})
	if len(granted) != 1 || granted[0].Metadata["stepUp"] != vsecure.StepUpPasskey || granted[0].Metadata["stepUpCredentialId"] != "cred-alice" {
		e.t.Fatalf("the granted decision's entries: %+v, want one naming the passkey step-up", granted)
	}
}
