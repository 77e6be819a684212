package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vsecure/vsecure/shared/httpapi"
)

// TestStrictJSON: a body whose keys repeat, or spell a field in another
// case, is refused with 400 and nothing happens; encoding/json alone lets
// the last key win and matches field names case-insensitively.
func TestStrictJSON(t *testing.T) {
	e := newEnv(t)
	e.configure(map[string]any{"uri": "vsecure://secrets/staging/*", "permissions": []string{"read", "write"}})
	e.put("vsecure://secrets/staging/A", "v1")
	keyID := e.must(e.do("POST", "/v1/security/keys", e.admin, map[string]any{"principal": "rot", "roles": []string{"agent"}}), 201).str("id")
	cases := []struct {
		name, method, path, body string
		// names is the key the message must name.
		names string
	}{
		{"keys_create_miscased_roles_next_to_roles", "POST", "/v1/security/keys", `{"principal":"mallory1","roles":["agent"],"Roles":["admin"]}`, `"Roles"`},
		{"keys_create_miscased_roles_alone", "POST", "/v1/security/keys", `{"principal":"mallory2","Roles":["admin"]}`, `"Roles"`},
		{"keys_create_duplicate_roles", "POST", "/v1/security/keys", `{"principal":"mallory3","roles":["agent"],"roles":["admin"]}`, `"roles"`},
		{"keys_create_escaped_duplicate", "POST", "/v1/security/keys", `{"principal":"mallory4","roles":["agent"],"r\u006fles":["admin"]}`, `"roles"`},
		{"keys_create_duplicate_principal", "POST", "/v1/security/keys", `{"principal":"mallory5","principal":"admin","roles":["agent"]}`, `"principal"`},
		{"keys_rotate_miscased", "POST", "/v1/security/keys/" + keyID + "/rotate", `{"overlapSeconds":0,"OverlapSeconds":3600}`, `"OverlapSeconds"`},
		{"keys_patch_duplicate", "PATCH", "/v1/security/keys/" + keyID, `{"slackUserId":"U1","slackUserId":"U2"}`, `"slackUserId"`},
		{"policy_duplicate_uri", "POST", "/v1/security/mcp/resources", `{"uri":"vsecure://secrets/dup/*","uri":"vsecure://secrets/*","permissions":["read"]}`, `"uri"`},
		{"policy_nested_conditions_miscased", "POST", "/v1/security/mcp/resources",
			`{"uri":"vsecure://secrets/dup/*","permissions":["read"],"requiresApproval":true,"approvers":["alice"],"autoApprove":{"enabled":true,"conditions":{"requester":["nobody"],"Requester":["mallory"]}}}`,
			`"Requester" in autoApprove.conditions`},
		{"policy_nested_conditions_duplicate", "POST", "/v1/security/mcp/resources",
			`{"uri":"vsecure://secrets/dup/*","permissions":["read"],"autoApprove":{"enabled":true,"conditions":{"requester":["nobody"],"requester":["mallory"]}}}`,
			`"requester" in autoApprove.conditions`},
		{"policy_nested_autoapprove_miscased", "POST", "/v1/security/mcp/resources",
			`{"uri":"vsecure://secrets/dup/*","permissions":["read"],"autoApprove":{"enabled":false,"Enabled":true}}`, `"Enabled" in autoApprove`},
		{"policy_metadata_duplicate", "POST", "/v1/security/mcp/resources",
			`{"uri":"vsecure://secrets/dup/*","permissions":["read"],"metadata":{"team":"a","team":"b"}}`, `"team" in metadata`},
		{"approval_request_miscased_operation", "POST", "/v1/security/mcp/approve",
			`{"resource":"vsecure://secrets/staging/A","operation":"read","Operation":"write","reason":"r"}`, `"Operation"`},
		{"approval_request_duplicate_resource", "POST", "/v1/security/mcp/approve",
			`{"resource":"vsecure://secrets/staging/A","resource":"vsecure://secrets/staging/B","operation":"read","reason":"r"}`, `"resource"`},
		{"respond_duplicate_action", "POST", "/v1/security/mcp/approvals/appr_x/respond", `{"action":"deny","action":"approve"}`, `"action"`},
		{"respond_miscased_action", "POST", "/v1/security/mcp/approvals/appr_x/respond", `{"ACTION":"approve"}`, `"ACTION"`},
		{"secret_put_duplicate_metadata", "PUT", resPath("vsecure://secrets/staging/A"), `{"value":"v2","metadata":{"env":"a","env":"b"}}`, `"env" in metadata`},
		{"secret_put_duplicate_value", "PUT", resPath("vsecure://secrets/staging/A"), `{"value":"v2","metadata":{"env":"a"},"value":"v3"}`, `"value"`},
		{"secret_put_miscased_value", "PUT", resPath("vsecure://secrets/staging/A"), `{"Value":"v2"}`, `"Value"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, e.admin, tc.body)
			if r.Status != 400 || r.code() != "invalid_request" {
				t.Fatalf("%d %s", r.Status, r.Raw)
			}
			if msg := r.Body["error"].(map[string]any)["message"].(string); !strings.Contains(msg, tc.names) {
				t.Fatalf("message %q does not name %s", msg, tc.names)
			}
		})
	}
	t.Run("nothing_happened", func(t *testing.T) {
		keys := e.must(e.do("GET", "/v1/security/keys", e.admin, nil), 200).Body["keys"].([]any)
		for _, k := range keys {
			k := k.(map[string]any)
			if p := k["principal"].(string); strings.HasPrefix(p, "mallory") {
				t.Fatalf("a key was minted for %s: %v", p, k)
			}
			if k["id"] == keyID && k["revokedAt"] != nil {
				t.Fatalf("rotate ran: %v", k)
			}
		}
		for _, p := range e.must(e.do("GET", "/v1/security/mcp/resources", e.admin, nil), 200).Body["resources"].([]any) {
			if strings.Contains(p.(map[string]any)["uri"].(string), "dup") {
				t.Fatalf("policy configured: %v", p)
			}
		}
		if v := e.must(e.do("GET", resPath("vsecure://secrets/staging/A"), e.admin, nil), 200).Body["version"]; v != float64(1) {
			t.Fatalf("secret written: version %v", v)
		}
		if got := len(e.must(e.do("GET", "/v1/security/mcp/approvals", e.admin, nil), 200).Body["data"].([]any)); got != 0 {
			t.Fatalf("%d approvals filed", got)
		}
	})
	t.Run("refusals_are_audited", func(t *testing.T) {
		logs := e.audit("operation=key_create&success=false")
		if len(logs) < 5 || logs[0]["error"] != "invalid_request" {
			t.Fatalf("key_create refusals in audit: %v", logs)
		}
	})
	t.Run("metadata_keys_may_differ_in_case", func(t *testing.T) {
		e.must(e.do("PUT", resPath("vsecure://secrets/staging/A"), e.admin, `{"value":"v2","metadata":{"env":"a","Env":"b"}}`), 200)
	})
}

// serve sends a request with a raw target straight to the router, so that
// no client cleans the path or follows a redirect.
func serve(e *env, method, target, key string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	rec := httptest.NewRecorder()
	e.handler().ServeHTTP(rec, req)
	return rec
}

// TestUncleanPathJSONError: an unencoded resource URI or any path that
// net/http would clean is a JSON 400 that says how to encode it, audited;
// never ServeMux's HTML 307 to a cleaned path, which would also silently
// change the URI.
func TestUncleanPathJSONError(t *testing.T) {
	e, agent := gated(t)
	cases := []struct{ name, method, target, hint string }{
		{"unencoded_scheme", "GET", "/v1/security/mcp/resources/vsecure://secrets/production/DATABASE_URL",
			"percent-encode the resource URI: /v1/security/mcp/resources/vsecure%3A%2F%2Fsecrets%2Fproduction%2FDATABASE_URL"},
		{"unencoded_scheme_put", "PUT", "/v1/security/mcp/resources/vsecure://secrets/staging/X", "vsecure%3A%2F%2Fsecrets%2Fstaging%2FX"},
		{"double_slash", "GET", "/v1/security/mcp/resources/secrets//production/DATABASE_URL", "percent-encode"},
		{"dot_dot", "GET", "/v1/security/mcp/resources/secrets/staging/../production/DATABASE_URL", "percent-encode"},
		{"dot_slash", "GET", "/v1/security/mcp/resources/secrets/./production/DATABASE_URL", "percent-encode"},
		{"trailing_dot", "GET", "/v1/security/mcp/resources/secrets/production/DATABASE_URL/.", "percent-encode"},
		{"double_slash_elsewhere", "GET", "//v1/security/mcp/resources", "percent-encode"},
		{"dot_dot_elsewhere", "GET", "/v1/security/keys/../mcp/audit", "percent-encode"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := serve(e, tc.method, tc.target, agent)
			if rec.Code != 400 || rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("Location") != "" {
				t.Fatalf("%d %q Location=%q: %s", rec.Code, rec.Header().Get("Content-Type"), rec.Header().Get("Location"), rec.Body)
			}
			body := rec.Body.String()
			if !strings.Contains(body, `"code":"invalid_request"`) || !strings.Contains(body, `"requestId":"req_`) || !strings.Contains(body, tc.hint) {
				t.Fatalf("body %s lacks the code, request id or hint %q", body, tc.hint)
			}
		})
	}
	t.Run("refusal_is_audited", func(t *testing.T) {
		n := 0
		for _, l := range e.audit("actor=anonymous&success=false&limit=200") {
			if l["operation"] == "http:unclean-path" && l["error"] == "invalid_request" {
				n++
			}
		}
		if n == 0 {
			t.Fatal("no audited refusal of an unclean path")
		}
	})
	t.Run("encoded_and_schemeless_forms_work", func(t *testing.T) {
		for _, target := range []string{
			"/v1/security/mcp/resources/vsecure%3A%2F%2Fsecrets%2Fstaging%2F%2A",
			"/v1/security/mcp/resources/vsecure:%2F%2Fsecrets%2Fstaging%2F%2A",
			"/v1/security/mcp/resources/secrets/staging/*",
		} {
			if rec := serve(e, "GET", target, e.admin); rec.Code != 200 {
				t.Fatalf("%s → %d %s", target, rec.Code, rec.Body)
			}
		}
		if rec := serve(e, "GET", "/v1/security/mcp/resources/vsecure%3A%2F%2Fsecrets%2Fproduction%2FDATABASE_URL", agent); rec.Code != 403 {
			t.Fatalf("encoded gated read → %d %s", rec.Code, rec.Body)
		}
	})
}

// TestWrongMethod405: a known path with another method is 405 with the
// path's methods in Allow and the JSON error envelope; unknown paths stay
// 404.
func TestWrongMethod405(t *testing.T) {
	e := newEnv(t)
	cases := []struct{ method, target, allow string }{
		{"DELETE", "/v1/security/mcp/resources", "GET, POST"},
		{"PUT", "/v1/security/mcp/approve", "POST"},
		{"GET", "/v1/security/mcp/approvals/appr_x/respond", "POST"},
		{"POST", "/healthz", "GET"},
		{"POST", "/v1/security/mcp/resources/secrets/staging/A", "GET, PUT"},
		{"GET", "/v1/security/keys/key_x", "DELETE, PATCH"},
		{"PATCH", "/v1/security/keys", "POST, GET"},
		{"PUT", "/mcp", "POST, GET, DELETE"},
	}
	for _, tc := range cases {
		t.Run(tc.method+"_"+tc.target, func(t *testing.T) {
			rec := serve(e, tc.method, tc.target, e.admin)
			if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != tc.allow || rec.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("%d Allow=%q %q: %s", rec.Code, rec.Header().Get("Allow"), rec.Header().Get("Content-Type"), rec.Body)
			}
			if body := rec.Body.String(); !strings.Contains(body, `"code":"method_not_allowed"`) || !strings.Contains(body, `"requestId":"req_`) {
				t.Fatalf("body %s", body)
			}
		})
	}
	for _, target := range []string{"/v1/nope", "/v1/security/mcp/approvals/appr_x/nope", "/v1/security/keys/"} {
		if rec := serve(e, "GET", target, e.admin); rec.Code != 404 || !strings.Contains(rec.Body.String(), `"code":"not_found"`) {
			t.Fatalf("%s → %d %s", target, rec.Code, rec.Body)
		}
	}
	// The routes themselves still answer their own methods.
	if rec := serve(e, "GET", "/healthz", ""); rec.Code != 200 {
		t.Fatalf("GET /healthz → %d", rec.Code)
	}
}

// TestFallbackAnswersAsTheLocalServer: the fallback function (API
// Gateway's $default route) gives what no route takes the local server's
// answers, headers and status alike, without any credential: 405 with
// Allow, the JSON 404, the audited 400. A table method on a known path
// (only the gateway's matching can send one here) is no endpoint, not
// "405, use GET" to a GET.
func TestFallbackAnswersAsTheLocalServer(t *testing.T) {
	e := newEnv(t)
	fb, err := e.api.FunctionHandler(httpapi.FallbackFunction)
	if err != nil {
		t.Fatal(err)
	}
	send := func(h http.Handler, method, target string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
		return rec
	}
	for _, tc := range []struct{ method, target string }{
		{"DELETE", "/v1/security/mcp/resources"},
		{"PUT", "/v1/security/mcp/approve"},
		{"POST", "/healthz"},
		{"GET", "/v1/security/keys/key_x"},
		{"POST", "/v1/security/mcp/resources/secrets/staging/A"},
		{"GET", "/"},
		{"DELETE", "/v1/nope"},
		{"GET", "/v1/security/keys/"},
		{"GET", "/v1/security/mcp/resources/vsecure://secrets/production/X"},
		{"DELETE", "/v1/security/keys/../mcp/audit"},
	} {
		t.Run(tc.method+"_"+tc.target, func(t *testing.T) {
			got, want := send(fb, tc.method, tc.target), send(e.handler(), tc.method, tc.target)
			if got.Code != want.Code || got.Header().Get("Allow") != want.Header().Get("Allow") ||
				got.Header().Get("Content-Type") != "application/json" || got.Header().Get("Location") != "" {
				t.Fatalf("fallback %d Allow=%q %q, local %d Allow=%q: %s", got.Code, got.Header().Get("Allow"),
					got.Header().Get("Content-Type"), want.Code, want.Header().Get("Allow"), got.Body)
			}
			if got.Code < 400 || !strings.Contains(got.Body.String(), `"requestId":"req_`) {
				t.Fatalf("%d %s", got.Code, got.Body)
			}
		})
	}
	if rec := send(fb, "DELETE", "/v1/security/mcp/resources"); rec.Code != 405 || rec.Header().Get("Allow") != "GET, POST" ||
		!strings.Contains(rec.Body.String(), `"code":"method_not_allowed"`) {
		t.Fatalf("DELETE resources: %d Allow=%q %s", rec.Code, rec.Header().Get("Allow"), rec.Body)
	}
	for _, tc := range []struct{ method, target string }{{"GET", "/v1/security/mcp/resources"}, {"PATCH", "/v1/security/keys/key_x"}, {"GET", "/healthz"}} {
		if rec := send(fb, tc.method, tc.target); rec.Code != 404 || rec.Header().Get("Allow") != "" || !strings.Contains(rec.Body.String(), `"code":"not_found"`) {
			t.Errorf("%s %s routed past the gateway: %d Allow=%q %s", tc.method, tc.target, rec.Code, rec.Header().Get("Allow"), rec.Body)
		}
	}
	t.Run("unclean_path_refusal_is_audited", func(t *testing.T) {
		send(fb, "GET", "/v1/security/mcp/resources/secrets//fallback/X")
		var n int
		for _, l := range e.audit("actor=anonymous&success=false&limit=200") {
			if l["operation"] == "http:unclean-path" && l["resource"] == "/v1/security/mcp/resources/secrets//fallback/X" {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d audited refusals of the unclean path, want 1", n)
		}
	})
}
