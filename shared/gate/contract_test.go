package gate_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/store/storetest/stores"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// principal makes a key for id with roles and authenticates with it.
func (f *fixture) principal(id string, roles ...vsecure.Role) gate.Call {
	f.t.Helper()
	cred := f.gate.NewAdminKey()
	if err := f.gate.EnsureKey(f.t.Context(), cred, id, roles); err != nil {
		f.t.Fatal(err)
	}
	p, err := f.gate.Authenticate(f.t.Context(), cred, gate.Call{})
	if err != nil {
		f.t.Fatal(err)
	}
	return gate.Call{Principal: p}
}

// The gate says what approval a gated read needs, as a typed detail; where
// to request it is the HTTP layer's to say (no route in the gate).
func TestApprovalRequiredNamesTheApprovalNotTheRoute(t *testing.T) {
	stores.Both(t, func(t *testing.T, open stores.Opener) {
		f := newFixture(t, open(t))
		ctx := t.Context()
		admin := f.principal("root", vsecure.RoleAdmin)
		agent := f.principal("bot", vsecure.RoleAgent)
		if _, err := f.gate.ConfigurePolicy(ctx, admin, api.ResourceConfig{
			URI: "vsecure://secrets/production/*", Permissions: []vsecure.Operation{vsecure.OpRead},
			RequiresApproval: true, Approvers: []string{"alice"},
		}.Policy()); err != nil {
			t.Fatal(err)
		}
		u, _ := vsecure.ParseURI("vsecure://secrets/production/DB")
		v := "s3cret"
		if _, err := f.gate.WriteSecret(ctx, admin, u, api.SecretWrite{Value: &v}); err != nil {
			t.Fatal(err)
		}
		_, err := f.gate.ReadSecret(ctx, agent, u, 0)
		if !vsecure.IsCode(err, vsecure.EApprovalRequired) {
			t.Fatalf("read without approval: %v", err)
		}
		var need gate.ApprovalNeeded
		if !errors.As(err, &need) || need.Resource != u.String() || need.Operation != vsecure.OpRead {
			t.Fatalf("detail %+v, want read on %s", need, u)
		}
		if msg := vsecure.ErrorMessage(err); strings.Contains(msg, "/v1/") || msg != "read on vsecure://secrets/production/DB requires approval" {
			t.Fatalf("message %q", msg)
		}
	})
}

// The approval link is the composition's: the gate calls what it is given.
func TestApprovalURLIsInjected(t *testing.T) {
	stores.Both(t, func(t *testing.T, open stores.Opener) {
		f := newFixture(t, open(t), func(c *gate.Config) {
			c.ApprovalURL = func(id string) string { return "https://console.example/a/" + id }
		})
		ctx := t.Context()
		admin := f.principal("root", vsecure.RoleAdmin)
		agent := f.principal("bot", vsecure.RoleAgent)
		if _, err := f.gate.ConfigurePolicy(ctx, admin, api.ResourceConfig{
			URI: "vsecure://secrets/production/*", Permissions: []vsecure.Operation{vsecure.OpRead},
			RequiresApproval: true, Approvers: []string{"alice"},
		}.Policy()); err != nil {
			t.Fatal(err)
		}
		v, err := f.gate.RequestApproval(ctx, agent, api.ApprovalRequest{Resource: "vsecure://secrets/production/DB", Operation: "read"})
		if err != nil {
			t.Fatal(err)
		}
		if v.ApprovalURL != "https://console.example/a/"+v.ID || f.gate.ApprovalURL(v.ID) != v.ApprovalURL {
			t.Fatalf("approvalUrl %q for %s", v.ApprovalURL, v.ID)
		}
	})
}

// A completed reservation replays the response it was given, typed; which
// responses may be stored is the HTTP layer's rule, not the gate's.
func TestIdempotentReplayIsTyped(t *testing.T) {
	stores.Both(t, func(t *testing.T, open stores.Opener) {
		f := newFixture(t, open(t))
		ctx := t.Context()
		agent := f.principal("bot", vsecure.RoleAgent)
		res, err := f.gate.BeginIdempotent(ctx, agent, vsecure.AuditRequestApproval, "key-1", "fp-1")
		if err != nil || res.Replay != nil {
			t.Fatalf("first: %+v, %v", res, err)
		}
		want := gate.Response{Status: 201, Body: []byte(`{"approvalId":"appr_1"}` + "\n"), Withheld: []string{"accessToken"}}
		f.gate.CompleteIdempotent(ctx, res, want)
		again, err := f.gate.BeginIdempotent(ctx, agent, vsecure.AuditRequestApproval, "key-1", "fp-1")
		if err != nil || again.Replay == nil {
			t.Fatalf("retry: %+v, %v", again, err)
		}
		if got := *again.Replay; got.Status != want.Status || string(got.Body) != string(want.Body) || !slices.Equal(got.Withheld, want.Withheld) {
			t.Fatalf("replay %+v, want %+v", got, want)
		}

		// A released reservation runs again.
		res, err = f.gate.BeginIdempotent(ctx, agent, vsecure.AuditRequestApproval, "key-2", "fp-2")
		if err != nil {
			t.Fatal(err)
		}
		f.gate.ReleaseIdempotent(ctx, res)
		if again, err := f.gate.BeginIdempotent(ctx, agent, vsecure.AuditRequestApproval, "key-2", "fp-2"); err != nil || again.Replay != nil {
			t.Fatalf("after release: %+v, %v", again, err)
		}
	})
}

// The gate's queries take typed values (the HTTP layer parses the query
// string); the gate still refuses a range that ends before it starts.
func TestQueriesAreTyped(t *testing.T) {
	stores.Both(t, func(t *testing.T, open stores.Opener) {
		f := newFixture(t, open(t))
		ctx := t.Context()
		admin := f.principal("root", vsecure.RoleAdmin)
		agent := f.principal("bot", vsecure.RoleAgent)
		if _, _, err := f.gate.QueryAudit(ctx, agent, gate.AuditQuery{}); !vsecure.IsCode(err, vsecure.EForbidden) {
			t.Fatalf("agent reads the audit log: %v", err)
		}
		no := false
		logs, _, err := f.gate.QueryAudit(ctx, admin, gate.AuditQuery{Filter: vsecure.AuditFilter{Operation: vsecure.AuditQuery, Success: &no}})
		if err != nil || len(logs) != 1 || logs[0].Actor != "bot" {
			t.Fatalf("refused audit queries: %+v, %v", logs, err)
		}
		from := f.clock.Now()
		to := from.Add(-time.Hour)
		_, _, err = f.gate.QueryAudit(ctx, admin, gate.AuditQuery{Filter: vsecure.AuditFilter{From: from, To: to}})
		if vsecure.ErrorMessage(err) != "to is before from" {
			t.Fatalf("query: %v", err)
		}
		if _, err := f.gate.VerifyAudit(ctx, admin, from, to); vsecure.ErrorMessage(err) != "to is before from" {
			t.Fatalf("verify: %v", err)
		}
		if _, err := f.gate.ExportAudit(ctx, admin, from, to, ""); vsecure.ErrorMessage(err) != "to is before from" {
			t.Fatalf("export: %v", err)
		}
		if _, _, err := f.gate.ListApprovals(ctx, admin, gate.ApprovalQuery{Status: vsecure.StatusPending}); err != nil {
			t.Fatalf("approvals: %v", err)
		}
		u, _ := vsecure.ParseURI("vsecure://secrets/production/DB")
		if _, _, err := f.gate.ListSecrets(ctx, admin, &u, "", 0); vsecure.ErrorMessage(err) != "pattern must end in /*" {
			t.Fatalf("secrets under a concrete URI: %v", err)
		}
	})
}

// pattern parses a URI (pattern) for the gate's typed list queries.
func pattern(t *testing.T, s string) *vsecure.URI {
	t.Helper()
	u, err := vsecure.ParseURI(s)
	if err != nil {
		t.Fatal(err)
	}
	return &u
}
