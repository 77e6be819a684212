package mcpserver

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/vsecure/vsecure/shared/vsecure"
)

type harness struct {
	api      *fakeAPI
	cs       *mcp.ClientSession
	mu       sync.Mutex
	progress []string
}

func start(t *testing.T) *harness { return startWith(t, Options{}) }

// startWith starts a server on a fake API with opts (the poll interval
// and clock are the harness's).
func startWith(t *testing.T, opts Options) *harness {
	t.Helper()
	h := &harness{api: newFake()}
	now := h.api.now
	opts.PollInterval, opts.Now = 5*time.Millisecond, func() time.Time { return now }
	srv := New(h.api, opts)
	c := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
			h.mu.Lock()
			h.progress = append(h.progress, r.Params.Message)
			h.mu.Unlock()
		},
	})
	st, ct := mcp.NewInMemoryTransports()
	ctx := context.Background()
	ss, err := srv.Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := c.Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close(); ss.Wait() })
	h.cs = cs
	return h
}

func (h *harness) call(t *testing.T, name string, args map[string]any) (*mcp.CallToolResult, map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := h.cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: protocol error: %v", name, err)
	}
	var out map[string]any
	if res.StructuredContent != nil {
		b, _ := json.Marshal(res.StructuredContent)
		json.Unmarshal(b, &out)
	}
	return res, out
}

func text(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

func TestTools(t *testing.T) {
	h := start(t)
	res, err := h.cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
		if tool.Description == "" || tool.InputSchema == nil {
			t.Errorf("%s lacks a description or input schema", tool.Name)
		}
		if tool.Name == "read_secret" {
			b, _ := json.Marshal(tool.InputSchema)
			var s struct {
				Required []string `json:"required"`
			}
			json.Unmarshal(b, &s)
			if !slices.Contains(s.Required, "uri") || !slices.Contains(s.Required, "reason") {
				t.Errorf("read_secret requires %v", s.Required)
			}
		}
	}
	slices.Sort(names)
	want := []string{"audit_log", "get_approval", "list_approvals", "list_resources", "read_secret", "request_approval", "write_secret"}
	if !slices.Equal(names, want) {
		t.Fatalf("tools = %v", names)
	}
}

func TestReadSecret(t *testing.T) {
	t.Run("ungated_value_is_marked_sensitive", func(t *testing.T) {
		h := start(t)
		res, out := h.call(t, "read_secret", map[string]any{"uri": "staging/API_TOKEN", "reason": "deploy"})
		if res.IsError || out["status"] != "ok" || out["value"] != "stg-token" {
			t.Fatalf("result %v %s", out, text(res))
		}
		if res.Meta[SensitiveMeta] != true {
			t.Errorf("result _meta = %v", res.Meta)
		}
		tc := res.Content[0].(*mcp.TextContent)
		if tc.Meta[SensitiveMeta] != true || tc.Annotations == nil || !slices.Equal(tc.Annotations.Audience, []mcp.Role{"assistant"}) {
			t.Errorf("content meta %v annotations %+v", tc.Meta, tc.Annotations)
		}
	})
	t.Run("gated_read_returns_pending_at_once_and_reuses_the_request", func(t *testing.T) {
		h := start(t)
		args := map[string]any{"uri": "vsecure://secrets/production/DATABASE_URL", "reason": "debug outage"}
		begin := time.Now()
		res, out := h.call(t, "read_secret", args)
		if res.IsError || out["status"] != StatusApprovalPending || time.Since(begin) > time.Second {
			t.Fatalf("result %v %s after %v", out, text(res), time.Since(begin))
		}
		if strings.Contains(text(res), "postgres://prod") || strings.Contains(text(res), "mcp_at_") {
			t.Fatal("pending result leaks the value or the access token")
		}
		ap := out["approval"].(map[string]any)
		if ap["approvalId"] != "appr_1" || ap["reason"] != "debug outage" || ap["approvalUrl"] == "" || ap["expiresAt"] == "" {
			t.Fatalf("approval %v", ap)
		}
		if !strings.Contains(out["instruction"].(string), "appr_1") {
			t.Errorf("instruction %q", out["instruction"])
		}
		_, out2 := h.call(t, "read_secret", args)
		if out2["reusedPendingRequest"] != true || out2["approval"].(map[string]any)["approvalId"] != "appr_1" || h.api.requests != 1 {
			t.Fatalf("second call %v, %d requests", out2, h.api.requests)
		}
		h.api.decide("appr_1", vsecure.StatusApproved)
		_, out3 := h.call(t, "read_secret", args)
		if out3["status"] != "ok" || out3["value"] != "postgres://prod" {
			t.Fatalf("after approval %v", out3)
		}
	})
	t.Run("others_pending_request_is_never_reused", func(t *testing.T) {
		h := start(t)
		uri := "vsecure://secrets/production/DATABASE_URL"
		h.api.addForeign(uri)
		_, out := h.call(t, "read_secret", map[string]any{"uri": uri, "reason": "mine"})
		if out["approval"].(map[string]any)["approvalId"] == "appr_other" || out["reusedPendingRequest"] == true || h.api.requests != 1 {
			t.Fatalf("re-used another principal's request: %v", out)
		}
		_, out = h.call(t, "read_secret", map[string]any{"uri": uri, "reason": "mine"})
		if out["approval"].(map[string]any)["requestedBy"] != "agent-1" || out["reusedPendingRequest"] != true || h.api.requests != 1 {
			t.Fatalf("own pending request not reused: %v", out)
		}
		if h.api.whoamis != 1 {
			t.Errorf("asked whoami %d times, want once per server", h.api.whoamis)
		}
	})
	t.Run("bounded_wait_returns_the_value_once_approved", func(t *testing.T) {
		h := start(t)
		go func() {
			// Poll with a deadline: decide once the wait's request exists.
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
				h.api.mu.Lock()
				n := len(h.api.approvals)
				h.api.mu.Unlock()
				if n > 0 {
					h.api.decide("appr_1", vsecure.StatusApproved)
					return
				}
			}
		}()
		ctx := context.Background()
		p := &mcp.CallToolParams{Name: "read_secret", Arguments: map[string]any{
			"uri": "production/DATABASE_URL", "reason": "r", "waitSeconds": 5}}
		p.SetProgressToken("tok-1")
		res, err := h.cs.CallTool(ctx, p)
		if err != nil || res.IsError {
			t.Fatalf("err=%v %s", err, text(res))
		}
		if !strings.Contains(text(res), "postgres://prod") {
			t.Fatalf("got %s", text(res))
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		if len(h.progress) == 0 || !strings.Contains(h.progress[0], "appr_1") {
			t.Errorf("progress notifications %v", h.progress)
		}
	})
	t.Run("bounded_wait_ends_pending_on_denial", func(t *testing.T) {
		h := start(t)
		h.call(t, "request_approval", map[string]any{"uri": "production/DATABASE_URL", "operation": "read", "reason": "x"})
		h.api.decide("appr_1", vsecure.StatusDenied)
		h.api.mu.Lock()
		h.api.approvals[0].Status = vsecure.StatusPending
		h.api.mu.Unlock()
		go func() { time.Sleep(30 * time.Millisecond); h.api.decide("appr_1", vsecure.StatusDenied) }()
		_, out := h.call(t, "read_secret", map[string]any{"uri": "production/DATABASE_URL", "reason": "r", "waitSeconds": 3})
		if out["status"] != StatusApprovalDenied {
			t.Fatalf("out %v", out)
		}
	})
	t.Run("errors_are_tool_errors", func(t *testing.T) {
		h := start(t)
		for _, args := range []map[string]any{
			{"uri": "vsecure://secrets/production/*", "reason": "r"},
			{"uri": "ftp://x", "reason": "r"},
			{"uri": "staging/MISSING", "reason": "r"},
		} {
			res, _ := h.call(t, "read_secret", args)
			if !res.IsError {
				t.Errorf("%v: not an error: %s", args, text(res))
			}
		}
		res, _ := h.call(t, "read_secret", map[string]any{"uri": "staging/MISSING", "reason": "r"})
		if !strings.HasPrefix(text(res), "not_found:") {
			t.Errorf("error text %q", text(res))
		}
	})
}

func TestOtherTools(t *testing.T) {
	h := start(t)
	res, out := h.call(t, "list_resources", nil)
	if res.IsError || len(out["resources"].([]any)) != 2 || len(out["secrets"].([]any)) != 2 {
		t.Fatalf("list_resources %v %s", out, text(res))
	}
	if strings.Contains(text(res), "postgres://prod") {
		t.Fatal("list_resources leaks a value")
	}
	res, out = h.call(t, "write_secret", map[string]any{"uri": "staging/NEW", "value": "v1"})
	if res.IsError || out["status"] != "ok" || strings.Contains(text(res), "v1\"") {
		t.Fatalf("write_secret %v %s", out, text(res))
	}
	res, _ = h.call(t, "write_secret", map[string]any{"uri": "production/NEW", "value": "v1"})
	if !res.IsError || !strings.HasPrefix(text(res), "operation_not_permitted") {
		t.Fatalf("gated write: %s", text(res))
	}
	res, out = h.call(t, "request_approval", map[string]any{"uri": "production/DATABASE_URL", "operation": "read", "reason": "x"})
	if res.IsError || strings.Contains(text(res), "mcp_at_") {
		t.Fatalf("request_approval %v", text(res))
	}
	res, out = h.call(t, "get_approval", map[string]any{"approvalId": "appr_1"})
	if res.IsError || out["approval"].(map[string]any)["status"] != "pending" {
		t.Fatalf("get_approval %s", text(res))
	}
	res, out = h.call(t, "list_approvals", map[string]any{"status": "pending"})
	if res.IsError || len(out["approvals"].([]any)) != 1 {
		t.Fatalf("list_approvals %s", text(res))
	}
	res, _ = h.call(t, "audit_log", map[string]any{"resource": "production/*", "since": "24h"})
	if !res.IsError || !strings.HasPrefix(text(res), "forbidden") {
		t.Fatalf("audit_log as agent: %s", text(res))
	}
	res, _ = h.call(t, "request_approval", map[string]any{"uri": "production/DATABASE_URL", "operation": "delete", "reason": "x"})
	if !res.IsError {
		t.Fatal("bad operation accepted")
	}
}

func TestResources(t *testing.T) {
	h := start(t)
	ctx := context.Background()
	var uris []string
	for r, err := range h.cs.Resources(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		uris = append(uris, r.URI)
		if r.Meta[SensitiveMeta] != true || r.MIMEType != "text/plain" {
			t.Errorf("resource %+v", r)
		}
	}
	if !slices.Equal(uris, []string{"vsecure://secrets/production/DATABASE_URL", "vsecure://secrets/staging/API_TOKEN"}) {
		t.Fatalf("resources (two pages) = %v", uris)
	}
	var tmpls []string
	for rt, err := range h.cs.ResourceTemplates(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		tmpls = append(tmpls, rt.URITemplate)
	}
	if len(tmpls) != 3 {
		t.Fatalf("templates %v", tmpls)
	}
	rr, err := h.cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "vsecure://secrets/staging/API_TOKEN"})
	if err != nil || rr.Contents[0].Text != "stg-token" || rr.Contents[0].Meta[SensitiveMeta] != true {
		t.Fatalf("read: %v %+v", err, rr)
	}
	_, err = h.cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "vsecure://secrets/production/DATABASE_URL"})
	var we *jsonrpc.Error
	if !errors.As(err, &we) || we.Code != CodeApprovalRequired || !strings.Contains(we.Message, "read_secret") {
		t.Fatalf("gated read: %v", err)
	}
	if h.api.requests != 0 {
		t.Error("resources/read filed an approval request")
	}
	_, err = h.cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "vsecure://secrets/staging/NOPE"})
	if !errors.As(err, &we) || we.Code != mcp.CodeResourceNotFound {
		t.Fatalf("missing read: %v", err)
	}
}

func TestSinceTime(t *testing.T) {
	now := time.Date(2024, 3, 15, 10, 30, 0, 0, time.UTC)
	for in, want := range map[string]string{
		"": "", "24h": "2024-03-14T10:30:00Z", "7d": "2024-03-08T10:30:00Z",
		"2024-03-01T00:00:00+01:00": "2024-02-29T23:00:00Z",
	} {
		got, err := SinceTime(in, now)
		if err != nil || got != want {
			t.Errorf("SinceTime(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := SinceTime("yesterday", now); err == nil {
		t.Error("accepted yesterday")
	}
}

// TestToolArgumentsAreStrict pins what the go-sdk does with tool arguments,
// which it decodes itself (segmentio/encoding/json with case-insensitive
// matching off, after validating against the inferred schema, whose
// objects refuse additional properties): a miscased key is refused, and
// of duplicate keys the schema check and the decoded struct see the same
// (last) value, so no argument means one thing to validation and another
// to the tool. The tool then calls the API as the caller, whose own
// decoder is strict.
func TestToolArgumentsAreStrict(t *testing.T) {
	h := start(t)
	for _, args := range []string{
		`{"uri":"staging/NEW","value":"v1","URI":"production/NEW"}`,
		`{"URI":"staging/NEW","value":"v1"}`,
		`{"uri":"staging/NEW","Value":"v1"}`,
	} {
		res, err := h.cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "write_secret", Arguments: json.RawMessage(args)})
		if err != nil || !res.IsError {
			t.Fatalf("%s: accepted (%v): %s", args, err, text(res))
		}
	}
	res, err := h.cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "write_secret",
		Arguments: json.RawMessage(`{"uri":"staging/NEW","uri":"production/NEW","value":"v1"}`)})
	if err != nil || !res.IsError || !strings.HasPrefix(text(res), "operation_not_permitted") {
		t.Fatalf("duplicate uri: the tool did not act on the last value: %v %s", err, text(res))
	}
}
