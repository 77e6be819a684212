package httpapi_test

import (
	"strings"
	"testing"
)

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

// Query strings are parsed here, not in the gate: a bad one is refused
// with the message it always had, and the refusal is audited under the
// route's operation.
func TestQueryStringRefusals(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct{ path, op, msg string }{
		{"/v1/security/mcp/audit?from=yesterday", "audit_query", "from must be an RFC 3339 time such as 2024-03-15T10:30:00Z"},
		{"/v1/security/mcp/audit?to=soon", "audit_query", "to must be an RFC 3339 time such as 2024-03-15T10:30:00Z"},
		{"/v1/security/mcp/audit?from=2024-03-15T11:00:00Z&to=2024-03-15T10:00:00Z", "audit_query", "to is before from"},
		{"/v1/security/mcp/audit?success=maybe", "audit_query", "success must be true or false"},
		{"/v1/security/mcp/audit?operation=dance", "audit_query", `unknown operation "dance"`},
		{"/v1/security/mcp/audit?actor=" + strings.Repeat("a", 129), "audit_query", "actor too long"},
		{"/v1/security/mcp/audit/verify?from=x", "audit_verify", "from must be an RFC 3339 time such as 2024-03-15T10:30:00Z"},
		{"/v1/security/mcp/audit/export?to=x", "audit_export", "to must be an RFC 3339 time such as 2024-03-15T10:30:00Z"},
		{"/v1/security/mcp/audit/export?from=2024-03-15T11:00:00Z&to=2024-03-15T10:00:00Z", "audit_export", "to is before from"},
		{"/v1/security/mcp/approvals?status=maybe", "list_approvals", ""},
		{"/v1/security/mcp/secrets?pattern=vsecure://secrets/production/DB", "list_secrets", "pattern must end in /*"},
	} {
		t.Run(c.path, func(t *testing.T) {
			r := e.do("GET", c.path, e.admin, nil)
			e.wantErr(r, 400, "invalid_request")
			if got := r.Body["error"].(map[string]any)["message"]; c.msg != "" && got != c.msg {
				t.Fatalf("message %q, want %q", got, c.msg)
			}
			rid := r.Header.Get("X-Request-Id")
			for _, en := range e.audit("operation=" + c.op + "&success=false") {
				if md, _ := en["metadata"].(map[string]any); md["requestId"] == rid && en["error"] == "invalid_request" {
					return
				}
			}
			t.Fatalf("no audited refusal of %s for request %s", c.op, rid)
		})
	}
}
