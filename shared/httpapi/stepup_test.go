package httpapi_test

import (
	"testing"
)

// The JSON API carries no step-up, so it can neither decide nor revoke an
// approval whose policy has stepUp: 403 step_up_required, pointing to the
// console at approvalUrl.
func TestStepUpRefusedOverTheAPI(t *testing.T) {
	e := newEnv(t)
	e.configure(map[string]any{
		"uri": "vsecure://secrets/guarded/*", "permissions": []string{"read"}, "requiresApproval": true,
		"stepUp": true, "approvers": []string{"alice"},
	})
	e.configure(map[string]any{
		"uri": "vsecure://secrets/guarded/AUTO", "permissions": []string{"read"}, "requiresApproval": true,
		"stepUp": true, "approvers": []string{"alice"},
		"autoApprove": map[string]any{"enabled": true, "conditions": map[string]any{"requester": []string{"ai-agent-123"}}},
	})
	agent := e.key("ai-agent-123", "agent")
	alice := e.key("alice", "approver")

	t.Run("listed_with_stepUp", func(t *testing.T) {
		r := e.must(e.do("GET", "/v1/security/mcp/resources", agent, nil), 200)
		rs, _ := r.Body["resources"].([]any)
		if len(rs) != 2 {
			t.Fatalf("%s", r.Raw)
		}
		for _, x := range rs {
			if x.(map[string]any)["stepUp"] != true {
				t.Fatalf("a stepUp policy listed without stepUp: %s", r.Raw)
			}
		}
	})
	t.Run("stepUp_needs_requiresApproval", func(t *testing.T) {
		e.wantErr(e.do("POST", "/v1/security/mcp/resources", e.admin, map[string]any{
			"uri": "vsecure://secrets/loose/*", "permissions": []string{"read"}, "stepUp": true,
		}), 400, "invalid_request")
	})
	t.Run("respond_is_refused", func(t *testing.T) {
		req := e.must(e.do("POST", "/v1/security/mcp/approve", agent, map[string]any{"resource": "vsecure://secrets/guarded/DB", "operation": "read"}), 201)
		if req.Body["stepUp"] != true {
			t.Fatalf("the approval does not say stepUp: %s", req.Raw)
		}
		for _, action := range []string{"approve", "deny"} {
			r := e.do("POST", "/v1/security/mcp/approvals/"+req.str("approvalId")+"/respond", alice, map[string]any{"action": action})
			e.wantErr(r, 403, "step_up_required")
			if d, _ := r.Body["error"].(map[string]any)["details"].(map[string]any); d["approvalUrl"] != req.str("approvalUrl") {
				t.Fatalf("%s refusal does not name the approvalUrl %s: %s", action, req.str("approvalUrl"), r.Raw)
			}
		}
		g := e.must(e.do("GET", "/v1/security/mcp/approvals/"+req.str("approvalId"), alice, nil), 200)
		if g.str("status") != "pending" || g.Body["stepUp"] != true {
			t.Fatalf("after the refusals: %s", g.Raw)
		}
	})
	t.Run("revoke_is_refused", func(t *testing.T) {
		req := e.must(e.do("POST", "/v1/security/mcp/approve", agent, map[string]any{"resource": "vsecure://secrets/guarded/AUTO", "operation": "read"}), 201)
		if req.str("status") != "approved" || req.str("approvedBy") != "auto" {
			t.Fatalf("auto-approve on a stepUp policy: %s", req.Raw)
		}
		e.wantErr(e.do("POST", "/v1/security/mcp/approvals/"+req.str("approvalId")+"/revoke", alice, nil), 403, "step_up_required")
		e.wantErr(e.do("POST", "/v1/security/mcp/approvals/"+req.str("approvalId")+"/revoke", e.admin, nil), 403, "step_up_required")
	})
}
