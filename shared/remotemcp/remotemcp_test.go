package remotemcp_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/client"
	"github.com/vsecure/vsecure/shared/devserver/devtest"
	"github.com/vsecure/vsecure/shared/remotemcp"
)

// bearer adds the caller's API key to every request.
type bearer struct{ key string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.key)
	return http.DefaultTransport.RoundTrip(r)
}

func connect(t *testing.T, env *devtest.Env, key string) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "remote-test", Version: "1"}, nil)
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{
		Endpoint: env.URL + "/mcp", HTTPClient: &http.Client{Transport: bearer{key}, Timeout: 10 * time.Second},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func structured(t *testing.T, res *mcp.CallToolResult) map[string]any {
	t.Helper()
	var out map[string]any
	b, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRemoteMCP(t *testing.T) {
	env := devtest.Start(t)
	ctx := context.Background()

	t.Run("unauthenticated_is_refused_before_mcp", func(t *testing.T) {
		for _, key := range []string{"", "vsk_not_a_real_key_0000000000000000000000"} {
			req, _ := http.NewRequest("POST", env.URL+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			if key != "" {
				req.Header.Set("X-API-Key", key)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var env struct {
				Error struct{ Code string } `json:"error"`
			}
			json.NewDecoder(res.Body).Decode(&env)
			res.Body.Close()
			if res.StatusCode != 401 || env.Error.Code != "unauthenticated" {
				t.Fatalf("key %q: status %d code %q", key, res.StatusCode, env.Error.Code)
			}
		}
	})

	t.Run("does_not_offer_run_with_secrets_and_says_why", func(t *testing.T) {
		cs := connect(t, env, env.AgentKey)
		tools, err := cs.ListTools(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, tool := range tools.Tools {
			if tool.Name == "run_with_secrets" {
				t.Fatal("the remote endpoint offers run_with_secrets")
			}
		}
		if got := cs.InitializeResult().Instructions; !strings.Contains(got, remotemcp.NoRunReason) {
			t.Fatalf("instructions %q do not say why run_with_secrets is missing", got)
		}
	})

	t.Run("acts_as_the_caller", func(t *testing.T) {
		cs := connect(t, env, env.AgentKey)
		tools, err := cs.ListTools(ctx, nil)
		if err != nil || len(tools.Tools) != 7 {
			t.Fatalf("tools: %v %v", err, tools)
		}
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "read_secret", Arguments: map[string]any{"uri": devtest.StagingURI, "reason": "deploy"}})
		if err != nil || res.IsError {
			t.Fatalf("read: %v %+v", err, res)
		}
		if out := structured(t, res); out["value"] != devtest.StagingValue {
			t.Fatalf("read = %v", out)
		}
		res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "read_secret", Arguments: map[string]any{"uri": devtest.ProductionURI, "reason": "incident 42"}})
		if err != nil || res.IsError {
			t.Fatalf("gated read: %v %+v", err, res)
		}
		out := structured(t, res)
		ap, _ := out["approval"].(map[string]any)
		if out["status"] != "approval_pending" || ap["requestedBy"] != "agent-1" || ap["reason"] != "incident 42" {
			t.Fatalf("gated read = %v", out)
		}
		// The audit log names the agent as the actor of the remote calls.
		auditor := env.Client(t, env.AuditorKey)
		logs, err := client.Collect(auditor.AllAudit(ctx, api.AuditQuery{Resource: devtest.ProductionURI, Actor: "agent-1"}))
		if err != nil {
			t.Fatal(err)
		}
		ops := map[string]bool{}
		for _, e := range logs {
			ops[e.Operation] = true
			if !strings.Contains(e.Metadata["userAgent"], "vsecure remote mcp") {
				t.Errorf("entry %s user agent %q", e.ID, e.Metadata["userAgent"])
			}
		}
		if !ops["read"] || !ops["request_approval"] {
			t.Fatalf("audit ops %v", ops)
		}
		// After approval, the same remote call returns the value.
		approver := env.Client(t, env.ApproverKey)
		if _, err := approver.Respond(ctx, ap["approvalId"].(string), api.Respond{Action: "approve", Reason: "ok"}); err != nil {
			t.Fatal(err)
		}
		res, _ = cs.CallTool(ctx, &mcp.CallToolParams{Name: "read_secret", Arguments: map[string]any{"uri": devtest.ProductionURI, "reason": "incident 42"}})
		if out := structured(t, res); out["value"] != devtest.ProductionValue {
			t.Fatalf("approved read = %v", out)
		}
	})

	t.Run("resources_are_the_callers", func(t *testing.T) {
		cs := connect(t, env, env.AgentKey)
		var uris []string
		for r, err := range cs.Resources(ctx, nil) {
			if err != nil {
				t.Fatal(err)
			}
			uris = append(uris, r.URI)
		}
		if len(uris) != 2 {
			t.Fatalf("resources %v", uris)
		}
		rr, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: devtest.StagingURI})
		if err != nil || rr.Contents[0].Text != devtest.StagingValue {
			t.Fatalf("read resource: %v", err)
		}
	})

	t.Run("auditor_tool_errors_are_tool_errors", func(t *testing.T) {
		cs := connect(t, env, env.AuditorKey)
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "read_secret", Arguments: map[string]any{"uri": devtest.StagingURI, "reason": "x"}})
		if err != nil || !res.IsError {
			t.Fatalf("auditor read: %v %+v", err, res)
		}
		res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "audit_log", Arguments: map[string]any{"resource": "production/*", "since": "1h"}})
		if err != nil || res.IsError || len(structured(t, res)["logs"].([]any)) == 0 {
			t.Fatalf("auditor audit_log: %v %+v", err, res)
		}
	})
}
