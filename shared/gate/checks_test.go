package gate_test

// Checks a mutation run found unpinned (issue 19): each table here fails
// when the check it names is removed or inverted in the gate. They run on
// the rules fixture (world_test.go).

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/crypto/local"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// ciURI is under ci/*, which each row of TestOnlyAgentsAndAdminsRequest
// configures: open, auto-approved, or gated.
const ciURI = "vsecure://secrets/ci/TOKEN"

// TestOnlyAgentsAndAdminsRequest: approval is requested by agents and
// admins only, on every kind of policy. A refused request creates no
// approval, issues no token and is audited as forbidden.
func TestOnlyAgentsAndAdminsRequest(t *testing.T) {
	read := []vsecure.Operation{vsecure.OpRead}
	policies := map[string]vsecure.Policy{
		"open":          {URI: "vsecure://secrets/ci/*", Permissions: read},
		"auto_approved": {URI: "vsecure://secrets/ci/*", Permissions: read, RequiresApproval: true, Approvers: []string{"alice"}, AutoApprove: &vsecure.AutoApprove{Enabled: true}},
		"gated":         {URI: "vsecure://secrets/ci/*", Permissions: read, RequiresApproval: true, Approvers: []string{"alice"}},
	}
	cases := []struct {
		as   string
		code vsecure.Code
	}{
		{"alice", vsecure.EForbidden},     // approver
		{"carol", vsecure.EForbidden},     // approver listed nowhere
		{"auditor-1", vsecure.EForbidden}, // auditor
		{"ai-agent-123", ""},
		{"admin", ""},
		{"dual", ""}, // agent and approver
	}
	for policy, p := range policies {
		for _, tc := range cases {
			t.Run(policy+"/"+tc.as, func(t *testing.T) {
				w := newWorld(t)
				w.configure(p)
				a, err := w.request(tc.as, ciURI, "read", nil)
				want(t, err, tc.code, tc.as+" requests")
				e := w.entry(vsecure.AuditRequestApproval, tc.as)
				l, _, lerr := w.g.ListApprovals(t.Context(), w.as("admin"), gate.ApprovalQuery{})
				want(t, lerr, "", "list")
				if tc.code != "" {
					if a.ID != "" || a.AccessToken != "" || len(l) != 0 || e.Success || e.Error != string(tc.code) {
						t.Fatalf("refused request: view %+v, %d approvals, entry %+v", a, len(l), e)
					}
					return
				}
				granted := policy != "gated"
				if len(l) != 1 || !e.Success || (a.AccessToken != "") != granted || (a.Status == vsecure.StatusApproved) != granted {
					t.Fatalf("request on the %s policy: view %+v, %d approvals, entry %+v", policy, a, len(l), e)
				}
			})
		}
	}
}

// TestCachedTokenEndsAtExpiresAt: a token resolved while valid (what a
// cached authorizer answer holds) reads and writes until the second
// before expiresAt, and at expiresAt is refused as expired.
func TestCachedTokenEndsAtExpiresAt(t *testing.T) {
	const releaseURI = "vsecure://secrets/release/KEY"
	for _, op := range []string{"read", "write"} {
		t.Run(op, func(t *testing.T) {
			w := newWorld(t)
			w.configure(vsecure.Policy{URI: "vsecure://secrets/release/*", Permissions: []vsecure.Operation{vsecure.OpRead, vsecure.OpWrite},
				RequiresApproval: true, Approvers: []string{"alice"}})
			_, err := w.write(w.as("admin"), releaseURI, "v1")
			want(t, err, "", "seed")
			a, err := w.request("ai-agent-123", releaseURI, op, ptr(120))
			want(t, err, "", "request")
			d, err := w.decide("alice", a.ID, "approve")
			want(t, err, "", "approve")
			tok := w.login(d.AccessToken)
			if tok.Principal.Scope == nil || !tok.Principal.Scope.ExpiresAt.Equal(a.ExpiresAt) {
				t.Fatalf("token scope %+v, want it to end at %s", tok.Principal.Scope, a.ExpiresAt)
			}
			use := func() error {
				if op == "read" {
					_, err := w.read(tok, releaseURI)
					return err
				}
				_, err := w.write(tok, releaseURI, "next")
				return err
			}
			w.clock.Set(a.ExpiresAt.Add(-time.Second))
			want(t, use(), "", op+" a second before expiresAt")
			w.clock.Set(a.ExpiresAt)
			want(t, use(), vsecure.EExpired, op+" at expiresAt")
			w.clock.Set(a.ExpiresAt.Add(time.Hour))
			want(t, use(), vsecure.EExpired, op+" after expiresAt")
		})
	}
}

// TestOnlyAdminsManageKeys: no role but admin revokes, rotates or changes
// a key; the key is untouched afterwards.
func TestOnlyAdminsManageKeys(t *testing.T) {
	ops := []struct {
		name, op string
		call     func(w *world, c gate.Call, id string) error
	}{
		{"revoke", vsecure.AuditKeyRevoke, func(w *world, c gate.Call, id string) error {
			_, err := w.g.RevokeKey(w.t.Context(), c, id)
			return err
		}},
		{"rotate", vsecure.AuditKeyRotate, func(w *world, c gate.Call, id string) error {
			_, err := w.g.RotateKey(w.t.Context(), c, id, api.RotateRequest{OverlapSeconds: ptr(0)})
			return err
		}},
		{"update", vsecure.AuditKeyUpdate, func(w *world, c gate.Call, id string) error {
			_, err := w.g.UpdateKey(w.t.Context(), c, id, api.KeyUpdateRequest{SlackUserID: ptr("U1")})
			return err
		}},
		{"list", vsecure.AuditKeyList, func(w *world, c gate.Call, _ string) error {
			_, _, err := w.g.ListKeys(w.t.Context(), c, "", 0)
			return err
		}},
		{"create", vsecure.AuditKeyCreate, func(w *world, c gate.Call, _ string) error {
			_, err := w.g.CreateKey(w.t.Context(), c, api.KeyRequest{Principal: "mallory", Roles: []string{"agent"}})
			return err
		}},
	}
	for _, op := range ops {
		for _, as := range []string{"alice", "auditor-1", "dual", "ai-agent-999", "admin"} {
			t.Run(op.name+"/"+as, func(t *testing.T) {
				w := newWorld(t)
				id := w.keys["ai-agent-123"].ID
				err := op.call(w, w.as(as), id)
				if as == "admin" {
					want(t, err, "", "admin "+op.name)
					return
				}
				want(t, err, vsecure.EForbidden, as+" "+op.name)
				if e := w.refusal(op.op, as); e.Error != string(vsecure.EForbidden) {
					t.Fatalf("refusal entry %+v", e)
				}
				k, err := w.st.Store.GetKey(t.Context(), id)
				want(t, err, "", "get key")
				if k.RevokedAt != nil || k.ExpiresAt != nil || k.SlackUserID != "" || k.Version != 1 {
					t.Fatalf("a refused %s changed the key: %+v", op.name, k)
				}
				if _, err := w.g.Authenticate(t.Context(), w.cred("ai-agent-123"), gate.Call{}); err != nil {
					t.Fatalf("the key after a refused %s: %v", op.name, err)
				}
			})
		}
	}
}

// TestOnlyListedApproversOrAdminsRevoke: revoking an approval takes the
// approver role and a place on its list, or the admin role. Being listed
// without the role is not enough.
func TestOnlyListedApproversOrAdminsRevoke(t *testing.T) {
	cases := []struct {
		as   string
		code vsecure.Code
	}{
		{"alice", ""},                          // listed approver
		{"admin", ""},                          // admin, not listed
		{"ai-agent-999", vsecure.ENotApprover}, // listed, but only an agent
		{"carol", vsecure.ENotApprover},        // approver, not listed
		{"auditor-1", vsecure.ENotApprover},
		{"ai-agent-123", vsecure.ENotApprover}, // the requester
	}
	for _, tc := range cases {
		t.Run(tc.as, func(t *testing.T) {
			w := newWorld(t)
			w.configure(vsecure.Policy{URI: "vsecure://secrets/listed/*", Permissions: []vsecure.Operation{vsecure.OpRead},
				RequiresApproval: true, Approvers: []string{"alice", "ai-agent-999"}})
			a, err := w.request("ai-agent-123", "vsecure://secrets/listed/K", "read", nil)
			want(t, err, "", "request")
			_, err = w.decide("alice", a.ID, "approve")
			want(t, err, "", "approve")
			r, err := w.g.Revoke(t.Context(), w.as(tc.as), a.ID)
			want(t, err, tc.code, tc.as+" revokes")
			st := w.stored(a.ID)
			if tc.code != "" {
				if st.Status != vsecure.StatusApproved || r.ID != "" {
					t.Fatalf("refused revocation: stored %s, view %+v", st.Status, r)
				}
				if e := w.refusal(vsecure.AuditRevoke, tc.as); e.Error != string(tc.code) || e.ApprovalID != a.ID {
					t.Fatalf("refusal entry %+v", e)
				}
				return
			}
			if st.Status != vsecure.StatusRevoked || st.RevokedBy != tc.as || r.Status != vsecure.StatusRevoked {
				t.Fatalf("revocation by %s: stored %s by %q, view %s", tc.as, st.Status, st.RevokedBy, r.Status)
			}
		})
	}
}

// verifier is a digest verifier that counts its calls.
type verifier struct{ calls atomic.Int32 }

func (v *verifier) Verify(_ context.Context, from, to time.Time) (vsecure.Report, error) {
	v.calls.Add(1)
	return vsecure.Report{From: from, To: to, Digests: 2, Entries: 5}, nil
}

// withVerifier is a second gate over w's store (so w's keys and faults
// hold) that verifies the audit log with v.
func withVerifier(w *world, v gate.AuditVerifier) *gate.Gate {
	w.t.Helper()
	sealer, err := local.New(bytes.Repeat([]byte("m"), 32))
	if err != nil {
		w.t.Fatal(err)
	}
	g, err := gate.New(gate.Config{Store: w.st, Sealer: sealer, CursorKey: bytes.Repeat([]byte("k"), 32), Now: w.clock.Now, AuditVerifier: v})
	if err != nil {
		w.t.Fatal(err)
	}
	return g
}

// TestAuditAccessRules: verifying and exporting the audit log, like
// reading it, needs the admin or auditor role; a refusal runs no check
// and returns nothing.
func TestAuditAccessRules(t *testing.T) {
	from, to := start.Add(-time.Hour), start.Add(time.Hour)
	for _, as := range []string{"admin", "auditor-1", "ai-agent-123", "alice", "dual", "token"} {
		t.Run(as, func(t *testing.T) {
			w := newWorld(t)
			v := &verifier{}
			g := withVerifier(w, v)
			var c gate.Call
			if as == "token" {
				_, token := w.approved()
				c = w.login(token)
			} else {
				c = w.as(as)
			}
			allowed := as == "admin" || as == "auditor-1"
			code := vsecure.EForbidden
			if allowed {
				code = ""
			}
			r, err := g.VerifyAudit(t.Context(), c, from, to)
			want(t, err, code, as+" verifies")
			if allowed != (v.calls.Load() == 1) || allowed != (r.Report.Digests == 2) {
				t.Fatalf("%s: verifier called %d times, report %+v", as, v.calls.Load(), r)
			}
			actor := c.Actor()
			if e := w.entry(vsecure.AuditVerify, actor); e.Success != allowed || e.Error != string(code) {
				t.Fatalf("verify entry %+v", e)
			}
			page, err := g.ExportAudit(t.Context(), c, from, to, "")
			want(t, err, code, as+" exports")
			if allowed != (len(page) > 0) {
				t.Fatalf("%s: export page of %d bytes", as, len(page))
			}
			_, _, err = g.QueryAudit(t.Context(), c, gate.AuditQuery{})
			want(t, err, code, as+" queries")
		})
	}
}

// TestAuditFailClosedReadOnly: the audit calls that only read return
// nothing when their own entry cannot be written.
func TestAuditFailClosedReadOnly(t *testing.T) {
	from, to := start.Add(-time.Hour), start.Add(time.Hour)
	cases := []struct {
		name string
		call func(g *gate.Gate, w *world) (any, error)
	}{
		{"verify_audit", func(g *gate.Gate, w *world) (any, error) {
			r, err := g.VerifyAudit(w.t.Context(), w.as("auditor-1"), from, to)
			return r.Report.Digests, err
		}},
		{"export_audit", func(g *gate.Gate, w *world) (any, error) {
			p, err := g.ExportAudit(w.t.Context(), w.as("auditor-1"), from, to, "")
			return len(p), err
		}},
		{"query_audit", func(g *gate.Gate, w *world) (any, error) {
			l, _, err := g.QueryAudit(w.t.Context(), w.as("auditor-1"), gate.AuditQuery{})
			return len(l), err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			g := withVerifier(w, &verifier{})
			w.st.audit.Store(true)
			got, err := tc.call(g, w)
			w.st.audit.Store(false)
			want(t, err, vsecure.EAuditUnavailable, tc.name)
			if got != 0 {
				t.Fatalf("%s returned data without its entry: %v", tc.name, got)
			}
		})
	}
}

// TestEntryMetadata: every entry says where the call came from and with
// what kind of credential; a decision's entry carries its reason. Keys
// the call has no value for are absent, not empty.
func TestEntryMetadata(t *testing.T) {
	cases := []struct {
		name string
		call func(w *world) gate.Call
		want map[string]string // "": the key is absent
	}{
		{"api_key_from_an_address", func(w *world) gate.Call {
			c := w.as("ai-agent-123")
			c.IP, c.UserAgent, c.RequestID = "192.0.2.7", "MCPClient/1.0", "req-1"
			return c
		}, map[string]string{"ipAddress": "192.0.2.7", "userAgent": "MCPClient/1.0", "requestId": "req-1", "credential": ""}},
		{"no_address_known", func(w *world) gate.Call { return w.as("ai-agent-123") },
			map[string]string{"ipAddress": "", "userAgent": "", "requestId": "", "credential": ""}},
		{"access_token", func(w *world) gate.Call {
			_, token := w.approved()
			c := w.login(token)
			c.IP = "198.51.100.1"
			return c
		}, map[string]string{"ipAddress": "198.51.100.1", "credential": api.CredentialAccessToken}},
		{"person_signed_in", func(w *world) gate.Call {
			return gate.Call{Principal: vsecure.Principal{ID: "ai-agent-123", Human: true}, IP: "203.0.113.9"}
		}, map[string]string{"ipAddress": "203.0.113.9", "credential": api.CredentialOIDC}},
		{"adapter_metadata_cannot_claim_a_credential", func(w *world) gate.Call {
			c := w.as("ai-agent-123")
			c.Metadata = map[string]string{"slackUserId": "U1"}
			return c
		}, map[string]string{"slackUserId": "U1", "credential": ""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			c := tc.call(w)
			_, err := w.g.Whoami(t.Context(), c)
			want(t, err, "", "whoami")
			e := w.entry(vsecure.AuditWhoami, "ai-agent-123")
			for k, v := range tc.want {
				got, ok := e.Metadata[k]
				if v == "" && ok {
					t.Fatalf("metadata has %s=%q, want no such key: %v", k, got, e.Metadata)
				}
				if v != "" && (!ok || got != v) {
					t.Fatalf("metadata %s=%q (present %v), want %q: %v", k, got, ok, v, e.Metadata)
				}
			}
		})
	}
	t.Run("decision_reason", func(t *testing.T) {
		w := newWorld(t)
		for _, action := range []string{"approve", "deny"} {
			id := w.pending(dbURI)
			c := w.as("alice")
			c.IP = "192.0.2.8"
			_, err := w.g.Decide(t.Context(), c, id, api.Respond{Action: action, Reason: "ticket OPS-1 " + action})
			want(t, err, "", action)
			op := map[string]string{"approve": vsecure.AuditApprove, "deny": vsecure.AuditDeny}[action]
			e := w.entry(op, "alice")
			if r, ok := e.Metadata["reason"]; !ok || r != "ticket OPS-1 "+action || e.Metadata["ipAddress"] != "192.0.2.8" || e.Metadata["status"] == "" {
				t.Fatalf("%s entry metadata %v", action, e.Metadata)
			}
			w.clock.Advance(time.Second)
		}
		// A decision without a reason records none.
		id := w.pending(dbURI)
		_, err := w.decide("bob", id, "approve")
		want(t, err, "", "approve without a reason")
		if r, ok := w.entry(vsecure.AuditApprove, "bob").Metadata["reason"]; ok {
			t.Fatalf("reason %q recorded for a decision without one", r)
		}
	})
}

// TestPolicyViewsHideConfiguration: who is auto-approved and where
// notices go is shown to admins only, as the key is stored now.
func TestPolicyViewsHideConfiguration(t *testing.T) {
	p := vsecure.Policy{URI: "vsecure://secrets/ci/*", Permissions: []vsecure.Operation{vsecure.OpRead},
		RequiresApproval: true, Approvers: []string{"alice"}, SlackChannel: "#ci-approvals",
		AutoApprove: windowFor("09:00-17:00 UTC", "ai-agent-123")}
	views := func(w *world, c gate.Call) []api.ResourceView {
		l, err := w.g.ListResources(w.t.Context(), c)
		want(w.t, err, "", "list")
		var out []api.ResourceView
		for _, v := range l {
			if v.URI == p.URI {
				out = append(out, v)
			}
		}
		v, err := w.g.GetPattern(w.t.Context(), c, uri(w.t, p.URI))
		want(w.t, err, "", "get pattern")
		return append(out, v)
	}
	for _, as := range []string{"admin", "ai-agent-123", "alice", "auditor-1", "dual"} {
		t.Run(as, func(t *testing.T) {
			w := newWorld(t)
			w.configure(p)
			vs := views(w, w.as(as))
			if len(vs) != 2 {
				t.Fatalf("%d views of %s", len(vs), p.URI)
			}
			for _, v := range vs {
				shown := v.AutoApprove != nil || v.SlackChannel != "" || v.UpdatedAt != nil
				if as == "admin" && (v.AutoApprove == nil || v.SlackChannel != "#ci-approvals" || v.UpdatedAt == nil) {
					t.Fatalf("admin's view hides the configuration: %+v", v)
				}
				if as != "admin" && shown {
					t.Fatalf("%s sees the configuration: %+v", as, v)
				}
				if !v.RequiresApproval || len(v.Approvers) != 1 || v.URI != p.URI {
					t.Fatalf("%s's view: %+v", as, v)
				}
			}
		})
	}
	t.Run("demoted_admin_resolved_before", func(t *testing.T) {
		w := newWorld(t)
		w.configure(p)
		id := w.keys["dual"].ID
		_, err := w.g.UpdateKey(t.Context(), w.as("admin"), id, api.KeyUpdateRequest{Roles: []string{"admin"}})
		want(t, err, "", "promote")
		cached := w.as("dual")
		_, err = w.g.UpdateKey(t.Context(), w.as("admin"), id, api.KeyUpdateRequest{Roles: []string{"agent"}})
		want(t, err, "", "demote")
		v, err := w.g.GetPattern(t.Context(), cached, uri(t, p.URI))
		want(t, err, "", "get pattern")
		if v.AutoApprove != nil || v.SlackChannel != "" {
			t.Fatalf("a key demoted after it was resolved sees the configuration: %+v", v)
		}
	})
}

// TestLimits: each bound of a request holds at its value and refuses one
// past it.
func TestLimits(t *testing.T) {
	str := func(n int) string { return strings.Repeat("x", n) }
	meta := func(n, key, val int) map[string]string {
		m := map[string]string{}
		for i := range n {
			m[fmt.Sprintf("%0*d", key, i)] = str(val)
		}
		return m
	}
	write := func(w api.SecretWrite) func(w *world) error {
		return func(wd *world) error {
			if w.Value == nil {
				w.Value = ptr("v")
			}
			_, err := wd.g.WriteSecret(wd.t.Context(), wd.as("ai-agent-123"), uri(wd.t, stagingURI), w)
			return err
		}
	}
	request := func(r api.ApprovalRequest) func(w *world) error {
		return func(w *world) error {
			r.Resource, r.Operation = dbURI, "read"
			_, err := w.g.RequestApproval(w.t.Context(), w.as("ai-agent-123"), r)
			return err
		}
	}
	decide := func(reason string) func(w *world) error {
		return func(w *world) error {
			_, err := w.g.Decide(w.t.Context(), w.as("alice"), w.pending(dbURI), api.Respond{Action: "approve", Reason: reason})
			return err
		}
	}
	rotate := func(seconds int) func(w *world) error {
		return func(w *world) error {
			_, err := w.g.RotateKey(w.t.Context(), w.as("admin"), w.keys["ai-agent-123"].ID, api.RotateRequest{OverlapSeconds: ptr(seconds)})
			return err
		}
	}
	list := func(limit int) func(w *world) error {
		return func(w *world) error {
			_, _, err := w.g.ListKeys(w.t.Context(), w.as("admin"), "", limit)
			return err
		}
	}
	slack := func(id string) func(w *world) error {
		return func(w *world) error {
			_, err := w.g.CreateKey(w.t.Context(), w.as("admin"), api.KeyRequest{Principal: "slacker", Roles: []string{"approver"}, SlackUserID: id})
			return err
		}
	}
	// key makes a bootstrap key of cred and authenticates with it.
	key := func(cred string) func(w *world) error {
		return func(w *world) error {
			if err := w.g.EnsureKey(w.t.Context(), cred, "boot", []vsecure.Role{vsecure.RoleAgent}); err != nil {
				return err
			}
			_, err := w.g.Authenticate(w.t.Context(), cred, gate.Call{})
			return err
		}
	}
	cases := []struct {
		name string
		call func(w *world) error
		code vsecure.Code
	}{
		{"secret_value_at_the_limit", write(api.SecretWrite{Value: ptr(str(vsecure.MaxSecretBytes))}), ""},
		{"secret_value_past_the_limit", write(api.SecretWrite{Value: ptr(str(vsecure.MaxSecretBytes + 1))}), vsecure.ETooLarge},
		{"secret_name_at_200", write(api.SecretWrite{Name: str(200)}), ""},
		{"secret_name_at_201", write(api.SecretWrite{Name: str(201)}), vsecure.EInvalid},
		{"secret_description_at_2000", write(api.SecretWrite{Description: str(2000)}), ""},
		{"secret_description_at_2001", write(api.SecretWrite{Description: str(2001)}), vsecure.EInvalid},
		{"32_metadata_entries", write(api.SecretWrite{Metadata: meta(32, 2, 1)}), ""},
		{"33_metadata_entries", write(api.SecretWrite{Metadata: meta(33, 2, 1)}), vsecure.EInvalid},
		{"metadata_key_at_64_value_at_256", write(api.SecretWrite{Metadata: meta(1, 64, 256)}), ""},
		{"metadata_key_at_65", write(api.SecretWrite{Metadata: meta(1, 65, 1)}), vsecure.EInvalid},
		{"metadata_value_at_257", write(api.SecretWrite{Metadata: meta(1, 1, 257)}), vsecure.EInvalid},
		{"metadata_empty_key", write(api.SecretWrite{Metadata: map[string]string{"": "v"}}), vsecure.EInvalid},
		{"request_reason_at_1000", request(api.ApprovalRequest{Reason: str(1000)}), ""},
		{"request_ttl_of_one_second", request(api.ApprovalRequest{TTL: ptr(1)}), ""},
		{"decision_reason_at_1000", decide(str(1000)), ""},
		{"overlap_of_30_days", rotate(30 * 86400), ""},
		{"overlap_past_30_days", rotate(30*86400 + 1), vsecure.EInvalid},
		{"page_of_one", list(1), ""},
		{"page_at_the_maximum", list(api.MaxLimit), ""},
		{"page_past_the_maximum", list(api.MaxLimit + 1), vsecure.EInvalid},
		{"negative_page", list(-1), vsecure.EInvalid},
		{"slack_user_at_32", slack("U" + strings.Repeat("0", 31)), ""},
		{"slack_user_at_33", slack("U" + strings.Repeat("0", 32)), vsecure.EInvalid},
		{"slack_user_range_ends", slack("AZ09"), ""},
		{"slack_user_lowercase", slack("u012"), vsecure.EInvalid},
		{"slack_user_past_Z", slack("U[0"), vsecure.EInvalid},
		{"slack_user_past_9", slack("U:0"), vsecure.EInvalid},
		{"slack_user_before_0", slack("U/0"), vsecure.EInvalid},
		{"slack_user_before_A", slack("@U0"), vsecure.EInvalid},
		{"bootstrap_key_of_32_characters", key(gate.KeyPrefix + str(32)), ""},
		{"bootstrap_key_of_31_characters", key(gate.KeyPrefix + str(31)), vsecure.EInvalid},
		{"credential_of_256_bytes", key(gate.KeyPrefix + str(256-len(gate.KeyPrefix))), ""},
		{"credential_of_257_bytes", key(gate.KeyPrefix + str(257-len(gate.KeyPrefix))), vsecure.EUnauthenticated},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want(t, tc.call(newWorld(t)), tc.code, tc.name)
		})
	}
}
