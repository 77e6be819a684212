package gate_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// TestSecretAccess: policies bound who reads and writes what; approval
// gates reads where the policy says so.
func TestSecretAccess(t *testing.T) {
	cases := []struct {
		name     string
		as       string
		write    bool
		resource string
		version  int
		code     vsecure.Code
	}{
		{"agent_reads_where_the_policy_allows", "ai-agent-123", false, stagingURI, 0, ""},
		{"agent_writes_where_the_policy_allows", "ai-agent-123", true, stagingURI, 0, ""},
		{"gated_read_requires_approval", "ai-agent-123", false, dbURI, 0, vsecure.EApprovalRequired},
		{"no_policy_no_access", "ai-agent-123", false, devURI, 0, vsecure.EForbidden},
		{"no_policy_no_write", "ai-agent-123", true, devURI, 0, vsecure.EForbidden},
		{"permissions_bound_operations", "ai-agent-123", true, dbURI, 0, vsecure.EOperationNotAllowed},
		{"auditor_cannot_read_values", "auditor-1", false, stagingURI, 0, vsecure.EForbidden},
		{"approver_cannot_read_values", "alice", false, stagingURI, 0, vsecure.EForbidden},
		{"admin_reads_without_approval", "admin", false, dbURI, 0, ""},
		{"admin_reads_without_a_policy", "admin", false, devURI, 0, ""},
		{"missing_secret_is_not_found", "ai-agent-123", false, "vsecure://secrets/staging/NOPE", 0, vsecure.ENotFound},
		{"missing_version_is_not_found", "ai-agent-123", false, stagingURI, 9, vsecure.ENotFound},
		{"negative_version_is_invalid", "ai-agent-123", false, stagingURI, -1, vsecure.EInvalid},
		{"first_version_is_readable", "ai-agent-123", false, stagingURI, 1, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			c := w.as(tc.as)
			var err error
			if tc.write {
				var info api.SecretInfo
				info, err = w.write(c, tc.resource, "v2")
				if err == nil && (info.Version != 2 || info.UpdatedBy != tc.as) {
					t.Fatalf("write: %+v", info)
				}
			} else {
				var r api.SecretRead
				r, err = w.g.ReadSecret(t.Context(), c, uri(t, tc.resource), tc.version)
				if err == nil && (r.Value != "value of "+tc.resource && r.Value != dbValue || r.AccessCount != 1 || r.Version != 1) {
					t.Fatalf("read: %+v", r)
				}
			}
			want(t, err, tc.code, tc.name)
			op := vsecure.AuditRead
			if tc.write {
				op = vsecure.AuditWrite
			}
			if tc.as == "admin" && tc.write {
				t.Fatal("the fixture's admin wrote already: pick another writer")
			}
			if e := w.entry(op, tc.as); e.Success != (tc.code == "") || e.Error != string(tc.code) || e.Resource != tc.resource {
				t.Fatalf("not audited as %s %q: %+v", op, tc.code, e)
			}
		})
	}
	t.Run("the_most_specific_policy_governs", func(t *testing.T) {
		w := newWorld(t)
		w.configure(vsecure.Policy{URI: dbURI, Permissions: []vsecure.Operation{vsecure.OpRead}})
		_, err := w.read(w.as("ai-agent-123"), dbURI)
		want(t, err, "", "read under the exact policy")
		_, err = w.read(w.as("ai-agent-123"), otherURI)
		want(t, err, vsecure.EApprovalRequired, "read of a sibling under the pattern")
	})
	t.Run("reads_count_and_versions_accumulate", func(t *testing.T) {
		w := newWorld(t)
		agent := w.as("ai-agent-123")
		_, err := w.write(agent, stagingURI, "v2")
		want(t, err, "", "write v2")
		r, err := w.read(agent, stagingURI)
		want(t, err, "", "read latest")
		old, err := w.g.ReadSecret(t.Context(), agent, uri(t, stagingURI), 1)
		want(t, err, "", "read v1")
		if r.Value != "v2" || r.Version != 2 || r.AccessCount != 1 || old.Version != 1 || old.AccessCount != 2 {
			t.Fatalf("latest %+v, v1 %+v", r, old)
		}
	})
	t.Run("lists_show_only_what_a_policy_covers", func(t *testing.T) {
		w := newWorld(t)
		list := func(as string) []string {
			l, _, err := w.g.ListSecrets(t.Context(), w.as(as), pattern(t, "vsecure://secrets/*"), "", 0)
			want(t, err, "", "list as "+as)
			var out []string
			for _, s := range l {
				out = append(out, s.URI)
			}
			return out
		}
		if got := list("ai-agent-123"); slices.Contains(got, devURI) || !slices.Contains(got, dbURI) || !slices.Contains(got, stagingURI) {
			t.Fatalf("agent lists %v", got)
		}
		if got := list("admin"); !slices.Contains(got, devURI) {
			t.Fatalf("admin lists %v", got)
		}
		_, _, err := w.g.ListSecrets(t.Context(), w.as("auditor-1"), nil, "", 0)
		want(t, err, vsecure.EForbidden, "auditor lists secrets")
		_, _, err = w.g.ListSecrets(t.Context(), w.as("ai-agent-123"), pattern(t, stagingURI), "", 0)
		want(t, err, vsecure.EInvalid, "list with a concrete URI")
	})
}

// TestRequestRules: what an approval request may ask for. A refused
// request creates nothing and is audited.
func TestRequestRules(t *testing.T) {
	cases := []struct {
		name string
		as   string
		r    api.ApprovalRequest
		code vsecure.Code
	}{
		{"requestedBy_may_name_the_caller", "ai-agent-123", api.ApprovalRequest{Resource: dbURI, Operation: "read", RequestedBy: "ai-agent-123"}, ""},
		{"requestedBy_other_principal", "ai-agent-123", api.ApprovalRequest{Resource: dbURI, Operation: "read", RequestedBy: "someone-else"}, vsecure.EForbidden},
		{"pattern_resource", "ai-agent-123", api.ApprovalRequest{Resource: "vsecure://secrets/production/*", Operation: "read"}, vsecure.EInvalid},
		{"bad_uri", "ai-agent-123", api.ApprovalRequest{Resource: "https://secrets/production/X", Operation: "read"}, vsecure.EInvalid},
		{"unknown_operation", "ai-agent-123", api.ApprovalRequest{Resource: dbURI, Operation: "delete"}, vsecure.EInvalid},
		{"approval_cannot_widen_permissions", "ai-agent-123", api.ApprovalRequest{Resource: dbURI, Operation: "write"}, vsecure.EOperationNotAllowed},
		{"no_policy", "ai-agent-123", api.ApprovalRequest{Resource: devURI, Operation: "read"}, vsecure.EForbidden},
		{"reason_too_long", "ai-agent-123", api.ApprovalRequest{Resource: dbURI, Operation: "read", Reason: strings.Repeat("r", 1001)}, vsecure.EInvalid},
		{"approver_role_cannot_request", "alice", api.ApprovalRequest{Resource: dbURI, Operation: "read"}, vsecure.EForbidden},
		{"auditor_role_cannot_request", "auditor-1", api.ApprovalRequest{Resource: dbURI, Operation: "read"}, vsecure.EForbidden},
		{"admin_may_request", "admin", api.ApprovalRequest{Resource: dbURI, Operation: "read"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			a, err := w.g.RequestApproval(t.Context(), w.as(tc.as), tc.r)
			want(t, err, tc.code, tc.name)
			l, _, lerr := w.g.ListApprovals(t.Context(), w.as("admin"), gate.ApprovalQuery{})
			want(t, lerr, "", "list")
			if e := w.entry(vsecure.AuditRequestApproval, tc.as); e.Success != (tc.code == "") || e.Error != string(tc.code) {
				t.Fatalf("not audited: %+v", e)
			}
			if tc.code != "" {
				if len(l) != 0 {
					t.Fatalf("a refused request created %d approvals", len(l))
				}
				return
			}
			if len(l) != 1 || a.RequestedBy != tc.as || a.Status != vsecure.StatusPending ||
				!slices.Equal(a.Approvers, []string{"alice", "bob"}) || a.ApprovalURL != "https://vsecure.example/v1/security/mcp/approvals/"+a.ID {
				t.Fatalf("request: %+v (%d listed)", a, len(l))
			}
		})
	}
}

// TestApprovalVisibility: the requester, its approvers and admins see an
// approval; nobody else learns it exists.
func TestApprovalVisibility(t *testing.T) {
	w := newWorld(t)
	mine := w.pending(dbURI)
	w.clock.Advance(time.Second) // lists are newest first
	a, err := w.request("ai-agent-999", vaultURI, "read", nil)
	want(t, err, "", "other agent's request")
	theirs := a.ID
	cases := []struct {
		name string
		as   string
		id   string
		code vsecure.Code
	}{
		{"requester", "ai-agent-123", mine, ""},
		{"listed_approver", "alice", mine, ""},
		{"admin", "admin", mine, ""},
		{"another_agent", "ai-agent-999", mine, vsecure.ENotFound},
		{"unlisted_approver", "carol", mine, vsecure.ENotFound},
		{"auditor", "auditor-1", mine, vsecure.ENotFound},
		{"requester_of_another", "ai-agent-123", theirs, vsecure.ENotFound},
		{"missing", "ai-agent-123", "appr_nope", vsecure.ENotFound},
	}
	for _, tc := range cases {
		t.Run("get/"+tc.name, func(t *testing.T) {
			v, err := w.g.GetApproval(t.Context(), w.as(tc.as), tc.id)
			want(t, err, tc.code, "get")
			if err == nil && (v.ID != tc.id || v.AccessToken != "") {
				t.Fatalf("view %+v", v)
			}
		})
	}
	lists := []struct {
		as   string
		want []string
	}{
		{"ai-agent-123", []string{mine}},
		{"ai-agent-999", []string{theirs}},
		{"alice", []string{theirs, mine}},
		{"carol", nil},
		{"admin", []string{theirs, mine}},
	}
	for _, tc := range lists {
		t.Run("list/"+tc.as, func(t *testing.T) {
			l, _, err := w.g.ListApprovals(t.Context(), w.as(tc.as), gate.ApprovalQuery{})
			want(t, err, "", "list")
			var got []string
			for _, a := range l {
				got = append(got, a.ID)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("%s lists %v, want %v", tc.as, got, tc.want)
			}
		})
	}
}

// TestKeyRules: only admins manage keys; roles and principals are checked.
func TestKeyRules(t *testing.T) {
	cases := []struct {
		name string
		as   string
		op   string // the audit operation of the refusal
		call func(w *world, c gate.Call) error
		code vsecure.Code
	}{
		{"agent_cannot_create_keys", "ai-agent-123", vsecure.AuditKeyCreate, func(w *world, c gate.Call) error {
			_, err := w.g.CreateKey(w.t.Context(), c, api.KeyRequest{Principal: "x", Roles: []string{"admin"}})
			return err
		}, vsecure.EForbidden},
		{"agent_cannot_list_keys", "ai-agent-123", vsecure.AuditKeyList, func(w *world, c gate.Call) error {
			_, _, err := w.g.ListKeys(w.t.Context(), c, "", 0)
			return err
		}, vsecure.EForbidden},
		{"agent_cannot_rotate_keys", "ai-agent-123", vsecure.AuditKeyRotate, func(w *world, c gate.Call) error {
			_, err := w.g.RotateKey(w.t.Context(), c, w.keys["ai-agent-999"].ID, api.RotateRequest{})
			return err
		}, vsecure.EForbidden},
		{"agent_cannot_change_keys", "ai-agent-123", vsecure.AuditKeyUpdate, func(w *world, c gate.Call) error {
			_, err := w.g.UpdateKey(w.t.Context(), c, w.keys["ai-agent-123"].ID, api.KeyUpdateRequest{Roles: []string{"admin"}})
			return err
		}, vsecure.EForbidden},
		{"agent_cannot_revoke_keys", "ai-agent-123", vsecure.AuditKeyRevoke, func(w *world, c gate.Call) error {
			_, err := w.g.RevokeKey(w.t.Context(), c, w.keys["ai-agent-999"].ID)
			return err
		}, vsecure.EForbidden},
		{"unknown_role", "admin", vsecure.AuditKeyCreate, func(w *world, c gate.Call) error {
			_, err := w.g.CreateKey(w.t.Context(), c, api.KeyRequest{Principal: "x", Roles: []string{"root"}})
			return err
		}, vsecure.EInvalid},
		{"no_roles", "admin", vsecure.AuditKeyCreate, func(w *world, c gate.Call) error {
			_, err := w.g.CreateKey(w.t.Context(), c, api.KeyRequest{Principal: "x", Roles: []string{}})
			return err
		}, vsecure.EInvalid},
		{"bad_principal", "admin", vsecure.AuditKeyCreate, func(w *world, c gate.Call) error {
			_, err := w.g.CreateKey(w.t.Context(), c, api.KeyRequest{Principal: "a b", Roles: []string{"agent"}})
			return err
		}, vsecure.EInvalid},
		{"reserved_principal", "admin", vsecure.AuditKeyCreate, func(w *world, c gate.Call) error {
			_, err := w.g.CreateKey(w.t.Context(), c, api.KeyRequest{Principal: vsecure.AutoApprover, Roles: []string{"approver"}})
			return err
		}, vsecure.EInvalid},
		{"negative_overlap", "admin", vsecure.AuditKeyRotate, func(w *world, c gate.Call) error {
			_, err := w.g.RotateKey(w.t.Context(), c, w.keys["ai-agent-123"].ID, api.RotateRequest{OverlapSeconds: ptr(-1)})
			return err
		}, vsecure.EInvalid},
		{"overlap_above_30_days", "admin", vsecure.AuditKeyRotate, func(w *world, c gate.Call) error {
			_, err := w.g.RotateKey(w.t.Context(), c, w.keys["ai-agent-123"].ID, api.RotateRequest{OverlapSeconds: ptr(31 * 86400)})
			return err
		}, vsecure.EInvalid},
		{"rotate_missing_key", "admin", vsecure.AuditKeyRotate, func(w *world, c gate.Call) error {
			_, err := w.g.RotateKey(w.t.Context(), c, "key_nope", api.RotateRequest{})
			return err
		}, vsecure.ENotFound},
		{"update_without_changes", "admin", vsecure.AuditKeyUpdate, func(w *world, c gate.Call) error {
			_, err := w.g.UpdateKey(w.t.Context(), c, w.keys["ai-agent-123"].ID, api.KeyUpdateRequest{})
			return err
		}, vsecure.EInvalid},
		{"update_to_no_roles", "admin", vsecure.AuditKeyUpdate, func(w *world, c gate.Call) error {
			_, err := w.g.UpdateKey(w.t.Context(), c, w.keys["ai-agent-123"].ID, api.KeyUpdateRequest{Roles: []string{}})
			return err
		}, vsecure.EInvalid},
		{"update_bad_slack_user", "admin", vsecure.AuditKeyUpdate, func(w *world, c gate.Call) error {
			_, err := w.g.UpdateKey(w.t.Context(), c, w.keys["ai-agent-123"].ID, api.KeyUpdateRequest{SlackUserID: ptr("not a slack id")})
			return err
		}, vsecure.EInvalid},
		{"update_missing_key", "admin", vsecure.AuditKeyUpdate, func(w *world, c gate.Call) error {
			_, err := w.g.UpdateKey(w.t.Context(), c, "key_nope", api.KeyUpdateRequest{Roles: []string{"agent"}})
			return err
		}, vsecure.ENotFound},
		{"update_revoked_key", "admin", vsecure.AuditKeyUpdate, func(w *world, c gate.Call) error {
			if _, err := w.g.RevokeKey(w.t.Context(), c, w.keys["ai-agent-123"].ID); err != nil {
				w.t.Fatal(err)
			}
			_, err := w.g.UpdateKey(w.t.Context(), c, w.keys["ai-agent-123"].ID, api.KeyUpdateRequest{Roles: []string{"admin"}})
			return err
		}, vsecure.EAlreadyDecided},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			want(t, tc.call(w, w.as(tc.as)), tc.code, tc.name)
			if e := w.refusal(tc.op, tc.as); e.Error != string(tc.code) {
				t.Fatalf("the refusal is not audited as %s: %+v", tc.code, e)
			}
			k, err := w.st.Store.GetKey(t.Context(), w.keys["ai-agent-123"].ID)
			want(t, err, "", "get key")
			if !slices.Equal(k.Roles, []vsecure.Role{vsecure.RoleAgent}) {
				t.Fatalf("a refused call changed the key's roles to %v", k.Roles)
			}
		})
	}
	t.Run("role_change_counts_from_the_next_call", func(t *testing.T) {
		w := newWorld(t)
		id := w.keys["ai-agent-123"].ID
		k, err := w.g.UpdateKey(t.Context(), w.as("admin"), id, api.KeyUpdateRequest{Roles: []string{"admin", "agent", "admin"}})
		want(t, err, "", "promote")
		if !slices.Equal(k.Roles, []vsecure.Role{vsecure.RoleAdmin, vsecure.RoleAgent}) {
			t.Fatalf("roles %v (duplicates collapse)", k.Roles)
		}
		_, _, err = w.g.ListKeys(t.Context(), w.as("ai-agent-123"), "", 0)
		want(t, err, "", "list keys as the promoted key")
		_, err = w.g.UpdateKey(t.Context(), w.as("admin"), id, api.KeyUpdateRequest{Roles: []string{"agent"}, SlackUserID: ptr("U2")})
		want(t, err, "", "demote")
		_, _, err = w.g.ListKeys(t.Context(), w.as("ai-agent-123"), "", 0)
		want(t, err, vsecure.EForbidden, "list keys as the demoted key")
		// Each change is audited with what it changed and what was before.
		es, _, err := w.st.Store.QueryAudit(t.Context(), vsecure.AuditFilter{Operation: vsecure.AuditKeyUpdate, Success: ptr(true)}, "", 10)
		want(t, err, "", "audit")
		var changes []string
		for _, e := range es {
			if e.Metadata["keyId"] != id || e.Actor != "admin" {
				t.Fatalf("key_update entry %+v", e)
			}
			changes = append(changes, fmt.Sprintf("%s roles=%s previousRoles=%s slack=%q", e.Metadata["changed"], e.Metadata["roles"], e.Metadata["previousRoles"], e.Metadata["slackUserId"]))
		}
		slices.Sort(changes)
		if wantChanges := []string{`roles roles=admin,agent previousRoles=agent slack=""`, `roles,slackUserId roles=agent previousRoles=admin,agent slack="U2"`}; !slices.Equal(changes, wantChanges) {
			t.Fatalf("audited changes:\n%q\nwant\n%q", changes, wantChanges)
		}
	})
}

// TestConfigureRules: only admins configure policies, and only valid
// ones; a refusal changes nothing.
func TestConfigureRules(t *testing.T) {
	read := []vsecure.Operation{vsecure.OpRead}
	cases := []struct {
		name string
		as   string
		p    vsecure.Policy
		code vsecure.Code
	}{
		{"agent_cannot_configure", "ai-agent-123", vsecure.Policy{URI: "vsecure://secrets/x/*", Permissions: read}, vsecure.EForbidden},
		{"approver_cannot_configure", "alice", vsecure.Policy{URI: "vsecure://secrets/x/*", Permissions: read}, vsecure.EForbidden},
		{"wrong_scheme", "admin", vsecure.Policy{URI: "https://secrets/*", Permissions: read}, vsecure.EInvalid},
		{"star_not_last", "admin", vsecure.Policy{URI: "vsecure://secrets/*/x", Permissions: read}, vsecure.EInvalid},
		{"empty_segment", "admin", vsecure.Policy{URI: "vsecure://secrets//x", Permissions: read}, vsecure.EInvalid},
		{"traversal", "admin", vsecure.Policy{URI: "vsecure://secrets/../x", Permissions: read}, vsecure.EInvalid},
		{"unknown_permission", "admin", vsecure.Policy{URI: "vsecure://secrets/*", Permissions: []vsecure.Operation{"delete"}}, vsecure.EInvalid},
		{"approval_without_approvers", "admin", vsecure.Policy{URI: "vsecure://secrets/*", Permissions: read, RequiresApproval: true}, vsecure.EInvalid},
		{"quorum_above_the_approvers", "admin", vsecure.Policy{URI: "vsecure://secrets/*", Permissions: read, RequiresApproval: true, Approvers: []string{"alice"}, RequiredApprovals: 2}, vsecure.EInvalid},
		{"bad_time_window", "admin", vsecure.Policy{URI: "vsecure://secrets/*", Permissions: read, AutoApprove: window("9 to 5")}, vsecure.EInvalid},
		{"admin_configures", "admin", vsecure.Policy{URI: "vsecure://secrets/x/*", Permissions: read}, ""},
	}
	w := newWorld(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, err := w.g.ListResources(t.Context(), w.as("admin"))
			want(t, err, "", "list")
			_, err = w.g.ConfigurePolicy(t.Context(), w.as(tc.as), tc.p)
			want(t, err, tc.code, tc.name)
			after, err := w.g.ListResources(t.Context(), w.as("admin"))
			want(t, err, "", "list")
			if grew := len(after) - len(before); grew != 0 && tc.code != "" || grew != 1 && tc.code == "" {
				t.Fatalf("%d resources after, %d before", len(after), len(before))
			}
		})
	}
}

// TestAuditRules: admins and auditors read the audit log, nobody else.
func TestAuditRules(t *testing.T) {
	w := newWorld(t)
	for as, code := range map[string]vsecure.Code{
		"admin": "", "auditor-1": "", "ai-agent-123": vsecure.EForbidden, "alice": vsecure.EForbidden, "dual": vsecure.EForbidden,
	} {
		t.Run(as, func(t *testing.T) {
			_, _, err := w.g.QueryAudit(t.Context(), w.as(as), gate.AuditQuery{})
			want(t, err, code, as+" reads the audit log")
		})
	}
}

// TestAuthenticate: a credential resolves to the principal its key or
// approval names, and nothing else resolves at all.
func TestAuthenticate(t *testing.T) {
	w := newWorld(t)
	id, token := w.approved()
	cases := []struct {
		name string
		cred string
		code vsecure.Code
		id   string
	}{
		{"api_key", w.cred("dual"), "", "dual"},
		{"access_token", token, "", "ai-agent-123"},
		{"no_credential", "", vsecure.EUnauthenticated, ""},
		{"unknown_key", "vsk_nope0000000000000000000000000000000000", vsecure.EUnauthenticated, ""},
		{"unknown_token", gate.TokenPrefix + "nope0000000000000000000000000000000000", vsecure.EUnauthenticated, ""},
		{"unknown_prefix", "sk_" + strings.TrimPrefix(w.cred("dual"), gate.KeyPrefix), vsecure.EUnauthenticated, ""},
		{"too_long", w.cred("dual") + strings.Repeat("x", 256), vsecure.EUnauthenticated, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := w.g.Authenticate(t.Context(), tc.cred, gate.Call{IP: "192.0.2.7"})
			want(t, err, tc.code, tc.name)
			if p.ID != tc.id {
				t.Fatalf("principal %q, want %q", p.ID, tc.id)
			}
			switch tc.name {
			case "api_key":
				if p.Scope != nil || p.KeyID != w.keys["dual"].ID || !slices.Equal(p.Roles, []vsecure.Role{vsecure.RoleAgent, vsecure.RoleApprover}) {
					t.Fatalf("key principal %+v", p)
				}
			case "access_token":
				if p.Scope == nil || p.Scope.ApprovalID != id || p.Scope.Resource != dbURI || p.Scope.Operation != vsecure.OpRead ||
					p.KeyID != w.keys["ai-agent-123"].ID || p.HasAny(vsecure.RoleAgent, vsecure.RoleAdmin) {
					t.Fatalf("token principal %+v", p)
				}
			}
		})
	}
}
