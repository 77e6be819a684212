package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/vsecure/vsecure/shared/devserver/devtest"
)

// TestCLIAgainstLocalServer walks the approval flow with the CLI against
// a real local server: an agent is refused, requests approval, an
// approver approves, the agent reads, and the audit shows it all.
func TestCLIAgainstLocalServer(t *testing.T) {
	env := devtest.Start(t)
	vs := func(key, stdin string, args ...string) (int, string, string) {
		t.Helper()
		var out, errb bytes.Buffer
		e := map[string]string{"VSECURE_API_URL": env.URL, "VSECURE_API_KEY": key}
		code := run(context.Background(), args, func(k string) string { return e[k] }, stdio{In: strings.NewReader(stdin), Out: &out, Err: &errb})
		return code, out.String(), errb.String()
	}
	if code, out, errs := vs(env.AdminKey, "rotated-value\n", "secrets:put", "staging/API_TOKEN"); code != 0 || !strings.Contains(out, "version 2") {
		t.Fatalf("put: %d %q %q", code, out, errs)
	}
	if code, out, _ := vs(env.AgentKey, "", "secrets:get", "staging/API_TOKEN"); code != 0 || out != "rotated-value\n" {
		t.Fatalf("get: %d %q", code, out)
	}
	code, _, errs := vs(env.AgentKey, "", "secrets:get", "production/DATABASE_URL")
	if code != 1 || !strings.Contains(errs, "approval_required") {
		t.Fatalf("gated get: %d %q", code, errs)
	}
	code, out, errs := vs(env.AgentKey, "", "mcp:approve", "--resource", "production/DATABASE_URL", "--reason", "incident", "--json")
	var ap struct {
		ApprovalID string `json:"approvalId"`
		Status     string `json:"status"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &ap) != nil || ap.Status != "pending" {
		t.Fatalf("approve: %d %q %q", code, out, errs)
	}
	if code, out, _ := vs(env.AgentKey, "", "mcp:approvals", "--status", "pending"); code != 0 || !strings.Contains(out, ap.ApprovalID) {
		t.Fatalf("approvals: %d %q", code, out)
	}
	if code, _, errs := vs(env.AgentKey, "", "mcp:respond", ap.ApprovalID, "--approve"); code != 1 || !strings.Contains(errs, "forbidden") {
		t.Fatalf("agent approving: %d %q", code, errs)
	}
	if code, out, errs := vs(env.ApproverKey, "", "mcp:respond", ap.ApprovalID, "--approve", "--reason", "ok"); code != 0 || !strings.Contains(out, "approved by alice") {
		t.Fatalf("respond: %d %q %q", code, out, errs)
	}
	if code, out, _ := vs(env.AgentKey, "", "secrets:get", "production/DATABASE_URL"); code != 0 || out != devtest.ProductionValue+"\n" {
		t.Fatalf("approved get: %d %q", code, out)
	}
	code, out, errs = vs(env.AuditorKey, "", "mcp:audit", "--resource", "production/*", "--all")
	if code != 0 || !strings.Contains(out, "approval_required") || !strings.Contains(out, ap.ApprovalID) || strings.Contains(out, devtest.ProductionValue) {
		t.Fatalf("audit: %d %q %q", code, out, errs)
	}
	if code, out, _ := vs(env.AdminKey, "", "keys:create", "--principal", "agent-2", "--role", "agent"); code != 0 || !strings.Contains(out, "vsk_") {
		t.Fatalf("keys:create: %d %q", code, out)
	}

	// An agent acting for alice: she is shown beside it, cannot approve
	// its request, and cancels it.
	code, out, errs = vs(env.AdminKey, "", "keys:create", "--principal", "ai-agent-123", "--role", "agent", "--on-behalf-of", "alice", "--json")
	var bot struct {
		Key        string `json:"key"`
		OnBehalfOf string `json:"onBehalfOf"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &bot) != nil || bot.OnBehalfOf != "alice" {
		t.Fatalf("keys:create --on-behalf-of: %d %q %q", code, out, errs)
	}
	code, out, errs = vs(bot.Key, "", "mcp:approve", "--resource", "production/DATABASE_URL", "--reason", "migrate", "--json")
	if code != 0 || json.Unmarshal([]byte(out), &ap) != nil || ap.Status != "pending" {
		t.Fatalf("approve for alice: %d %q %q", code, out, errs)
	}
	if code, out, _ := vs(env.ApproverKey, "", "mcp:approval", ap.ApprovalID); code != 0 || !strings.Contains(out, "Requested by: ai-agent-123 for alice") {
		t.Fatalf("approval show: %d %q", code, out)
	}
	if code, _, errs := vs(env.ApproverKey, "", "mcp:respond", ap.ApprovalID, "--approve"); code != 1 || !strings.Contains(errs, "self_approval_forbidden") {
		t.Fatalf("alice approving her agent's request: %d %q", code, errs)
	}
	if code, out, errs := vs(env.ApproverKey, "", "mcp:cancel", ap.ApprovalID); code != 0 || !strings.Contains(out, "cancelled by alice") {
		t.Fatalf("cancel: %d %q %q", code, out, errs)
	}
	if code, out, _ := vs(env.ApproverKey, "", "mcp:approvals", "--status", "cancelled"); code != 0 || !strings.Contains(out, "ai-agent-123 for alice") {
		t.Fatalf("approvals --status cancelled: %d %q", code, out)
	}
}
