package httpapi_test

import "testing"

// The gate names the approval a read needs; the HTTP layer renders where
// to request it, so the message on the wire is what it always was.
func TestApprovalRequiredHintNamesTheRoute(t *testing.T) {
	e := newEnv(t)
	e.configure(map[string]any{"uri": "vsecure://secrets/production/*", "permissions": []string{"read"},
		"requiresApproval": true, "approvers": []string{"alice"}})
	e.put("vsecure://secrets/production/DATABASE_URL", "postgres://")
	r := e.do("GET", resPath("vsecure://secrets/production/DATABASE_URL"), e.key("bot", "agent"), nil)
	e.wantErr(r, 403, "approval_required")
	const want = "read on vsecure://secrets/production/DATABASE_URL requires approval; request it with POST /v1/security/mcp/approve"
	if got := r.Body["error"].(map[string]any)["message"]; got != want {
		t.Fatalf("message %q, want %q", got, want)
	}
}
