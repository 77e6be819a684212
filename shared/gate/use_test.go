package gate_test

import (
	"strings"
	"testing"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// Fixture resources of the use and maxUses rules.
const (
	toolsURI = "vsecure://secrets/tools/DEPLOY_KEY" // tools/*: use only, no approval
	onceURI  = "vsecure://secrets/once/K"           // once/*: read, auto-approved, maxUses 1
)

// useWorld is the rules world plus the use-only and one-time policies.
func useWorld(t *testing.T) *world {
	w := newWorld(t)
	w.configure(vsecure.Policy{URI: "vsecure://secrets/tools/*", Permissions: []vsecure.Operation{vsecure.OpUse}})
	w.configure(vsecure.Policy{URI: "vsecure://secrets/once/*", Permissions: []vsecure.Operation{vsecure.OpRead},
		RequiresApproval: true, Approvers: []string{"alice"}, MaxUses: 1, AutoApprove: &vsecure.AutoApprove{Enabled: true}})
	for _, u := range []string{toolsURI, onceURI} {
		w.write(w.as("admin"), u, "value of "+u)
	}
	return w
}

func (w *world) use(c gate.Call, resource string) (api.SecretRead, error) {
	return w.g.UseSecret(w.t.Context(), c, api.SecretUse{URI: resource, Command: "/usr/bin/psql", Host: "build-01"})
}

// approve has principal request op on resource and alice approve it.
func (w *world) approve(principal, resource, op string) api.ApprovalView {
	w.t.Helper()
	a, err := w.request(principal, resource, op, nil)
	if err != nil {
		w.t.Fatalf("request %s on %s: %v", op, resource, err)
	}
	d, err := w.decide("alice", a.ID, "approve")
	if err != nil || d.AccessToken == "" {
		w.t.Fatalf("approve: %v", err)
	}
	return d
}

func TestUsePermission(t *testing.T) {
	cases := []struct {
		name  string
		setup func(w *world) gate.Call // the caller, after any approval
		read  vsecure.Code             // its read of resource
		use   vsecure.Code             // its use of resource
		res   string
	}{
		{"use_only_policy_allows_use_not_read", func(w *world) gate.Call { return w.as("ai-agent-123") },
			vsecure.EOperationNotAllowed, "", toolsURI},
		{"read_policy_allows_use", func(w *world) gate.Call { return w.as("ai-agent-123") }, "", "", stagingURI},
		{"gated_use_needs_approval", func(w *world) gate.Call { return w.as("ai-agent-123") },
			vsecure.EApprovalRequired, vsecure.EApprovalRequired, dbURI},
		{"read_approval_allows_use", func(w *world) gate.Call {
			w.approve("ai-agent-123", dbURI, "read")
			return w.as("ai-agent-123")
		}, "", "", dbURI},
		{"use_approval_does_not_allow_read", func(w *world) gate.Call {
			w.approve("ai-agent-123", dbURI, "use")
			return w.as("ai-agent-123")
		}, vsecure.EApprovalRequired, "", dbURI},
		{"read_token_allows_use", func(w *world) gate.Call {
			return w.login(w.approve("ai-agent-123", dbURI, "read").AccessToken)
		}, "", "", dbURI},
		{"use_token_does_not_allow_read", func(w *world) gate.Call {
			return w.login(w.approve("ai-agent-123", dbURI, "use").AccessToken)
		}, vsecure.EForbidden, "", dbURI},
		{"another_agents_approval_does_not_allow_use", func(w *world) gate.Call {
			w.approve("ai-agent-999", dbURI, "use")
			return w.as("ai-agent-123")
		}, vsecure.EApprovalRequired, vsecure.EApprovalRequired, dbURI},
		{"no_policy_no_use", func(w *world) gate.Call { return w.as("ai-agent-123") },
			vsecure.EForbidden, vsecure.EForbidden, devURI},
		{"auditor_cannot_use", func(w *world) gate.Call { return w.as("auditor-1") },
			vsecure.EForbidden, vsecure.EForbidden, stagingURI},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := useWorld(t)
			c := tc.setup(w)
			s, err := w.use(c, tc.res)
			want(t, err, tc.use, "use")
			if tc.use == "" && s.Value != "value of "+tc.res && s.Value != dbValue {
				t.Fatalf("use returned value %q", s.Value)
			}
			_, err = w.read(c, tc.res)
			want(t, err, tc.read, "read")
		})
	}
}

// TestReadOfUseOnlySecretHints: the refusal names the way to use the
// value instead (the MCP server passes this message on).
func TestReadOfUseOnlySecretHints(t *testing.T) {
	w := useWorld(t)
	_, err := w.read(w.as("ai-agent-123"), toolsURI)
	want(t, err, vsecure.EOperationNotAllowed, "read of a use-only secret")
	msg := vsecure.ErrorMessage(err)
	for _, s := range []string{"vsecure run", "run_with_secrets", "vsecure://secrets/tools/*"} {
		if !strings.Contains(msg, s) {
			t.Errorf("refusal %q does not mention %q", msg, s)
		}
	}
	if strings.Contains(msg, "value of") {
		t.Fatalf("refusal leaks the value: %q", msg)
	}
}

func TestUseIsAudited(t *testing.T) {
	w := useWorld(t)
	if _, err := w.use(w.as("ai-agent-123"), toolsURI); err != nil {
		t.Fatal(err)
	}
	e := w.entry(vsecure.AuditUse, "ai-agent-123")
	if !e.Success || e.Resource != toolsURI || e.Metadata["command"] != "/usr/bin/psql" || e.Metadata["host"] != "build-01" || e.Metadata["version"] != "1" {
		t.Fatalf("use entry %+v", e)
	}
	info, _, err := w.g.ListSecrets(t.Context(), w.as("admin"), nil, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range info {
		if s.URI == toolsURI && s.AccessCount != 1 {
			t.Fatalf("%s accessCount %d after one use, want 1", toolsURI, s.AccessCount)
		}
	}
	// A refused use is audited too, without the command it was refused for.
	_, err = w.g.UseSecret(t.Context(), w.as("ai-agent-999"), api.SecretUse{URI: toolsURI, Command: "a\nb", Host: "h"})
	want(t, err, vsecure.EInvalid, "use with a newline in the command")
	if r := w.refusal(vsecure.AuditUse, "ai-agent-999"); r.Metadata["command"] != "" {
		t.Fatalf("refused use audited the rejected command: %+v", r)
	}
}

func TestUseValidation(t *testing.T) {
	long := strings.Repeat("x", 257)
	cases := []struct {
		name string
		r    api.SecretUse
		code vsecure.Code
	}{
		{"argv0_and_host", api.SecretUse{URI: toolsURI, Command: "psql", Host: "build-01"}, ""},
		{"host_may_be_empty", api.SecretUse{URI: toolsURI, Command: "psql"}, ""},
		{"command_required", api.SecretUse{URI: toolsURI, Host: "h"}, vsecure.EInvalid},
		{"longest_command", api.SecretUse{URI: toolsURI, Command: long[:256]}, ""},
		{"command_too_long", api.SecretUse{URI: toolsURI, Command: long}, vsecure.EInvalid},
		{"command_with_nul", api.SecretUse{URI: toolsURI, Command: "ps\x00ql"}, vsecure.EInvalid},
		{"command_with_newline", api.SecretUse{URI: toolsURI, Command: "psql\n"}, vsecure.EInvalid},
		{"longest_host", api.SecretUse{URI: toolsURI, Command: "psql", Host: long[:255]}, ""},
		{"host_too_long", api.SecretUse{URI: toolsURI, Command: "psql", Host: long[:256]}, vsecure.EInvalid},
		{"pattern_refused", api.SecretUse{URI: "vsecure://secrets/tools/*", Command: "psql"}, vsecure.EInvalid},
		{"bad_uri", api.SecretUse{URI: "https://example.com", Command: "psql"}, vsecure.EInvalid},
		{"negative_version", api.SecretUse{URI: toolsURI, Command: "psql", Version: -1}, vsecure.EInvalid},
		{"missing_version", api.SecretUse{URI: toolsURI, Command: "psql", Version: 9}, vsecure.ENotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := useWorld(t)
			_, err := w.g.UseSecret(t.Context(), w.as("ai-agent-123"), tc.r)
			want(t, err, tc.code, "use")
		})
	}
}

func TestMaxUses(t *testing.T) {
	cases := []struct {
		name     string
		resource string
		op       string
		policy   int  // the governing policy's maxUses (configured on production)
		asked    *int // the request's maxUses
		code     vsecure.Code
		maxUses  int // the approval's cap, when granted
	}{
		{"no_cap_anywhere", dbURI, "read", 0, nil, "", 0},
		{"policy_cap_applies", dbURI, "read", 3, nil, "", 3},
		{"request_may_ask_fewer", dbURI, "read", 3, ptr(2), "", 2},
		{"request_may_ask_the_policy_cap", dbURI, "read", 3, ptr(3), "", 3},
		{"request_may_not_ask_more", dbURI, "read", 3, ptr(4), vsecure.EInvalid, 0},
		{"request_at_the_bound", dbURI, "read", 0, ptr(vsecure.MaxMaxUses), "", vsecure.MaxMaxUses},
		{"request_without_policy_cap", dbURI, "use", 0, ptr(1), "", 1},
		{"request_zero_refused", dbURI, "read", 0, ptr(0), vsecure.EInvalid, 0},
		{"request_above_bound_refused", dbURI, "read", 0, ptr(vsecure.MaxMaxUses + 1), vsecure.EInvalid, 0},
		{"write_request_carries_none", stagingURI, "write", 0, ptr(1), vsecure.EInvalid, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := useWorld(t)
			w.configure(vsecure.Policy{URI: "vsecure://secrets/production/*", Permissions: []vsecure.Operation{vsecure.OpRead},
				RequiresApproval: true, Approvers: []string{"alice", "bob"}, MaxUses: tc.policy})
			a, err := w.g.RequestApproval(t.Context(), w.as("ai-agent-123"), api.ApprovalRequest{Resource: tc.resource, Operation: tc.op, MaxUses: tc.asked})
			want(t, err, tc.code, "request")
			if tc.code != "" {
				return
			}
			if a.MaxUses != tc.maxUses || a.UsesLeft != tc.maxUses {
				t.Fatalf("approval maxUses %d usesLeft %d, want %d", a.MaxUses, a.UsesLeft, tc.maxUses)
			}
			if tc.maxUses == 0 || tc.maxUses > 3 { // spending a thousand uses shows nothing three do not
				return
			}
			d, err := w.decide("alice", a.ID, "approve")
			if err != nil {
				t.Fatal(err)
			}
			c := w.as("ai-agent-123")
			for i := range tc.maxUses {
				_, err := w.use(c, tc.resource)
				want(t, err, "", "use within the cap")
				if left := w.stored(a.ID).UsesLeft; left != tc.maxUses-i-1 {
					t.Fatalf("after %d uses usesLeft %d", i+1, left)
				}
			}
			_, err = w.use(c, tc.resource)
			want(t, err, vsecure.EApprovalRequired, "use past the cap by key")
			_, err = w.read(c, tc.resource)
			want(t, err, vsecure.EApprovalRequired, "read past the cap by key")
			if _, err := w.g.Authenticate(t.Context(), d.AccessToken, gate.Call{}); !vsecure.IsCode(err, vsecure.EUnauthenticated) {
				t.Fatalf("the spent token authenticates: %v", err)
			}
		})
	}
}

// TestAutoApprovedMaxUses: an auto-approved request with a cap is spent
// like any other, and the token captured before the last use dies with it.
func TestAutoApprovedMaxUses(t *testing.T) {
	w := useWorld(t)
	a, err := w.request("ai-agent-123", onceURI, "read", nil)
	if err != nil || a.Status != vsecure.StatusApproved || a.AccessToken == "" || a.MaxUses != 1 {
		t.Fatalf("auto-approve: %v %+v", err, a)
	}
	byToken := w.login(a.AccessToken)
	if _, err := w.read(w.as("ai-agent-123"), onceURI); err != nil {
		t.Fatal(err)
	}
	_, err = w.read(byToken, onceURI)
	want(t, err, vsecure.EUnauthenticated, "token read after the one use")
	_, err = w.read(w.as("ai-agent-123"), onceURI)
	want(t, err, vsecure.EApprovalRequired, "second read by key")
}

func TestPolicyMaxUsesValidation(t *testing.T) {
	for _, n := range []int{-1, vsecure.MaxMaxUses + 1} {
		p := vsecure.Policy{URI: "vsecure://secrets/x/*", Permissions: []vsecure.Operation{vsecure.OpUse}, MaxUses: n}
		if err := p.Validate(); !vsecure.IsCode(err, vsecure.EInvalid) {
			t.Errorf("maxUses %d: %v, want invalid", n, err)
		}
	}
	p := vsecure.Policy{URI: "vsecure://secrets/x/*", Permissions: []vsecure.Operation{vsecure.OpUse, vsecure.OpRead}, MaxUses: 5}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
}
