package httpapi_test

import (
	"slices"
	"testing"
)

func TestWhoami(t *testing.T) {
	e, agent := gated(t)
	both := e.key("alice", "agent", "approver")
	t.Run("api_key_shows_principal_roles_and_key", func(t *testing.T) {
		r := e.must(e.do("GET", "/v1/security/whoami", both, nil), 200)
		roles, _ := r.Body["roles"].([]any)
		if r.str("principal") != "alice" || !slices.Equal(roles, []any{"agent", "approver"}) ||
			len(r.str("keyId")) < 5 || r.str("keyId")[:4] != "key_" || r.str("credential") != "api_key" {
			t.Fatalf("whoami: %s", r.Raw)
		}
		for _, absent := range []string{"scope", "onBehalfOf"} {
			if _, ok := r.Body[absent]; ok {
				t.Errorf("%s present for a plain API key: %s", absent, r.Raw)
			}
		}
		logs := e.audit("operation=whoami&actor=alice")
		if len(logs) != 1 || logs[0]["success"] != true {
			t.Fatalf("whoami audit entries %v", logs)
		}
	})
	t.Run("access_token_shows_its_scope_and_no_roles", func(t *testing.T) {
		req := e.must(e.do("POST", "/v1/security/mcp/approve", agent, map[string]any{"resource": dbURI, "operation": "read", "reason": "r"}), 201)
		id := req.str("approvalId")
		ok := e.must(e.do("POST", "/v1/security/mcp/approvals/"+id+"/respond", both, map[string]any{"action": "approve"}), 200)
		r := e.must(e.do("GET", "/v1/security/whoami", ok.str("accessToken"), nil), 200)
		scope, _ := r.Body["scope"].(map[string]any)
		roles, isList := r.Body["roles"].([]any)
		if r.str("principal") != "ai-agent-123" || r.str("credential") != "access_token" || !isList || len(roles) != 0 ||
			scope["approvalId"] != id || scope["resource"] != dbURI || scope["operation"] != "read" || scope["expiresAt"] != req.str("expiresAt") {
			t.Fatalf("whoami with an access token: %s", r.Raw)
		}
	})
	t.Run("needs_a_credential", func(t *testing.T) {
		e.wantErr(e.do("GET", "/v1/security/whoami", "", nil), 401, "unauthenticated")
	})
}
