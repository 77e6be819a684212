package mcpserver_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/devserver/devtest"
	"github.com/vsecure/vsecure/shared/mcpserver"
)

// TestAgainstLocalServer runs the Go SDK client over the in-memory
// transport against a real local server through *client.Client.
func TestAgainstLocalServer(t *testing.T) {
	env := devtest.Start(t)
	ctx := context.Background()
	srv := mcpserver.New(env.Client(t, env.AgentKey), mcpserver.Options{})
	st, ct := mcp.NewInMemoryTransports()
	ss, err := srv.Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { cs.Close(); ss.Wait() }()

	call := func(name string, args map[string]any) (*mcp.CallToolResult, map[string]any) {
		t.Helper()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var out map[string]any
		b, _ := json.Marshal(res.StructuredContent)
		json.Unmarshal(b, &out)
		return res, out
	}
	_, out := call("list_resources", nil)
	if len(out["resources"].([]any)) != 2 || len(out["secrets"].([]any)) != 2 {
		t.Fatalf("list_resources %v", out)
	}
	_, out = call("read_secret", map[string]any{"uri": "staging/API_TOKEN", "reason": "deploy"})
	if out["value"] != devtest.StagingValue {
		t.Fatalf("staging read %v", out)
	}
	_, out = call("read_secret", map[string]any{"uri": devtest.ProductionURI, "reason": "outage"})
	first := out["approval"].(map[string]any)["approvalId"]
	if out["status"] != mcpserver.StatusApprovalPending || first == nil {
		t.Fatalf("gated read %v", out)
	}
	// The second call re-uses the pending request: still one request.
	_, out = call("read_secret", map[string]any{"uri": devtest.ProductionURI, "reason": "outage"})
	if out["approval"].(map[string]any)["approvalId"] != first || out["reusedPendingRequest"] != true {
		t.Fatalf("second gated read %v", out)
	}
	_, out = call("list_approvals", map[string]any{"status": "pending"})
	if n := len(out["approvals"].([]any)); n != 1 {
		t.Fatalf("%d pending approvals, want 1", n)
	}
	_, out = call("write_secret", map[string]any{"uri": "staging/NEW_KEY", "value": "abc"})
	if out["status"] != "ok" || out["version"] != float64(1) {
		t.Fatalf("write %v", out)
	}
	res, _ := call("write_secret", map[string]any{"uri": "production/NEW_KEY", "value": "abc"})
	if !res.IsError {
		t.Fatal("write outside the policy's permissions succeeded")
	}
}

// TestReadSecretReusesOnlyOwnPending: a principal that is both an agent and
// a listed approver sees other agents' pending requests; read_secret must
// file its own request rather than hand back someone else's, and re-use
// only its own.
func TestReadSecretReusesOnlyOwnPending(t *testing.T) {
	env := devtest.Start(t)
	ctx := context.Background()
	theirs, err := env.Client(t, env.AgentKey).RequestApproval(ctx, api.ApprovalRequest{
		Resource: devtest.ProductionURI, Operation: "read", Reason: "someone else's outage",
	})
	if err != nil {
		t.Fatal(err)
	}
	// alice is the production policy's approver; this key also makes her an agent.
	k, err := env.Admin.CreateKey(ctx, api.KeyRequest{Principal: "alice", Roles: []string{"agent", "approver"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := mcpserver.New(env.Client(t, k.Secret), mcpserver.Options{})
	st, ct := mcp.NewInMemoryTransports()
	ss, err := srv.Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { cs.Close(); ss.Wait() }()
	read := func() (approval map[string]any, reused any) {
		t.Helper()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "read_secret", Arguments: map[string]any{"uri": devtest.ProductionURI, "reason": "my outage"}})
		if err != nil || res.IsError {
			t.Fatalf("read_secret: %v %+v", err, res)
		}
		var out struct {
			Status   string         `json:"status"`
			Approval map[string]any `json:"approval"`
			Reused   any            `json:"reusedPendingRequest"`
		}
		b, _ := json.Marshal(res.StructuredContent)
		if err := json.Unmarshal(b, &out); err != nil || out.Status != mcpserver.StatusApprovalPending {
			t.Fatalf("read_secret result %s (%v)", b, err)
		}
		return out.Approval, out.Reused
	}

	first, reused := read()
	if first["approvalId"] == theirs.ID || first["requestedBy"] != "alice" || reused == true || first["reason"] != "my outage" {
		t.Fatalf("first read_secret answered with %v (reused %v); agent-1's request is %s", first, reused, theirs.ID)
	}
	second, reused := read()
	if second["approvalId"] != first["approvalId"] || reused != true {
		t.Fatalf("second read_secret answered with %v (reused %v), want alice's own %v re-used", second, reused, first["approvalId"])
	}
	// Both requests stand: agent-1's was left alone.
	pending, _, err := env.Admin.ListApprovals(ctx, api.ApprovalsQuery{Status: "pending", Resource: devtest.ProductionURI})
	if err != nil || len(pending) != 2 {
		t.Fatalf("pending requests %v (%v), want agent-1's and alice's", pending, err)
	}
}
