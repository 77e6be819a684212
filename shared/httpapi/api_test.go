package httpapi_test

import (
	"bytes"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/gate"
)

const (
	dbURI   = "vsecure://secrets/production/DATABASE_URL"
	dbValue = "postgresql://app:hunter2-s3cret@db.internal:5432/app"
)

// gated configures production/* behind approval by alice or bob, staging/*
// open for read and write, and writes the production database URL.
func gated(t *testing.T) (*env, string) {
	e := newEnv(t)
	e.configure(map[string]any{
		"uri": "vsecure://secrets/production/*", "name": "Production Secrets", "description": "All production environment secrets",
		"permissions": []string{"read"}, "requiresApproval": true, "approvers": []string{"alice", "bob"},
	})
	e.configure(map[string]any{
		"uri": "vsecure://secrets/staging/*", "name": "Staging Secrets",
		"permissions": []string{"read", "write"}, "requiresApproval": false,
	})
	e.put(dbURI, dbValue)
	return e, e.key("ai-agent-123", "agent")
}

func TestHealth(t *testing.T) {
	e := newEnv(t)
	r := e.must(e.do("GET", "/healthz", "", nil), 200)
	if r.str("status") != "ok" {
		t.Fatalf("body %s", r.Raw)
	}
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	t.Run("missing_key_is_401_and_audited_as_anonymous", func(t *testing.T) {
		e.wantErr(e.do("GET", "/v1/security/mcp/resources", "", nil), 401, "unauthenticated")
		logs := e.audit("actor=anonymous&success=false")
		if len(logs) == 0 || logs[0]["error"] != "unauthenticated" {
			t.Fatalf("no anonymous refusal in audit: %v", logs)
		}
		md := logs[0]["metadata"].(map[string]any)
		if md["userAgent"] != "MCPClient/1.0" || md["ipAddress"] == "" || md["requestId"] == "" {
			t.Fatalf("metadata = %v", md)
		}
	})
	t.Run("x_api_key_header_works", func(t *testing.T) {
		req, _ := newReq("GET", e.srv.URL+"/v1/security/mcp/resources")
		req.Header.Set("X-API-Key", e.admin)
		res, err := e.srv.Client().Do(req)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("X-API-Key: %v %v", res.StatusCode, err)
		}
		res.Body.Close()
	})
	t.Run("key_revocation_answers_the_revoked_key", func(t *testing.T) {
		r := e.must(e.do("POST", "/v1/security/keys", e.admin, map[string]any{"principal": "temp", "roles": []string{"auditor"}}), 201)
		d := e.must(e.do("DELETE", "/v1/security/keys/"+r.str("id"), e.admin, nil), 200)
		if d.str("id") != r.str("id") || d.str("revokedAt") != "2024-03-15T10:30:00Z" || bytes.Contains(d.Raw, []byte(r.str("key"))) {
			t.Fatalf("revoke response: %s", d.Raw)
		}
	})
	t.Run("unknown_route_is_404_envelope", func(t *testing.T) {
		e.wantErr(e.do("GET", "/v1/nope", e.admin, nil), 404, "not_found")
	})
}

func TestKeys(t *testing.T) {
	e := newEnv(t)
	r := e.must(e.do("POST", "/v1/security/keys", e.admin, map[string]any{"principal": "ai-agent-123", "roles": []string{"agent"}}), 201)
	if !strings.HasPrefix(r.str("key"), "vsk_") || len(r.str("key")) < 4+43 || !strings.HasPrefix(r.str("id"), "key_") ||
		r.str("principal") != "ai-agent-123" || r.str("createdAt") == "" {
		t.Fatalf("create key: %s", r.Raw)
	}
	l := e.must(e.do("GET", "/v1/security/keys", e.admin, nil), 200)
	// The secret and its stored hash appear nowhere; no key has a field
	// named like a hash. (A substring test for "hash" fails on the random
	// ids that happen to contain it.)
	if bytes.Contains(l.Raw, []byte(r.str("key"))) || bytes.Contains(l.Raw, []byte(gate.HashCredential(r.str("key")))) {
		t.Fatalf("key list leaks the key or its hash: %s", l.Raw)
	}
	keys, _ := l.Body["keys"].([]any)
	for _, k := range keys {
		for field := range k.(map[string]any) {
			if strings.Contains(strings.ToLower(field), "hash") {
				t.Fatalf("key list has a %q field: %s", field, l.Raw)
			}
		}
	}
	if n := len(keys); n != 2 {
		t.Fatalf("keys = %d, want 2 (admin + agent)", n)
	}
	agent := r.str("key")
	cases := []struct {
		name, key string
		body      any
		status    int
		code      string
	}{
		{"agent_cannot_create_keys", agent, map[string]any{"principal": "x", "roles": []string{"admin"}}, 403, "forbidden"},
		{"unknown_field", e.admin, map[string]any{"principal": "x", "roles": []string{"agent"}, "key": "vsk_mine"}, 400, "invalid_request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { e.wantErr(e.do("POST", "/v1/security/keys", c.key, c.body), c.status, c.code) })
	}
}

func TestConfigureAndListResources(t *testing.T) {
	e, agent := gated(t)
	r := e.must(e.do("GET", "/v1/security/mcp/resources", agent, nil), 200)
	rs := r.Body["resources"].([]any)
	if len(rs) != 2 {
		t.Fatalf("resources = %s", r.Raw)
	}
	first := rs[0].(map[string]any)
	if first["uri"] != "vsecure://secrets/production/*" || first["type"] != "secret" || first["requiresApproval"] != true ||
		first["name"] != "Production Secrets" || first["permissions"].([]any)[0] != "read" {
		t.Fatalf("resource shape: %v", first)
	}
	t.Run("get_pattern_returns_its_policy", func(t *testing.T) {
		r := e.must(e.do("GET", resPath("vsecure://secrets/staging/*"), agent, nil), 200)
		if r.str("uri") != "vsecure://secrets/staging/*" {
			t.Fatalf("%s", r.Raw)
		}
		e.wantErr(e.do("GET", resPath("vsecure://secrets/dev/*"), agent, nil), 404, "not_found")
	})
	t.Run("seed_example_with_auto_approve_is_accepted", func(t *testing.T) {
		e.configure(map[string]any{
			"uri": "vsecure://secrets/production/*", "name": "Production Secrets", "description": "All production environment secrets",
			"permissions": []string{"read"}, "requiresApproval": true, "approvers": []string{"user_xyz789", "user_abc456"},
			"autoApprove": map[string]any{"enabled": true, "conditions": map[string]any{"timeWindow": "09:00-17:00 PST", "requester": []string{"trusted-agent-1"}}},
		})
	})
	bad := []struct {
		name   string
		key    string
		body   any
		status int
		code   string
	}{
		{"agent_cannot_configure", agent, map[string]any{"uri": "vsecure://secrets/x/*", "permissions": []string{"read"}}, 403, "forbidden"},
		{"malformed_json", e.admin, `{"uri": `, 400, "invalid_request"},
		{"not_an_object", e.admin, `[1,2]`, 400, "invalid_request"},
		{"empty_body", e.admin, ``, 400, "invalid_request"},
		{"trailing_data", e.admin, `{"uri":"vsecure://secrets/*","permissions":["read"]} {}`, 400, "invalid_request"},
		{"unknown_field", e.admin, map[string]any{"uri": "vsecure://secrets/*", "permissions": []string{"read"}, "owner": "me"}, 400, "invalid_request"},
		{"wrong_type", e.admin, map[string]any{"uri": "vsecure://secrets/*", "permissions": "read"}, 400, "invalid_request"},
		{"wrong_scheme", e.admin, map[string]any{"uri": "https://secrets/*", "permissions": []string{"read"}}, 400, "invalid_request"},
		{"too_large", e.admin, `{"uri":"` + strings.Repeat("a", 70<<10) + `"}`, 413, "payload_too_large"},
	}
	for _, c := range bad {
		t.Run("refuses/"+c.name, func(t *testing.T) {
			e.wantErr(e.do("POST", "/v1/security/mcp/resources", c.key, c.body), c.status, c.code)
		})
	}
	t.Run("refusals_change_nothing", func(t *testing.T) {
		r := e.must(e.do("GET", "/v1/security/mcp/resources", e.admin, nil), 200)
		if n := len(r.Body["resources"].([]any)); n != 2 {
			t.Fatalf("resources = %d after refusals, want 2", n)
		}
	})
}

func TestSecrets(t *testing.T) {
	e, agent := gated(t)
	staging := "vsecure://secrets/staging/API_TOKEN"
	t.Run("agent_writes_and_reads_where_policy_allows", func(t *testing.T) {
		w := e.must(e.do("PUT", resPath(staging), agent, map[string]any{"value": "v1", "name": "Staging token", "metadata": map[string]string{"service": "api"}}), 200)
		if w.Body["version"].(float64) != 1 || bytes.Contains(w.Raw, []byte(`"v1"`)) {
			t.Fatalf("write response: %s", w.Raw)
		}
		e.must(e.do("PUT", resPath(staging), agent, map[string]any{"value": "v2"}), 200)
		r := e.must(e.do("GET", resPath(staging), agent, nil), 200)
		if r.str("value") != "v2" || r.Body["version"].(float64) != 2 || r.str("name") != "Staging token" ||
			r.str("type") != "secret" || r.Body["accessCount"].(float64) != 1 || r.str("accessedAt") != "2024-03-15T10:30:00Z" ||
			r.Body["metadata"].(map[string]any)["service"] != "api" {
			t.Fatalf("read: %s", r.Raw)
		}
		old := e.must(e.do("GET", resPath(staging)+"?version=1", agent, nil), 200)
		if old.str("value") != "v1" || old.Body["accessCount"].(float64) != 2 {
			t.Fatalf("version 1: %s", old.Raw)
		}
	})
	t.Run("scheme_less_path_works", func(t *testing.T) {
		r := e.must(e.do("GET", "/v1/security/mcp/resources/secrets/staging/API_TOKEN", agent, nil), 200)
		if r.str("uri") != staging {
			t.Fatalf("%s", r.Raw)
		}
	})
	t.Run("gated_read_requires_approval", func(t *testing.T) {
		e.wantErr(e.do("GET", resPath(dbURI), agent, nil), 403, "approval_required")
	})
	e.put("vsecure://secrets/dev/X", "x") // no policy covers it
	t.Run("permissions_bound_operations", func(t *testing.T) {
		e.wantErr(e.do("PUT", resPath(dbURI), agent, map[string]any{"value": "x"}), 403, "operation_not_permitted")
	})
	t.Run("missing_secret_is_404", func(t *testing.T) {
		e.wantErr(e.do("GET", resPath("vsecure://secrets/staging/NOPE"), agent, nil), 404, "not_found")
	})
	t.Run("bad_input", func(t *testing.T) {
		e.wantErr(e.do("GET", resPath("vsecure://secrets/a/../b"), agent, nil), 400, "invalid_request")
		e.wantErr(e.do("GET", resPath("https://secrets/staging/X"), agent, nil), 400, "invalid_request")
		e.wantErr(e.do("GET", resPath(staging)+"?version=abc", agent, nil), 400, "invalid_request")
		e.wantErr(e.do("PUT", resPath("vsecure://secrets/staging/*"), e.admin, map[string]any{"value": "x"}), 400, "invalid_request")
		e.wantErr(e.do("PUT", resPath(staging), e.admin, map[string]any{"name": "no value"}), 400, "invalid_request")
		e.wantErr(e.do("PUT", resPath(staging), e.admin, map[string]any{"value": 42}), 400, "invalid_request")
		e.wantErr(e.do("PUT", resPath(staging), e.admin, map[string]any{"value": strings.Repeat("x", 40<<10)}), 413, "payload_too_large")
	})
	t.Run("list_secrets_never_shows_values", func(t *testing.T) {
		r := e.must(e.do("GET", "/v1/security/mcp/secrets?pattern="+url.QueryEscape("vsecure://secrets/*"), agent, nil), 200)
		if bytes.Contains(r.Raw, []byte(dbValue)) || bytes.Contains(r.Raw, []byte("v2")) {
			t.Fatalf("secret list leaks values: %s", r.Raw)
		}
		uris := map[string]bool{}
		for _, s := range r.Body["secrets"].([]any) {
			uris[s.(map[string]any)["uri"].(string)] = true
		}
		if !uris[dbURI] || !uris[staging] || uris["vsecure://secrets/dev/X"] {
			t.Fatalf("listed %v; want only secrets a policy covers", uris)
		}
	})
	t.Run("values_never_logged_or_audited", func(t *testing.T) {
		for _, v := range []string{dbValue, "v1", "hunter2"} {
			if strings.Contains(e.logs.String(), v) && v != "v1" {
				t.Fatalf("log contains secret %q", v)
			}
		}
		r := e.must(e.do("GET", "/v1/security/mcp/audit?limit=200", e.admin, nil), 200)
		if bytes.Contains(r.Raw, []byte("hunter2")) || bytes.Contains(r.Raw, []byte(agent)) {
			t.Fatalf("audit leaks a secret or key")
		}
		if strings.Contains(e.logs.String(), agent) || strings.Contains(e.logs.String(), adminKey) {
			t.Fatal("log contains an API key")
		}
	})
}

func TestApprovalFlow(t *testing.T) {
	e, agent := gated(t)
	alice := e.key("alice", "approver")
	bob := e.key("bob", "approver")
	carol := e.key("carol", "approver")

	req := e.must(e.do("POST", "/v1/security/mcp/approve", agent, map[string]any{
		"resource": dbURI, "operation": "read", "reason": "Debugging production database connection issue",
		"requestedBy": "ai-agent-123", "ttl": 3600,
	}), 201)
	id := req.str("approvalId")
	if !strings.HasPrefix(id, "appr_") || req.str("status") != "pending" || req.str("resource") != dbURI ||
		req.str("operation") != "read" || req.str("requestedBy") != "ai-agent-123" ||
		req.str("requestedAt") != "2024-03-15T10:30:00Z" || req.str("expiresAt") != "2024-03-15T11:30:00Z" ||
		req.str("approvalUrl") != "https://vsecure.example/console/approvals/"+id || req.str("accessToken") != "" {
		t.Fatalf("request response: %s", req.Raw)
	}
	respond := func(key string, body map[string]any) resp {
		return e.do("POST", "/v1/security/mcp/approvals/"+id+"/respond", key, body)
	}
	t.Run("unlisted_approver_refused", func(t *testing.T) {
		e.wantErr(respond(carol, map[string]any{"action": "approve"}), 403, "not_an_approver")
	})
	e.clock.Advance(2 * time.Minute)
	ok := e.must(respond(alice, map[string]any{"action": "approve", "reason": "Legitimate debugging need", "approvedBy": "alice"}), 200)
	token := ok.str("accessToken")
	if ok.str("status") != "approved" || ok.str("approvedBy") != "alice" || ok.str("approvedAt") != "2024-03-15T10:32:00Z" ||
		!strings.HasPrefix(token, "mcp_at_") || ok.str("expiresAt") != "2024-03-15T11:30:00Z" || ok.str("approvalId") != id {
		t.Fatalf("respond response: %s", ok.Raw)
	}
	t.Run("second_decision_conflicts", func(t *testing.T) {
		e.wantErr(respond(bob, map[string]any{"action": "deny"}), 409, "already_decided")
	})
	t.Run("access_token_is_a_bearer_credential", func(t *testing.T) {
		r := e.must(e.do("GET", resPath(dbURI), token, nil), 200)
		if r.str("value") != dbValue || r.str("approvalId") != id {
			t.Fatalf("%s", r.Raw)
		}
	})
	t.Run("get_approval", func(t *testing.T) {
		r := e.must(e.do("GET", "/v1/security/mcp/approvals/"+id, agent, nil), 200)
		if r.str("status") != "approved" || r.str("accessToken") != "" || bytes.Contains(r.Raw, []byte("tokenHash")) {
			t.Fatalf("%s", r.Raw)
		}
	})
	t.Run("every_step_is_audited", func(t *testing.T) {
		logs := e.audit("resource=" + url.QueryEscape(dbURI))
		ops := map[string]int{}
		for _, l := range logs {
			key := l["operation"].(string)
			if l["success"] == false {
				key += ":" + l["error"].(string)
			}
			ops[key]++
		}
		for _, want := range []string{"request_approval", "approve", "read", "approve:not_an_approver", "deny:already_decided"} {
			if ops[want] == 0 {
				t.Errorf("no audit entry %q in %v", want, ops)
			}
		}
		for _, l := range logs {
			if l["operation"] == "read" && l["success"] == true && l["approvalId"] != id {
				t.Errorf("read entry without its approvalId: %v", l)
			}
		}
	})
}

func TestApprovalRules(t *testing.T) {
	e, agent := gated(t)
	alice := e.key("alice", "approver")
	request := func(key string, body map[string]any) resp {
		return e.do("POST", "/v1/security/mcp/approve", key, body)
	}
	t.Run("bad_requests", func(t *testing.T) {
		cases := []struct {
			name   string
			body   map[string]any
			status int
			code   string
		}{
			{"ttl_not_a_number", map[string]any{"resource": dbURI, "operation": "read", "ttl": "1h"}, 400, "invalid_request"},
			{"approval_cannot_widen_permissions", map[string]any{"resource": dbURI, "operation": "write"}, 403, "operation_not_permitted"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) { e.wantErr(request(agent, c.body), c.status, c.code) })
		}
	})
	t.Run("expired_request_cannot_be_approved", func(t *testing.T) {
		r := e.must(request(agent, map[string]any{"resource": dbURI, "operation": "read", "ttl": 60}), 201)
		e.clock.Advance(61 * time.Second)
		e.wantErr(e.do("POST", "/v1/security/mcp/approvals/"+r.str("approvalId")+"/respond", alice, map[string]any{"action": "approve"}), 410, "expired")
	})
	t.Run("self_approval_forbidden", func(t *testing.T) {
		e.configure(map[string]any{"uri": "vsecure://secrets/ops/*", "permissions": []string{"read"}, "requiresApproval": true, "approvers": []string{"dual", "alice"}})
		dual := e.key("dual", "agent", "approver")
		r := e.must(request(dual, map[string]any{"resource": "vsecure://secrets/ops/X", "operation": "read"}), 201)
		e.wantErr(e.do("POST", "/v1/security/mcp/approvals/"+r.str("approvalId")+"/respond", dual, map[string]any{"action": "approve"}), 403, "self_approval_forbidden")
	})
	t.Run("revoke_answers_the_revoked_approval", func(t *testing.T) {
		r := e.must(request(agent, map[string]any{"resource": dbURI, "operation": "read"}), 201)
		id := r.str("approvalId")
		e.must(e.do("POST", "/v1/security/mcp/approvals/"+id+"/respond", alice, map[string]any{"action": "approve"}), 200)
		rv := e.must(e.do("POST", "/v1/security/mcp/approvals/"+id+"/revoke", alice, nil), 200)
		if rv.str("status") != "revoked" || rv.str("revokedBy") != "alice" || rv.str("revokedAt") != "2024-03-15T10:31:01Z" || rv.str("accessToken") != "" {
			t.Fatalf("%s", rv.Raw)
		}
		e.wantErr(e.do("POST", "/v1/security/mcp/approvals/"+id+"/revoke", e.admin, `{"x":1}`), 400, "invalid_request")
	})
	t.Run("agent_for_a_human", func(t *testing.T) {
		k := e.must(e.do("POST", "/v1/security/keys", e.admin, map[string]any{"principal": "helper-bot", "roles": []string{"agent"}, "onBehalfOf": "alice"}), 201)
		if k.str("onBehalfOf") != "alice" {
			t.Fatalf("created key %s", k.Raw)
		}
		bot := k.str("key")
		// Fixed for the key's life: no PATCH field changes it.
		e.wantErr(e.do("PATCH", "/v1/security/keys/"+k.str("id"), e.admin, map[string]any{"onBehalfOf": "bob"}), 400, "invalid_request")
		r := e.must(request(bot, map[string]any{"resource": dbURI, "operation": "read"}), 201)
		id := r.str("approvalId")
		if r.str("onBehalfOf") != "alice" || r.str("requestedBy") != "helper-bot" {
			t.Fatalf("approval %s", r.Raw)
		}
		e.wantErr(e.do("POST", "/v1/security/mcp/approvals/"+id+"/respond", alice, map[string]any{"action": "approve"}), 403, "self_approval_forbidden")
		e.wantErr(e.do("POST", "/v1/security/mcp/approvals/"+id+"/cancel", e.key("ai-agent-999", "agent"), nil), 404, "not_found")
		e.wantErr(e.do("POST", "/v1/security/mcp/approvals/"+id+"/cancel", alice, `{"x":1}`), 400, "invalid_request")
		c := e.must(e.do("POST", "/v1/security/mcp/approvals/"+id+"/cancel", alice, nil), 200)
		if c.str("status") != "cancelled" || c.str("cancelledBy") != "alice" {
			t.Fatalf("cancel answered %s", c.Raw)
		}
		e.wantErr(e.do("POST", "/v1/security/mcp/approvals/"+id+"/cancel", bot, nil), 409, "already_decided")
		l := e.must(e.do("GET", "/v1/security/mcp/approvals?status=cancelled", alice, nil), 200)
		if !strings.Contains(string(l.Raw), id) {
			t.Fatalf("alice's list of cancelled requests: %s", l.Raw)
		}
	})
}

func TestListApprovals(t *testing.T) {
	e, agent := gated(t)
	other := e.key("ai-agent-999", "agent")
	for i := 0; i < 5; i++ {
		e.must(e.do("POST", "/v1/security/mcp/approve", agent, map[string]any{"resource": dbURI, "operation": "read"}), 201)
		e.clock.Advance(time.Second)
	}
	e.must(e.do("POST", "/v1/security/mcp/approve", other, map[string]any{"resource": "vsecure://secrets/production/OTHER", "operation": "read"}), 201)

	t.Run("agent_sees_only_its_own", func(t *testing.T) {
		r := e.must(e.do("GET", "/v1/security/mcp/approvals", agent, nil), 200)
		data := r.Body["data"].([]any)
		if len(data) != 5 {
			t.Fatalf("agent sees %d approvals, want 5", len(data))
		}
		first := data[0].(map[string]any)
		if first["requestedBy"] != "ai-agent-123" || first["status"] != "pending" || first["resource"] != dbURI {
			t.Fatalf("item shape: %v", first)
		}
		pg := r.Body["pagination"].(map[string]any)
		if pg["hasMore"] != false || pg["cursor"] != "" {
			t.Fatalf("pagination: %v", pg)
		}
	})
	t.Run("cursor_pages_cover_everything_once_newest_first", func(t *testing.T) {
		seen := map[string]bool{}
		cursor := ""
		var last string
		for page := 0; page < 10; page++ {
			q := "/v1/security/mcp/approvals?limit=2&resource=" + url.QueryEscape(dbURI)
			if cursor != "" {
				q += "&cursor=" + url.QueryEscape(cursor)
			}
			r := e.must(e.do("GET", q, e.admin, nil), 200)
			for _, d := range r.Body["data"].([]any) {
				m := d.(map[string]any)
				id := m["approvalId"].(string)
				if seen[id] {
					t.Fatalf("%s seen twice", id)
				}
				if last != "" && m["requestedAt"].(string) > last {
					t.Fatal("not newest first")
				}
				last = m["requestedAt"].(string)
				seen[id] = true
			}
			pg := r.Body["pagination"].(map[string]any)
			if pg["hasMore"] == false {
				break
			}
			cursor = pg["cursor"].(string)
		}
		if len(seen) != 5 {
			t.Fatalf("paged %d approvals, want 5", len(seen))
		}
	})
	t.Run("forged_or_transplanted_cursor_is_400", func(t *testing.T) {
		r := e.must(e.do("GET", "/v1/security/mcp/approvals?limit=1", e.admin, nil), 200)
		cursor := r.Body["pagination"].(map[string]any)["cursor"].(string)
		altered := []byte(cursor)
		altered[2] ^= 1
		e.wantErr(e.do("GET", "/v1/security/mcp/approvals?limit=1&cursor="+url.QueryEscape(string(altered)), e.admin, nil), 400, "invalid_request")
		e.wantErr(e.do("GET", "/v1/security/mcp/approvals?limit=1&cursor=eyJpZCI6ImFwcHJfYWJjMTIzIn0", e.admin, nil), 400, "invalid_request")
		e.wantErr(e.do("GET", "/v1/security/mcp/approvals?limit=1&status=pending&cursor="+url.QueryEscape(cursor), e.admin, nil), 400, "invalid_request")
		e.wantErr(e.do("GET", "/v1/security/mcp/approvals?limit=1&cursor="+url.QueryEscape(cursor), other, nil), 400, "invalid_request")
	})
	t.Run("bad_filters", func(t *testing.T) {
		e.wantErr(e.do("GET", "/v1/security/mcp/approvals?status=maybe", agent, nil), 400, "invalid_request")
		e.wantErr(e.do("GET", "/v1/security/mcp/approvals?limit=0", agent, nil), 400, "invalid_request")
		e.wantErr(e.do("GET", "/v1/security/mcp/approvals?limit=1000", agent, nil), 400, "invalid_request")
		e.wantErr(e.do("GET", "/v1/security/mcp/approvals?resource=vsecure://x", agent, nil), 400, "invalid_request")
	})
}

func TestAuditLog(t *testing.T) {
	e, agent := gated(t)
	e.put("vsecure://secrets/staging/A", "a")
	e.must(e.do("GET", resPath("vsecure://secrets/staging/A"), agent, nil), 200)
	e.wantErr(e.do("GET", resPath(dbURI), agent, nil), 403, "approval_required")
	t.Run("auditor_reads_with_filters", func(t *testing.T) {
		aud := e.key("auditor-1", "auditor")
		r := e.must(e.do("GET", "/v1/security/mcp/audit?resource="+url.QueryEscape("vsecure://secrets/production/*")+"&actor=ai-agent-123", aud, nil), 200)
		logs := r.Body["logs"].([]any)
		if len(logs) != 1 {
			t.Fatalf("logs = %s", r.Raw)
		}
		l := logs[0].(map[string]any)
		if l["resource"] != dbURI || l["operation"] != "read" || l["success"] != false || l["error"] != "approval_required" ||
			!strings.HasPrefix(l["id"].(string), "log_") || l["timestamp"] != "2024-03-15T10:30:00Z" {
			t.Fatalf("entry = %v", l)
		}
		if _, ok := r.Body["pagination"].(map[string]any); !ok {
			t.Fatalf("no pagination: %s", r.Raw)
		}
	})
	t.Run("success_and_operation_filters", func(t *testing.T) {
		for _, l := range e.audit("operation=read&success=true") {
			if l["operation"] != "read" || l["success"] != true {
				t.Fatalf("filter leak: %v", l)
			}
		}
		if n := len(e.audit("operation=read&success=true")); n != 1 {
			t.Fatalf("successful reads = %d, want 1", n)
		}
	})
	t.Run("time_filters", func(t *testing.T) {
		if n := len(e.audit("from=2030-01-01T00:00:00Z")); n != 0 {
			t.Fatalf("future from returned %d", n)
		}
		if n := len(e.audit("to=2024-03-15T10:29:59Z")); n != 0 {
			t.Fatalf("past to returned %d", n)
		}
	})
	t.Run("bad_filters", func(t *testing.T) {
		e.wantErr(e.do("GET", "/v1/security/mcp/audit?operation=drop", e.admin, nil), 400, "invalid_request")
		e.wantErr(e.do("GET", "/v1/security/mcp/audit?success=maybe", e.admin, nil), 400, "invalid_request")
		e.wantErr(e.do("GET", "/v1/security/mcp/audit?from=yesterday", e.admin, nil), 400, "invalid_request")
		e.wantErr(e.do("GET", "/v1/security/mcp/audit?resource=production/*", e.admin, nil), 400, "invalid_request")
		e.wantErr(e.do("GET", "/v1/security/mcp/audit?cursor=abc.def", e.admin, nil), 400, "invalid_request")
	})
}

func TestFailClosed(t *testing.T) {
	e, agent := gated(t)
	e.put("vsecure://secrets/staging/A", "a-value")
	e.store.broken.Store(true)
	t.Run("read_without_audit_returns_no_value", func(t *testing.T) {
		r := e.do("GET", resPath("vsecure://secrets/staging/A"), agent, nil)
		e.wantErr(r, 503, "audit_unavailable")
		if bytes.Contains(r.Raw, []byte("a-value")) {
			t.Fatal("value returned without audit")
		}
	})
	t.Run("anonymous_refusal_fails_closed_too", func(t *testing.T) {
		e.wantErr(e.do("GET", "/v1/security/mcp/resources", "", nil), 503, "audit_unavailable")
	})
}
