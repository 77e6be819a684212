package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/vsecure/vsecure/shared/httpapi"
)

// TestMissingMountFailsAtConstruction: a mounted route without its
// handler stops the server or the Lambda from starting, naming the field,
// instead of answering 404 at request time.
func TestMissingMountFailsAtConstruction(t *testing.T) {
	e := newEnv(t)
	api := *e.api
	api.Mounts = httpapi.Mounts{Slack: httpapi.Disabled, Console: httpapi.Disabled}
	if _, err := api.Handler(); err == nil || !strings.Contains(err.Error(), "Mounts.MCP") {
		t.Fatalf("Handler without Mounts.MCP: err %v, want one naming Mounts.MCP", err)
	}
	if _, err := api.FunctionHandler("mcp"); err == nil || !strings.Contains(err.Error(), "Mounts.MCP") {
		t.Fatalf("FunctionHandler(mcp) without Mounts.MCP: err %v", err)
	}
	api.Mounts = httpapi.Mounts{MCP: httpapi.Disabled}
	if _, err := api.FunctionHandler("slack-interactions"); err == nil || !strings.Contains(err.Error(), "Mounts.Slack") {
		t.Fatalf("FunctionHandler(slack-interactions) without Mounts.Slack: err %v", err)
	}
	// A function with no mounted route needs no mount.
	api.Mounts = httpapi.Mounts{}
	if _, err := api.FunctionHandler("whoami"); err != nil {
		t.Fatalf("FunctionHandler(whoami) with no mounts: %v", err)
	}
	if _, err := api.FunctionHandler(httpapi.FallbackFunction); err != nil {
		t.Fatalf("FunctionHandler(fallback) with no mounts: %v", err)
	}
}

// TestDisabledMountAnswersNotEnabled: a route its operator left off
// answers as before: the JSON 404 "endpoint not enabled", with a request id.
func TestDisabledMountAnswersNotEnabled(t *testing.T) {
	e := newEnv(t) // both mounts Disabled
	for _, tc := range []struct{ method, path, key string }{
		{"POST", "/v1/integrations/slack/interactions", ""},
		{"POST", "/mcp", e.admin},
	} {
		r := e.do(tc.method, tc.path, tc.key, "{}")
		errBody, _ := r.Body["error"].(map[string]any)
		if r.Status != http.StatusNotFound || errBody["message"] != "endpoint not enabled" || errBody["requestId"] == "" {
			t.Errorf("%s %s: %d %s, want 404 endpoint not enabled", tc.method, tc.path, r.Status, r.Raw)
		}
	}
}
