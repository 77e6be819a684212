package functions_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/vsecure/vsecure/internal/sample"
	"github.com/vsecure/vsecure/shared/catalog"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// TestRIEStaleAuthorizerContext plays API Gateway's authorizer cache
// against the real resources-get function: an authorizer context captured
// before a revocation or a role change is handed to the function afterwards,
// as a cache hit would, and the read must be refused all the same. Only the
// authorizer's own answer may be stale; the secret path reads the key and
// the token's approval as stored.
func TestRIEStaleAuthorizerContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	w := newWorld(t, ctx)
	f := w.open(t)
	st := f.Gate.Store()

	n := 0
	rid := func() string { n++; return fmt.Sprintf("stale-%d", n) }
	// authorize runs the authorizer function on cred (a cache miss) and
	// returns the context API Gateway would cache; ok reports whether it
	// authorized at all.
	authorize := func(t *testing.T, cred string) (map[string]any, bool) {
		t.Helper()
		var ev events.APIGatewayV2CustomAuthorizerV2Request
		w.readEvent(t, "authorizer-valid", &ev)
		ev.Headers["authorization"] = "Bearer " + cred
		ev.IdentitySource = []string{"Bearer " + cred}
		ev.RequestContext.RequestID = rid()
		var res events.APIGatewayV2CustomAuthorizerSimpleResponse
		w.invoke(t, ctx, catalog.Authorizer, ev, &res)
		return res.Context, res.IsAuthorized
	}
	// call invokes endpoint function fn with authorizer context lc, as API
	// Gateway does on a cache hit.
	call := func(t *testing.T, fn, method, path, body string, lc map[string]any) (int, map[string]any) {
		t.Helper()
		var ev events.APIGatewayV2HTTPRequest
		w.readEvent(t, fn, &ev)
		if ev.RequestContext.HTTP.Method != method {
			t.Fatalf("%s serves %s, not %s", fn, ev.RequestContext.HTTP.Method, method)
		}
		ev.RawPath, ev.RequestContext.HTTP.Path, ev.RawQueryString, ev.QueryStringParameters = path, path, "", nil
		ev.Body = body
		ev.RequestContext.RequestID = rid()
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{Lambda: lc}
		var resp events.APIGatewayV2HTTPResponse
		w.invoke(t, ctx, fn, ev, &resp)
		var m map[string]any
		if err := json.Unmarshal([]byte(resp.Body), &m); err != nil {
			t.Fatalf("%s %s: body %q", method, path, resp.Body)
		}
		return resp.StatusCode, m
	}
	must := func(t *testing.T, cred string) map[string]any {
		t.Helper()
		lc, ok := authorize(t, cred)
		if !ok {
			t.Fatal("the authorizer denied a valid credential")
		}
		return lc
	}
	admin, alice := must(t, sample.AdminKey), must(t, sample.ApproverKey)
	production := "/v1/security/mcp/resources/" + url.PathEscape(sample.ProductionSecret)
	staging := "/v1/security/mcp/resources/" + url.PathEscape(sample.StagingSecret)
	read := func(t *testing.T, path string, lc map[string]any, want int, code, what string) {
		t.Helper()
		s, m := call(t, "resources-get", "GET", path, "", lc)
		e, _ := m["error"].(map[string]any)
		if s != want || (code != "" && e["code"] != code) {
			t.Fatalf("%s: status %d %v, want %d %s", what, s, m, want, code)
		}
	}
	// token has the agent request read access to production and alice
	// approve it; it returns the approval id and the token's authorizer
	// context (what the cache holds from the token's first use).
	token := func(t *testing.T) (string, map[string]any) {
		t.Helper()
		s, m := call(t, "approvals-request", "POST", "/v1/security/mcp/approve",
			`{"resource":"`+sample.ProductionSecret+`","operation":"read","reason":"stale cache test","ttl":600}`, must(t, sample.AgentKey))
		id, _ := m["approvalId"].(string)
		if s != 201 || id == "" {
			t.Fatalf("request approval: %d %v", s, m)
		}
		s, m = call(t, "approvals-respond", "POST", "/v1/security/mcp/approvals/"+id+"/respond", `{"action":"approve"}`, alice)
		tok, _ := m["accessToken"].(string)
		if s != 200 || tok == "" {
			t.Fatalf("approve: %d %v", s, m)
		}
		lc := must(t, tok)
		if lc["approvalId"] != id || lc["keyId"] != sample.AgentKeyID {
			t.Fatalf("token context %v, want approval %s bound to key %s", lc, id, sample.AgentKeyID)
		}
		read(t, production, lc, 200, "", "token read before anything changed")
		return id, lc
	}
	// change edits key id in the store as an admin's call would, behind
	// the cache's back.
	change := func(t *testing.T, id string, edit func(*vsecure.Key)) {
		t.Helper()
		k, err := st.GetKey(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		edit(&k)
		k.Version++
		e := vsecure.Entry{ID: rid(), Timestamp: time.Now().UTC().Truncate(time.Second), Operation: vsecure.AuditKeyUpdate,
			Actor: "admin", Success: true, Metadata: map[string]string{"keyId": k.ID}}
		if err := st.UpdateKey(ctx, k, e); err != nil {
			t.Fatal(err)
		}
	}
	setRoles := func(t *testing.T, roles ...vsecure.Role) {
		t.Helper()
		change(t, sample.AgentKeyID, func(k *vsecure.Key) { k.Roles = roles })
	}
	expect := func(t *testing.T, fn, method, path, body string, lc map[string]any, want int, code, what string) {
		t.Helper()
		s, m := call(t, fn, method, path, body, lc)
		e, _ := m["error"].(map[string]any)
		if s != want || (code != "" && e["code"] != code) {
			t.Fatalf("%s: %s status %d %v, want %d %s", what, fn, s, m, want, code)
		}
	}
	newKey := `{"principal":"stale-cache","roles":["agent"]}`

	t.Run("approval_revoked", func(t *testing.T) {
		id, tok := token(t)
		if s, m := call(t, "approvals-revoke", "POST", "/v1/security/mcp/approvals/"+id+"/revoke", "", alice); s != 200 {
			t.Fatalf("revoke: %d %v", s, m)
		}
		read(t, production, tok, 401, "unauthenticated", "token read with the context cached before the approval's revocation")
	})

	agent := must(t, sample.AgentKey)
	read(t, staging, agent, 200, "", "agent read before the role change")
	_, tok := token(t)
	t.Run("key_role_changed", func(t *testing.T) {
		setRoles(t, vsecure.RoleAuditor)
		read(t, staging, agent, 403, "forbidden", "agent read with the context cached before agent → auditor")
		read(t, production, tok, 403, "forbidden", "token read after its key went agent → auditor")
		setRoles(t, vsecure.RoleAgent)
		read(t, staging, agent, 200, "", "agent read after the role came back")
	})

	// The other endpoints re-read the caller's key: a context cached
	// before a demotion manages nothing the stored roles do not allow.
	t.Run("admin_demoted", func(t *testing.T) {
		expect(t, "keys-create", "POST", "/v1/security/keys", newKey, admin, 201, "", "key creation before the demotion")
		change(t, sample.AdminKeyID, func(k *vsecure.Key) { k.Roles = []vsecure.Role{vsecure.RoleAgent} })
		expect(t, "keys-create", "POST", "/v1/security/keys", newKey, admin, 403, "forbidden", "key creation with the context cached before admin → agent")
		expect(t, "audit-list", "GET", "/v1/security/mcp/audit", "", admin, 403, "forbidden", "audit read with the context cached before admin → agent")
		change(t, sample.AdminKeyID, func(k *vsecure.Key) { k.Roles = []vsecure.Role{vsecure.RoleAdmin} })
		expect(t, "keys-create", "POST", "/v1/security/keys", newKey, admin, 201, "", "key creation after the role came back")
	})

	// A request alice will try to decide once her key is revoked.
	s, m := call(t, "approvals-request", "POST", "/v1/security/mcp/approve",
		`{"resource":"`+sample.ProductionSecret+`","operation":"read","reason":"to be decided by a revoked key","ttl":600}`, agent)
	pending, _ := m["approvalId"].(string)
	if s != 201 || pending == "" {
		t.Fatalf("request approval: %d %v", s, m)
	}

	t.Run("key_revoked", func(t *testing.T) {
		if s, m := call(t, "keys-delete", "DELETE", "/v1/security/keys/"+sample.AgentKeyID, "", admin); s != 200 {
			t.Fatalf("revoke the agent's key: %d %v", s, m)
		}
		read(t, production, tok, 401, "unauthenticated", "token read with the context cached before its key's revocation")
		read(t, staging, agent, 401, "unauthenticated", "key read with the context cached before its revocation")
		if _, ok := authorize(t, sample.AgentKey); ok {
			t.Error("a cache miss authorized the revoked key")
		}
	})

	t.Run("approver_and_admin_revoked", func(t *testing.T) {
		if s, m := call(t, "keys-delete", "DELETE", "/v1/security/keys/"+sample.ApproverKeyID, "", admin); s != 200 {
			t.Fatalf("revoke alice's key: %d %v", s, m)
		}
		expect(t, "approvals-respond", "POST", "/v1/security/mcp/approvals/"+pending+"/respond", `{"action":"approve"}`, alice,
			401, "unauthenticated", "a decision with the context cached before the approver's revocation")
		expect(t, "approvals-get", "GET", "/v1/security/mcp/approvals/"+pending, "", admin, 200, "", "the approval after the refused decision")
		if _, m := call(t, "approvals-get", "GET", "/v1/security/mcp/approvals/"+pending, "", admin); m["status"] != "pending" {
			t.Errorf("the revoked approver's decision took effect: %v", m)
		}
		change(t, sample.AdminKeyID, func(k *vsecure.Key) { now := time.Now().UTC(); k.RevokedAt = &now })
		expect(t, "keys-create", "POST", "/v1/security/keys", newKey, admin, 401, "unauthenticated", "key creation with the context cached before the admin's revocation")
		refused := fmt.Sprintf("stale-%d", n)
		expect(t, "audit-list", "GET", "/v1/security/mcp/audit", "", admin, 401, "unauthenticated", "audit read with the context cached before the admin's revocation")
		// Refused like any other failed authentication: audited.
		es, _, err := st.QueryAudit(ctx, vsecure.AuditFilter{Operation: vsecure.AuditAuthenticate}, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		var audited bool
		for _, e := range es {
			audited = audited || (!e.Success && e.Error == string(vsecure.EUnauthenticated) && e.Metadata["requestId"] == refused)
		}
		if !audited {
			t.Errorf("the refused key creation (request %s) was not audited as a failed authentication", refused)
		}
	})

	if out := w.rts["resources-get"].Output(); strings.Contains(out, "mcp_at_") || strings.Contains(out, sample.ProductionValue) {
		t.Error("resources-get logged a token or a secret value")
	}
}
