package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// cannedAPI answers like the API with fixed bodies and records what the
// CLI sent, so golden files pin both the output and the requests.
type cannedAPI struct {
	mu   sync.Mutex
	reqs []string
}

const (
	approvalJSON = `{"approvalId":"appr_01","status":"pending","resource":"vsecure://secrets/production/DATABASE_URL","operation":"read","reason":"debug","requestedBy":"agent-1","requestedAt":"2024-03-15T10:30:00Z","expiresAt":"2024-03-15T11:30:00Z","ttl":3600,"approvers":["alice","bob"],"requiredApprovals":1,"approvals":0,"approvalUrl":"http://127.0.0.1:8080/v1/security/mcp/approvals/appr_01"}`
	// An agent's request made for alice, cancelled by her.
	oboJSON      = `{"approvalId":"appr_02","status":"cancelled","resource":"vsecure://secrets/production/DATABASE_URL","operation":"read","reason":"migrate","requestedBy":"ai-agent-123","onBehalfOf":"alice","requestedAt":"2024-03-15T10:30:00Z","expiresAt":"2024-03-15T11:30:00Z","ttl":3600,"approvers":["alice","bob"],"requiredApprovals":1,"approvals":0,"cancelledBy":"alice","cancelledAt":"2024-03-15T10:31:00Z","approvalUrl":"http://127.0.0.1:8080/v1/security/mcp/approvals/appr_02"}`
	approvedJSON = `{"approvalId":"appr_01","status":"approved","resource":"vsecure://secrets/production/DATABASE_URL","operation":"read","requestedBy":"agent-1","requestedAt":"2024-03-15T10:30:00Z","expiresAt":"2024-03-15T11:30:00Z","ttl":3600,"approvers":["alice"],"requiredApprovals":1,"approvals":1,"approvedBy":"alice","approvedAt":"2024-03-15T10:32:00Z","accessToken":"mcp_at_canned","approvalUrl":"http://127.0.0.1:8080/v1/security/mcp/approvals/appr_01"}`
)

func (c *cannedAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	line := r.Method + " " + r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		line += "?" + r.URL.RawQuery
	}
	if len(body) > 0 {
		line += " " + string(body)
	}
	c.mu.Lock()
	c.reqs = append(c.reqs, line)
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	ok := func(s string) { io.WriteString(w, s) }
	q := r.URL.Query()
	switch r.Method + " " + r.URL.Path {
	case "GET /v1/security/mcp/resources":
		ok(`{"resources":[{"uri":"vsecure://secrets/production/*","name":"Production Secrets","type":"secret","permissions":["read"],"requiresApproval":true,"approvers":["alice","bob"]},{"uri":"vsecure://secrets/staging/*","name":"Staging Secrets","type":"secret","permissions":["read","write"],"requiresApproval":false}]}`)
	case "POST /v1/security/mcp/resources":
		ok(`{"uri":"vsecure://secrets/production/*","type":"secret","permissions":["read"],"requiresApproval":true}`)
	case "GET /v1/security/mcp/resources/vsecure://secrets/staging/API_TOKEN":
		ok(`{"uri":"vsecure://secrets/staging/API_TOKEN","type":"secret","value":"stg-token","version":2,"metadata":{},"accessedAt":"2024-03-15T10:30:00Z","accessCount":3}`)
	case "GET /v1/security/mcp/resources/vsecure://secrets/production/DATABASE_URL":
		w.WriteHeader(403)
		ok(`{"error":{"code":"approval_required","message":"read on vsecure://secrets/production/DATABASE_URL requires approval; request it with POST /v1/security/mcp/approve","requestId":"req_canned"}}`)
	case "PUT /v1/security/mcp/resources/vsecure://secrets/staging/API_TOKEN":
		ok(`{"uri":"vsecure://secrets/staging/API_TOKEN","type":"secret","version":3,"metadata":{},"createdAt":"2024-03-15T10:30:00Z","updatedAt":"2024-03-15T10:40:00Z","accessCount":0,"accessedAt":null}`)
	case "POST /v1/security/mcp/approve":
		w.WriteHeader(201)
		ok(approvalJSON)
	case "GET /v1/security/mcp/approvals":
		if q.Get("status") == "cancelled" {
			ok(`{"data":[` + oboJSON + `],"pagination":{"cursor":"","hasMore":false}}`)
			return
		}
		if q.Get("cursor") == "" {
			ok(`{"data":[` + approvalJSON + `],"pagination":{"cursor":"page2","hasMore":true}}`)
		} else {
			ok(`{"data":[` + strings.Replace(approvedJSON, `"accessToken":"mcp_at_canned",`, "", 1) + `],"pagination":{"cursor":"","hasMore":false}}`)
		}
	case "POST /v1/security/mcp/approvals/appr_01/respond":
		ok(approvedJSON)
	case "GET /v1/security/mcp/approvals/appr_02", "POST /v1/security/mcp/approvals/appr_02/cancel":
		ok(oboJSON)
	case "GET /v1/security/mcp/audit":
		ok(`{"logs":[{"id":"log_2","timestamp":"2024-03-15T10:32:15Z","resource":"vsecure://secrets/production/DATABASE_URL","operation":"read","actor":"agent-1","approvalId":"appr_01","success":true,"metadata":{}},{"id":"log_1","timestamp":"2024-03-15T10:30:00Z","resource":"vsecure://secrets/production/DATABASE_URL","operation":"read","actor":"agent-1","success":false,"error":"approval_required","metadata":{}}],"pagination":{"cursor":"","hasMore":false}}`)
	case "POST /v1/security/keys":
		w.WriteHeader(201)
		if strings.Contains(string(body), `"onBehalfOf":"alice"`) {
			ok(`{"id":"key_02","principal":"ai-agent-123","roles":["agent"],"onBehalfOf":"alice","createdAt":"2024-03-15T10:30:00Z","key":"vsk_canned_secret"}`)
			return
		}
		ok(`{"id":"key_01","principal":"agent-1","roles":["agent"],"createdAt":"2024-03-15T10:30:00Z","key":"vsk_canned_secret"}`)
	case "GET /v1/security/whoami":
		if r.Header.Get("Authorization") == "Bearer mcp_at_canned" {
			ok(`{"principal":"agent-1","roles":[],"keyId":"key_01","credential":"access_token","scope":{"approvalId":"appr_01","resource":"vsecure://secrets/production/DATABASE_URL","operation":"read","expiresAt":"2024-03-15T11:30:00Z"}}`)
		} else {
			ok(`{"principal":"alice","roles":["agent","approver"],"keyId":"key_01","credential":"api_key"}`)
		}
	case "PATCH /v1/security/keys/key_01":
		ok(`{"id":"key_01","principal":"alice","roles":["approver"],"slackUserId":"U012AB3CD","createdAt":"2024-03-15T10:30:00Z"}`)
	default:
		w.WriteHeader(404)
		ok(`{"error":{"code":"not_found","message":"no such endpoint","requestId":"req_canned"}}`)
	}
}

func TestCLIGolden(t *testing.T) {
	policy := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(policy, []byte(`{"uri":"production/*","permissions":["read"],"requiresApproval":true,"approvers":["alice"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	badPolicy := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(badPolicy, []byte(`{"uri":"production/*","permisions":["read"]}`), 0o600)
	cases := []struct {
		name  string
		args  []string
		stdin string
		noKey bool
	}{
		{"resources", []string{"mcp:resources"}, "", false},
		{"resources_json", []string{"mcp:resources", "--json"}, "", false},
		{"configure", []string{"mcp:configure", "-f", policy}, "", false},
		{"configure_unknown_field", []string{"mcp:configure", "-f", badPolicy}, "", false},
		{"approve", []string{"mcp:approve", "--resource", "production/DATABASE_URL", "--reason", "debug", "--ttl", "600"}, "", false},
		{"approvals_first_page", []string{"mcp:approvals", "--status", "pending", "--resource", "production/DATABASE_URL"}, "", false},
		{"approvals_all", []string{"mcp:approvals", "--all"}, "", false},
		{"respond_approve", []string{"mcp:respond", "appr_01", "--approve", "--reason", "ok"}, "", false},
		{"respond_needs_one_action", []string{"mcp:respond", "appr_01", "--approve", "--deny"}, "", false},
		{"audit_short_resource", []string{"mcp:audit", "--resource", "production/*", "--actor", "agent-1", "--since", "2024-03-15T00:00:00Z"}, "", false},
		{"secrets_get", []string{"secrets:get", "vsecure://secrets/staging/API_TOKEN"}, "", false},
		{"secrets_get_approval_required", []string{"secrets:get", "production/DATABASE_URL"}, "", false},
		{"secrets_put_stdin", []string{"secrets:put", "staging/API_TOKEN", "--meta", "service=api"}, "s3cr3t\n", false},
		{"keys_create", []string{"keys:create", "--principal", "agent-1", "--role", "agent"}, "", false},
		{"keys_create_on_behalf_of", []string{"keys:create", "--principal", "ai-agent-123", "--role", "agent", "--on-behalf-of", "alice"}, "", false},
		{"approvals_on_behalf_of", []string{"mcp:approvals", "--status", "cancelled"}, "", false},
		{"approval_show_on_behalf_of", []string{"mcp:approval", "appr_02"}, "", false},
		{"cancel", []string{"mcp:cancel", "appr_02"}, "", false},
		{"keys_slack", []string{"keys:slack", "key_01", "--slack-user", "U012AB3CD"}, "", false},
		{"keys_slack_needs_user", []string{"keys:slack", "key_01"}, "", false},
		{"whoami", []string{"whoami"}, "", false},
		{"whoami_json", []string{"whoami", "--json"}, "", false},
		{"whoami_access_token", []string{"whoami"}, "", false},
		{"missing_key", []string{"mcp:resources"}, "", true},
		{"unknown_flag", []string{"mcp:audit", "--bogus"}, "", false},
	}
	// Cases presenting another credential than the default API key.
	keys := map[string]string{"whoami_access_token": "mcp_at_canned"}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			api := &cannedAPI{}
			srv := httptest.NewServer(api)
			defer srv.Close()
			env := map[string]string{"VSECURE_API_URL": srv.URL, "VSECURE_API_KEY": "vsk_test"}
			if k, ok := keys[tc.name]; ok {
				env["VSECURE_API_KEY"] = k
			}
			if tc.noKey {
				delete(env, "VSECURE_API_KEY")
			}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tc.args, func(k string) string { return env[k] },
				stdio{In: strings.NewReader(tc.stdin), Out: &stdout, Err: &stderr})
			var got strings.Builder
			fmt.Fprintf(&got, "$ vsecure %s\nexit %d\n--- stdout\n%s--- stderr\n%s--- requests\n", strings.Join(tc.args, " "), code, stdout.String(), stderr.String())
			for _, r := range api.reqs {
				fmt.Fprintln(&got, r)
			}
			out := strings.ReplaceAll(got.String(), policy, "policy.json")
			out = strings.ReplaceAll(out, badPolicy, "bad.json")
			golden(t, filepath.Join("testdata", "cli", tc.name+".golden"), out)
		})
	}
}

// golden compares got with the file; UPDATE_GOLDEN=1 rewrites it.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if os.Getenv("UPDATE_GOLDEN") == "1" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with UPDATE_GOLDEN=1 to create it)", err)
	}
	if string(want) != got {
		t.Fatalf("%s differs (UPDATE_GOLDEN=1 to accept)\n--- want\n%s\n--- got\n%s", path, want, got)
	}
}

func TestHelpEverywhere(t *testing.T) {
	for name := range commandTable() {
		if name == "dev" {
			continue
		}
		args := append(strings.Fields(name), "--help")
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), args, func(string) string { return "" }, stdio{In: strings.NewReader(""), Out: &stdout, Err: &stderr})
		if code != 0 || !strings.Contains(stderr.String(), "Usage: vsecure "+name) {
			t.Errorf("%s --help: exit %d, stderr %q", name, code, stderr.String())
		}
	}
}
