// Package sample seeds the small world that the events/ files describe:
// the keys whose identities the sample authorizer contexts name (issued an
// hour ago, so the audit digest step has a closed window to seal), two
// policies, two secrets and three approvals with fixed ids. Tests and
// `make invoke` seed it into fresh tables so every sample event hits its
// main success case. The credentials below are published on purpose: they
// only ever exist in local emulators.
package sample

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// Sample credentials (the authorizer events carry AdminKey and BadKey).
const (
	AdminKey    = "vsk_sample-admin-key-for-local-emulators-only-000001"
	AgentKey    = "vsk_sample-agent-key-for-local-emulators-only-000002"
	ApproverKey = "vsk_sample-alice-key-for-local-emulators-only-000003"
	// BadKey is well formed but belongs to no one.
	BadKey = "vsk_sample-unknown-key-that-no-store-holds-00000099"
	// SlackSigningSecret signs events/slack-interactions.json.
	SlackSigningSecret = "sample-slack-signing-secret-for-local-emulators-only"
)

// Fixed ids the events refer to.
const (
	AdminKeyID    = "key_sample_admin"
	AgentKeyID    = "key_sample_agent"
	ApproverKeyID = "key_sample_alice"
	SpareKeyID    = "key_sample_spare"  // revoked by events/keys-delete.json
	RotateKeyID   = "key_sample_rotate" // rotated by events/keys-rotate.json
	// ErinKeyID gets a Slack user id from events/keys-update.json.
	ErinKeyID       = "key_sample_erin"
	PendingApproval = "appr_sample_pending"
	GrantedApproval = "appr_sample_granted"
	// SlackApproval is approved by alice's button press in
	// events/slack-interactions.json.
	SlackApproval = "appr_sample_slack"
	// CancelApproval is cancelled by its requester in
	// events/approvals-cancel.json.
	CancelApproval = "appr_sample_cancel"
	// AliceSlackUser is the Slack user id on alice's key.
	AliceSlackUser   = "U0SAMPLEALICE"
	StagingSecret    = "vsecure://secrets/staging/API_TOKEN"
	ProductionSecret = "vsecure://secrets/production/DATABASE_URL"
	StagingValue     = "sample-staging-token"
	ProductionValue  = "postgres://sample:sample@db.internal/app"
)

// Approvals past their expiresAt, for the workflow's Expire and Revoke
// tasks (events/workflow-expire.json, events/workflow-revoke.json).
const (
	OverdueApproval = "appr_sample_overdue" // pending
	LapsedApproval  = "appr_sample_lapsed"  // approved
)

// Seed writes the sample world through the store (keys, approvals with
// fixed ids) and the gate (policies and secrets, so values are sealed the
// way the deployment seals them).
func Seed(ctx context.Context, g *gate.Gate, now time.Time) error {
	st := g.Store()
	now = now.UTC().Truncate(time.Second)
	issued := now.Add(-time.Hour)
	// Entry ids also name the DynamoDB transactions (ClientRequestToken), so
	// they differ per seeding: two deployments into one emulator within
	// DynamoDB's ten-minute idempotency window must not collide.
	run := strconv.FormatUint(rand.Uint64(), 36)
	boot := vsecure.Entry{Operation: vsecure.AuditKeyCreate, Actor: "bootstrap", Success: true, Timestamp: issued}
	keys := []struct {
		id, principal, secret, slackUser string
		roles                            []vsecure.Role
	}{
		{AdminKeyID, "admin", AdminKey, "", []vsecure.Role{vsecure.RoleAdmin}},
		{AgentKeyID, "agent-1", AgentKey, "", []vsecure.Role{vsecure.RoleAgent}},
		{ApproverKeyID, "alice", ApproverKey, AliceSlackUser, []vsecure.Role{vsecure.RoleApprover}},
		{SpareKeyID, "bob", "vsk_sample-bob-key-for-local-emulators-only-00000004", "", []vsecure.Role{vsecure.RoleAgent}},
		{RotateKeyID, "dave", "vsk_sample-dave-key-for-local-emulators-only-00000005", "", []vsecure.Role{vsecure.RoleAgent}},
		{ErinKeyID, "erin", "vsk_sample-erin-key-for-local-emulators-only-00000006", "", []vsecure.Role{vsecure.RoleApprover}},
	}
	for i, k := range keys {
		e := boot
		e.ID = fmt.Sprintf("log_sample_key_%s_%d", run, i)
		e.Metadata = map[string]string{"keyId": k.id, "principal": k.principal}
		err := st.CreateKey(ctx, vsecure.Key{ID: k.id, Principal: k.principal, Roles: k.roles, SlackUserID: k.slackUser,
			Hash: gate.HashCredential(k.secret), CreatedAt: issued, CreatedBy: "bootstrap"}, e)
		if err != nil {
			return fmt.Errorf("seed key %s: %w", k.id, err)
		}
	}
	admin := gate.Call{Principal: vsecure.Principal{ID: "admin", Roles: []vsecure.Role{vsecure.RoleAdmin}, KeyID: AdminKeyID}, RequestID: "seed"}
	for _, p := range []vsecure.Policy{
		{URI: "vsecure://secrets/staging/*", Name: "Staging", Permissions: []vsecure.Operation{vsecure.OpRead, vsecure.OpWrite}},
		{URI: "vsecure://secrets/production/*", Name: "Production", Permissions: []vsecure.Operation{vsecure.OpRead},
			RequiresApproval: true, Approvers: []string{"alice"}, RequiredApprovals: 1},
	} {
		if _, err := g.ConfigurePolicy(ctx, admin, p); err != nil {
			return fmt.Errorf("seed policy %s: %w", p.URI, err)
		}
	}
	for uri, v := range map[string]string{StagingSecret: StagingValue, ProductionSecret: ProductionValue} {
		u, err := vsecure.ParseURI(uri)
		if err != nil {
			return err
		}
		if _, err := g.WriteSecret(ctx, admin, u, api.SecretWrite{Value: &v}); err != nil {
			return fmt.Errorf("seed secret %s: %w", uri, err)
		}
	}
	for i, id := range []string{PendingApproval, GrantedApproval, SlackApproval, CancelApproval} {
		a := vsecure.Approval{
			ID: id, Resource: ProductionSecret, Operation: vsecure.OpRead, Reason: "sample request",
			RequestedBy: "agent-1", RequestedByKey: AgentKeyID, RequestedAt: now, ExpiresAt: now.Add(time.Hour), TTL: 3600,
			Status: vsecure.StatusPending, Approvers: []string{"alice"}, RequiredApprovals: 1, Version: 1,
		}
		e := vsecure.Entry{ID: fmt.Sprintf("log_sample_appr_%s_%d", run, i), Timestamp: now, Resource: a.Resource,
			Operation: vsecure.AuditRequestApproval, Actor: "agent-1", Success: true, ApprovalID: id,
			Metadata: map[string]string{"requestId": "seed"}}
		if err := st.CreateApproval(ctx, a, e); err != nil {
			return fmt.Errorf("seed approval %s: %w", id, err)
		}
	}
	past := now.Add(-time.Hour)
	for i, id := range []string{OverdueApproval, LapsedApproval} {
		a := vsecure.Approval{
			ID: id, Resource: ProductionSecret, Operation: vsecure.OpRead, Reason: "sample request",
			RequestedBy: "agent-1", RequestedByKey: AgentKeyID, RequestedAt: past.Add(-time.Hour), ExpiresAt: past, TTL: 3600,
			Status: vsecure.StatusPending, Approvers: []string{"alice"}, RequiredApprovals: 1, Version: 1,
		}
		if id == LapsedApproval {
			a.Status, a.ApprovedBy, a.ApprovedAt = vsecure.StatusApproved, "alice", &a.RequestedAt
		}
		e := vsecure.Entry{ID: fmt.Sprintf("log_sample_due_%s_%d", run, i), Timestamp: now, Resource: a.Resource,
			Operation: vsecure.AuditRequestApproval, Actor: "agent-1", Success: true, ApprovalID: id,
			Metadata: map[string]string{"requestId": "seed"}}
		if err := st.CreateApproval(ctx, a, e); err != nil {
			return fmt.Errorf("seed approval %s: %w", id, err)
		}
	}
	alice := gate.Call{Principal: vsecure.Principal{ID: "alice", Roles: []vsecure.Role{vsecure.RoleApprover}}, RequestID: "seed"}
	if _, err := g.Decide(ctx, alice, GrantedApproval, api.Respond{Action: "approve"}); err != nil {
		return fmt.Errorf("seed approval %s: %w", GrantedApproval, err)
	}
	return nil
}
