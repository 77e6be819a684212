package lambdafn

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/vsecure/vsecure/shared/archive"
	"github.com/vsecure/vsecure/shared/crypto/local"
	"github.com/vsecure/vsecure/shared/digest"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// fakeStore holds keys and audit entries; every other Store method panics
// (the embedded nil interface), so a test touching more fails loudly.
type fakeStore struct {
	vsecure.Store
	mu    sync.Mutex
	keys  map[string]vsecure.Key
	audit []vsecure.Entry
	down  bool
	// keyReadFails makes GetKey fail as a throttled or unreachable
	// DynamoDB would; keyReads counts GetKey calls.
	keyReadFails bool
	keyReads     int
}

func (s *fakeStore) GetKey(_ context.Context, id string) (vsecure.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keyReads++
	if s.keyReadFails {
		return vsecure.Key{}, errors.New("dynamodb: GetItem: operation error: request timeout")
	}
	for _, k := range s.keys {
		if k.ID == id {
			return k, nil
		}
	}
	return vsecure.Key{}, vsecure.Errorf(vsecure.ENotFound, "no key %s", id)
}

// MarkKeyUsed records nothing: last-used bookkeeping is best effort and
// not what these tests are about.
func (s *fakeStore) MarkKeyUsed(context.Context, vsecure.Key, time.Time, time.Time) error { return nil }

func (s *fakeStore) KeyByHash(_ context.Context, h string) (vsecure.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return vsecure.Key{}, vsecure.Errorf(vsecure.EUnavailable, "dynamodb: connection refused")
	}
	k, ok := s.keys[h]
	if !ok {
		return vsecure.Key{}, vsecure.Errorf(vsecure.ENotFound, "no key")
	}
	return k, nil
}

func (s *fakeStore) ApprovalByToken(context.Context, string) (vsecure.Approval, error) {
	return vsecure.Approval{}, vsecure.Errorf(vsecure.ENotFound, "no token")
}

func (s *fakeStore) AppendAudit(_ context.Context, e vsecure.Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return vsecure.Errorf(vsecure.EUnavailable, "dynamodb: connection refused")
	}
	s.audit = append(s.audit, e)
	return nil
}

func (s *fakeStore) QueryAudit(context.Context, vsecure.AuditFilter, string, int) ([]vsecure.Entry, string, error) {
	return nil, "", nil
}

const testKey = "vsk_unit-test-key-0123456789abcdefghijklmnopqrstuv"

func newTestFunction(t *testing.T, logs *bytes.Buffer) (*Function, *fakeStore) {
	t.Helper()
	st := &fakeStore{keys: map[string]vsecure.Key{
		gate.HashCredential(testKey): {ID: "key_1", Principal: "auditor-1", Roles: []vsecure.Role{vsecure.RoleAuditor, vsecure.RoleAgent}},
		"hash-agent":                 {ID: "key_2", Principal: "agent-1", Roles: []vsecure.Role{vsecure.RoleAgent}},
	}}
	sealer, err := local.Load(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{CursorKey: bytes.Repeat([]byte{1}, 32), PublicURL: "https://api.example.com"}
	f, err := New(cfg, st, sealer, NewLogger(logs, "DEBUG"))
	if err != nil {
		t.Fatal(err)
	}
	return f, st
}

func TestPrincipalRoundTrip(t *testing.T) {
	exp := time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC)
	for name, p := range map[string]vsecure.Principal{
		"api_key":                    {ID: "agent-1", Roles: []vsecure.Role{vsecure.RoleAgent, vsecure.RoleApprover}, KeyID: "key_1"},
		"access_token":               {ID: "agent-1", Scope: &vsecure.Scope{ApprovalID: "appr_1", Resource: "vsecure://secrets/p/DB", Operation: vsecure.OpRead, ExpiresAt: exp}},
		"agent_on_behalf_of_a_human": {ID: "ai-agent-123", Roles: []vsecure.Role{vsecure.RoleAgent}, KeyID: "key_2", OnBehalfOf: "alice"},
		"access_token_on_behalf_of_a_human": {ID: "ai-agent-123", KeyID: "key_2", OnBehalfOf: "alice",
			Scope: &vsecure.Scope{ApprovalID: "appr_1", Resource: "vsecure://secrets/p/DB", Operation: vsecure.OpRead, ExpiresAt: exp}},
	} {
		t.Run(name, func(t *testing.T) {
			// Through JSON, as API Gateway carries it.
			b, _ := json.Marshal(EncodePrincipal(p))
			var m map[string]any
			_ = json.Unmarshal(b, &m)
			got, err := DecodePrincipal(m)
			if err != nil {
				t.Fatal(err)
			}
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(p)
			if string(gb) != string(wb) {
				t.Errorf("round trip: got %s, want %s", gb, wb)
			}
		})
	}
}

func TestDecodePrincipalRefusesMalformedContexts(t *testing.T) {
	for name, m := range map[string]map[string]any{
		"empty":              {},
		"no_principal":       {"roles": "admin"},
		"non_string":         {"principal": "a", "roles": true},
		"unknown_role":       {"principal": "a", "roles": "root"},
		"scope_without_uri":  {"principal": "a", "approvalId": "appr_1", "operation": "read", "expiresAt": "2026-11-25T13:00:00Z"},
		"scope_bad_op":       {"principal": "a", "approvalId": "appr_1", "resource": "vsecure://secrets/a/b", "operation": "delete", "expiresAt": "2026-11-25T13:00:00Z"},
		"bad_on_behalf_of":   {"principal": "a", "roles": "agent", "onBehalfOf": "alice smith"},
		"scope_bad_deadline": {"principal": "a", "approvalId": "appr_1", "resource": "vsecure://secrets/a/b", "operation": "read", "expiresAt": "soon"},
	} {
		if _, err := DecodePrincipal(m); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func authEvent(headers map[string]string) events.APIGatewayV2CustomAuthorizerV2Request {
	var ev events.APIGatewayV2CustomAuthorizerV2Request
	ev.Version, ev.Type, ev.Headers = "2.0", "REQUEST", headers
	ev.RequestContext.RequestID = "apigw-req-1"
	ev.RequestContext.HTTP.SourceIP = "203.0.113.10"
	return ev
}

func TestAuthorizer(t *testing.T) {
	var logs bytes.Buffer
	f, st := newTestFunction(t, &logs)
	ctx := context.Background()
	for name, tc := range map[string]struct {
		headers map[string]string
		allow   bool
	}{
		"bearer":      {map[string]string{"authorization": "Bearer " + testKey}, true},
		"x_api_key":   {map[string]string{"x-api-key": testKey}, true},
		"unknown_key": {map[string]string{"authorization": "Bearer vsk_nobody-0123456789abcdefghijklmnopqrstuvwxyz"}, false},
		"missing_key": {map[string]string{}, false},
		"basic_auth":  {map[string]string{"authorization": "Basic " + testKey}, false},
	} {
		t.Run(name, func(t *testing.T) {
			resp, err := f.Authorizer().Handle(ctx, authEvent(tc.headers))
			if err != nil {
				t.Fatal(err)
			}
			if resp.IsAuthorized != tc.allow {
				t.Fatalf("isAuthorized = %v, want %v", resp.IsAuthorized, tc.allow)
			}
			if !tc.allow {
				if resp.Context != nil {
					t.Errorf("a deny carries context %v", resp.Context)
				}
				return
			}
			want := map[string]any{"principal": "auditor-1", "roles": "auditor,agent", "keyId": "key_1"}
			if b, w := mustJSON(resp.Context), mustJSON(want); b != w {
				t.Errorf("context %s, want %s", b, w)
			}
		})
	}
	// Refusals are audited as anonymous with the API Gateway request id.
	last := st.audit[len(st.audit)-1]
	if last.Success || last.Actor != vsecure.Anonymous || last.Metadata["requestId"] != "apigw-req-1" {
		t.Errorf("refusal audit entry %+v", last)
	}
	t.Run("store_down_is_an_error_not_a_deny", func(t *testing.T) {
		st.mu.Lock()
		st.down = true
		st.mu.Unlock()
		defer func() { st.mu.Lock(); st.down = false; st.mu.Unlock() }()
		_, err := f.Authorizer().Handle(ctx, authEvent(map[string]string{"authorization": "Bearer " + testKey}))
		if err == nil || strings.Contains(err.Error(), "dynamodb") {
			t.Fatalf("err = %v, want a bare error without internals", err)
		}
	})
	if strings.Contains(logs.String(), testKey) {
		t.Error("the API key appears in the logs")
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

func endpointEvent(method, path string, authz map[string]any) events.APIGatewayV2HTTPRequest {
	var ev events.APIGatewayV2HTTPRequest
	ev.Version, ev.RawPath = "2.0", path
	ev.RequestContext.HTTP.Method, ev.RequestContext.HTTP.Path = method, path
	ev.RequestContext.RequestID = "apigw-req-2"
	ev.RequestContext.DomainName = "api.example.com"
	if authz != nil {
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{Lambda: authz}
	}
	return ev
}

func TestEndpoint(t *testing.T) {
	var logs bytes.Buffer
	f, st := newTestFunction(t, &logs)
	e, err := f.Endpoint("audit-list")
	if err != nil {
		t.Fatal(err)
	}
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "lambda-req-9"})
	auditor := EncodePrincipal(vsecure.Principal{ID: "auditor-1", Roles: []vsecure.Role{vsecure.RoleAuditor}, KeyID: "key_1"})
	for name, tc := range map[string]struct {
		authz  map[string]any
		status int
		code   string
	}{
		"authorizer_identity":       {auditor, 200, ""},
		"no_authorizer_context":     {nil, 401, "unauthenticated"},
		"malformed_context":         {map[string]any{"roles": "admin"}, 401, "unauthenticated"},
		"identity_lacks_audit_role": {EncodePrincipal(vsecure.Principal{ID: "agent-1", Roles: []vsecure.Role{vsecure.RoleAgent}, KeyID: "key_2"}), 403, "forbidden"},
	} {
		t.Run(name, func(t *testing.T) {
			resp, err := e.Handle(ctx, endpointEvent("GET", "/v1/security/mcp/audit", tc.authz))
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, resp.Body)
			}
			if resp.Headers["X-Request-Id"] != "apigw-req-2" {
				t.Errorf("X-Request-Id %q, want the API Gateway request id", resp.Headers["X-Request-Id"])
			}
			if tc.code == "" {
				return
			}
			var env struct {
				Error struct{ Code, RequestID string }
			}
			if err := json.Unmarshal([]byte(resp.Body), &env); err != nil || env.Error.Code != tc.code || env.Error.RequestID != "apigw-req-2" {
				t.Errorf("body %s, want code %s with requestId apigw-req-2", resp.Body, tc.code)
			}
		})
	}
	var found bool
	for _, e := range st.audit {
		if e.Operation == vsecure.AuditAuthenticate && !e.Success && e.Metadata["requestId"] == "apigw-req-2" {
			found = true
		}
	}
	if !found {
		t.Error("a request without authorizer identity was not audited")
	}
	// Logs are JSON and carry both request ids.
	var line map[string]any
	first := strings.SplitN(logs.String(), "\n", 2)[0]
	if err := json.Unmarshal([]byte(first), &line); err != nil {
		t.Fatalf("log line is not JSON: %q", first)
	}
	if line["awsRequestId"] != "lambda-req-9" || line["requestId"] != "apigw-req-2" {
		t.Errorf("log line %v lacks awsRequestId/requestId", line)
	}
}

// TestEndpointJudgesStoredKey hands the endpoint an authorizer context as
// API Gateway's cache would, captured before the key changed: the
// endpoint re-reads the key and acts as it is stored now.
func TestEndpointJudgesStoredKey(t *testing.T) {
	f, st := newTestFunction(t, &bytes.Buffer{})
	past, future := time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	st.keys = map[string]vsecure.Key{
		"h1": {ID: "key_demoted", Principal: "ann", Roles: []vsecure.Role{vsecure.RoleAgent}},
		"h2": {ID: "key_promoted", Principal: "ben", Roles: []vsecure.Role{vsecure.RoleAuditor}},
		"h3": {ID: "key_revoked", Principal: "cat", Roles: []vsecure.Role{vsecure.RoleAuditor}, RevokedAt: &past},
		"h4": {ID: "key_expired", Principal: "dan", Roles: []vsecure.Role{vsecure.RoleAuditor}, ExpiresAt: &past},
		"h5": {ID: "key_fresh", Principal: "eve", Roles: []vsecure.Role{vsecure.RoleAuditor}, ExpiresAt: &future},
	}
	e, err := f.Endpoint("audit-list")
	if err != nil {
		t.Fatal(err)
	}
	key := func(id, keyID string, roles ...vsecure.Role) map[string]any {
		return EncodePrincipal(vsecure.Principal{ID: id, Roles: roles, KeyID: keyID})
	}
	token := func(id, keyID string) map[string]any {
		return EncodePrincipal(vsecure.Principal{ID: id, KeyID: keyID, Scope: &vsecure.Scope{
			ApprovalID: "appr_1", Resource: "vsecure://secrets/p/DB", Operation: vsecure.OpRead, ExpiresAt: future,
		}})
	}
	auditor := vsecure.RoleAuditor
	n := 0
	for name, tc := range map[string]struct {
		authz        map[string]any
		keyReadFails bool
		status       int
		code         string
	}{
		"key_as_cached":          {key("eve", "key_fresh", auditor), false, 200, ""},
		"demoted_after_caching":  {key("ann", "key_demoted", auditor), false, 403, "forbidden"},
		"promoted_after_caching": {key("ben", "key_promoted", vsecure.RoleAgent), false, 200, ""},
		"revoked_after_caching":  {key("cat", "key_revoked", auditor), false, 401, "unauthenticated"},
		"expired_after_caching":  {key("dan", "key_expired", auditor), false, 401, "unauthenticated"},
		"key_gone":               {key("eve", "key_unknown", auditor), false, 401, "unauthenticated"},
		"key_of_another":         {key("mallory", "key_fresh", auditor), false, 401, "unauthenticated"},
		"no_key_id":              {key("eve", "", auditor), false, 401, "unauthenticated"},
		"key_read_fails":         {key("eve", "key_fresh", auditor), true, 503, "unavailable"},
		"token_of_live_key":      {token("eve", "key_fresh"), false, 403, "forbidden"},
		"token_of_revoked_key":   {token("cat", "key_revoked"), false, 401, "unauthenticated"},
	} {
		t.Run(name, func(t *testing.T) {
			st.mu.Lock()
			st.keyReadFails, st.keyReads, st.audit = tc.keyReadFails, 0, nil
			st.mu.Unlock()
			ev := endpointEvent("GET", "/v1/security/mcp/audit", tc.authz)
			// Anonymous refusals are aggregated per source and reason; a
			// source per case makes each one's first entry.
			n++
			ev.RequestContext.HTTP.SourceIP = fmt.Sprintf("192.0.2.%d", n)
			resp, err := e.Handle(context.Background(), ev)
			if err != nil {
				t.Fatal(err)
			}
			var env struct{ Error struct{ Code string } }
			_ = json.Unmarshal([]byte(resp.Body), &env)
			if resp.StatusCode != tc.status || env.Error.Code != tc.code {
				t.Fatalf("status %d %s, want %d %q", resp.StatusCode, resp.Body, tc.status, tc.code)
			}
			st.mu.Lock()
			defer st.mu.Unlock()
			if want := 1; tc.authz[ctxKeyID] != nil && st.keyReads != want {
				t.Errorf("%d key reads, want %d", st.keyReads, want)
			}
			if tc.status == 401 || tc.status == 503 {
				var audited bool
				for _, en := range st.audit {
					audited = audited || (en.Operation == vsecure.AuditAuthenticate && !en.Success && en.Error == tc.code)
				}
				if !audited {
					t.Errorf("the refusal was not audited: %+v", st.audit)
				}
			}
		})
	}
}

// TestEndpointSecretPathReadsNoKey: resources-get and resources-put judge
// the stored key within their own read (httpapi.Route.JudgesKey), so their
// authenticator makes no extra round trip; a failing GetKey would show.
func TestEndpointSecretPathReadsNoKey(t *testing.T) {
	f, st := newTestFunction(t, &bytes.Buffer{})
	st.keyReadFails = true
	e, err := f.Endpoint("resources-get")
	if err != nil {
		t.Fatal(err)
	}
	ev := endpointEvent("GET", "/v1/security/mcp/resources/vsecure%3A%2F%2Fsecrets%2Fp%2FDB",
		EncodePrincipal(vsecure.Principal{ID: "agent-1", Roles: []vsecure.Role{vsecure.RoleAgent}, KeyID: "key_2"}))
	ev.RawQueryString = "version=x"
	resp, err := e.Handle(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 400 || st.keyReads != 0 {
		t.Fatalf("status %d %s after %d key reads, want 400 (bad version) after none", resp.StatusCode, resp.Body, st.keyReads)
	}
}

func TestEndpointForUnknownFunction(t *testing.T) {
	f, _ := newTestFunction(t, &bytes.Buffer{})
	if _, err := f.Endpoint("no-such-function"); err == nil {
		t.Fatal("accepted a function with no route")
	}
}

// TestEndpointWithoutItsMountFailsInit: a function whose routes another
// package serves (main.go sets the mount) fails at init without it, not
// with a 404 on every request.
func TestEndpointWithoutItsMountFailsInit(t *testing.T) {
	f, _ := newTestFunction(t, &bytes.Buffer{})
	for _, fn := range []string{"mcp", "slack-interactions"} {
		if _, err := f.Endpoint(fn); err == nil || !strings.Contains(err.Error(), "Mounts.") {
			t.Errorf("Endpoint(%s) without its mount: err %v, want one naming the field", fn, err)
		}
	}
}

func TestConfigFromEnv(t *testing.T) {
	full := map[string]string{
		"VSECURE_TABLE": "t", "VSECURE_AUDIT_TABLE": "a", "VSECURE_AUDIT_MAC_KEY_ID": "arn:aws:kms:eu-west-1:123456789012:key/m", "VSECURE_KMS_KEY_ARN": "arn:aws:kms:eu-west-1:123456789012:key/k",
		"VSECURE_CURSOR_KEY": base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32)),
		"VSECURE_PUBLIC_URL": "https://api.example.com", "AWS_REGION": "eu-west-1",
		"AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "s",
	}
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	c, err := ConfigFromEnv(env(full))
	if err != nil || c.Table != "t" || len(c.CursorKey) != 32 {
		t.Fatalf("full env: %+v, %v", c, err)
	}
	if c.KMSKeyID != full["VSECURE_KMS_KEY_ARN"] {
		t.Errorf("KMS key %q, want VSECURE_KMS_KEY_ARN", c.KMSKeyID)
	}
	for _, name := range []string{"VSECURE_TABLE", "VSECURE_AUDIT_TABLE", "VSECURE_AUDIT_MAC_KEY_ID", "VSECURE_PUBLIC_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID"} {
		m := map[string]string{}
		for k, v := range full {
			if k != name {
				m[k] = v
			}
		}
		if _, err := ConfigFromEnv(env(m)); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("without %s: err = %v, want it named", name, err)
		}
	}
	bad := map[string]string{}
	for k, v := range full {
		bad[k] = v
	}
	bad["VSECURE_CURSOR_KEY"] = "c2hvcnQta2V5"
	if _, err := ConfigFromEnv(env(bad)); err == nil || strings.Contains(err.Error(), "c2hvcnQta2V5") {
		t.Errorf("short cursor key: err = %v, want a refusal that does not echo the value", err)
	}
	// The stack gives the secret's ARN instead of the key: the key is read
	// later (TestCursorKeyFromSecretsManager), so config only checks it.
	delete(bad, "VSECURE_CURSOR_KEY")
	bad["VSECURE_CURSOR_SECRET_ARN"] = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:c"
	bad["VSECURE_STATE_MACHINE_ARN"] = "arn:aws:states:eu-west-1:123456789012:stateMachine:approvals"
	if c, err := ConfigFromEnv(env(bad)); err != nil || c.CursorSecretARN != bad["VSECURE_CURSOR_SECRET_ARN"] || len(c.CursorKey) != 0 ||
		c.StateMachineARN != bad["VSECURE_STATE_MACHINE_ARN"] {
		t.Errorf("cursor secret and state machine ARNs: %+v, %v", c, err)
	}
	for name, v := range map[string]string{"VSECURE_CURSOR_SECRET_ARN": "CursorKey", "VSECURE_STATE_MACHINE_ARN": "arn:aws:lambda:x"} {
		wrong := map[string]string{}
		for k, val := range bad {
			wrong[k] = val
		}
		wrong[name] = v
		if _, err := ConfigFromEnv(env(wrong)); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%q: err = %v, want it named", name, v, err)
		}
	}
	// The per-request log line: every request unless prod (whose access
	// log has them all) or VSECURE_REQUEST_LOG says otherwise.
	for _, c := range []struct{ env, setting, want string }{
		{"dev", "", ""}, {"prod", "", "errors"}, {"prod", "all", "all"}, {"dev", "errors", "errors"},
	} {
		m := map[string]string{"VSECURE_ENV": c.env, "VSECURE_REQUEST_LOG": c.setting}
		if got, err := configFromEnv(env(m), false); err != nil || got.RequestLog != c.want {
			t.Errorf("VSECURE_ENV=%s VSECURE_REQUEST_LOG=%q: RequestLog %q, %v; want %q", c.env, c.setting, got.RequestLog, err, c.want)
		}
	}
	if _, err := configFromEnv(env(map[string]string{"VSECURE_REQUEST_LOG": "some"}), false); err == nil || !strings.Contains(err.Error(), "VSECURE_REQUEST_LOG") {
		t.Errorf("VSECURE_REQUEST_LOG=some: err = %v, want it named", err)
	}
	// The indexer's timing: unset is the store's production defaults
	// (no override); the emulator runs set all three, or nothing.
	if c.IndexTiming != nil {
		t.Errorf("IndexTiming %+v without VSECURE_AUDIT_INDEX_TIMING, want the store's defaults", c.IndexTiming)
	}
	if got, err := configFromEnv(env(map[string]string{"VSECURE_AUDIT_INDEX_TIMING": "0s, 0, 1m"}), false); err != nil ||
		got.IndexTiming == nil || *got.IndexTiming != (IndexTiming{Settle: 0, MinEntries: 0, MaxDelay: time.Minute}) {
		t.Errorf("VSECURE_AUDIT_INDEX_TIMING=0s,0,1m: %+v, %v", got.IndexTiming, err)
	}
	for _, v := range []string{"0s", "0s,0", "1x,0,0s", "0s,-1,0s", "-1s,0,0s", "0s,0,0s,1"} {
		if _, err := configFromEnv(env(map[string]string{"VSECURE_AUDIT_INDEX_TIMING": v}), false); err == nil || !strings.Contains(err.Error(), "VSECURE_AUDIT_INDEX_TIMING") {
			t.Errorf("VSECURE_AUDIT_INDEX_TIMING=%q: err = %v, want it named", v, err)
		}
	}
	// health gets only VSECURE_ENV from the stack.
	if _, err := configFromEnv(env(map[string]string{"VSECURE_ENV": "dev"}), false); err != nil {
		t.Errorf("a store-free function: %v", err)
	}
}

// The logger must never need globals: two loggers write independently.
func TestNewLoggerLevels(t *testing.T) {
	var b bytes.Buffer
	NewLogger(&b, "ERROR").Info("dropped")
	if b.Len() != 0 {
		t.Errorf("INFO logged at ERROR level: %s", b.String())
	}
	NewLogger(&b, "").Info("kept", slog.String("k", "v"))
	if !strings.Contains(b.String(), `"message":"kept"`) {
		t.Errorf("default level drops INFO or uses other keys: %s", b.String())
	}
}

// TestEndpointUncleanPath: the proxy adapter hands the event's rawPath to
// the same handler as the local server, so an unencoded resource URI is
// the audited JSON 400, not a redirect, in Lambda too.
func TestEndpointUncleanPath(t *testing.T) {
	f, st := newTestFunction(t, &bytes.Buffer{})
	e, err := f.Endpoint("resources-get")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := e.Handle(context.Background(), endpointEvent("GET", "/v1/security/mcp/resources/vsecure://secrets/production/X", nil))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 400 || resp.Headers["Content-Type"] != "application/json" || resp.Headers["Location"] != "" ||
		!strings.Contains(resp.Body, `"code":"invalid_request"`) || !strings.Contains(resp.Body, "vsecure%3A%2F%2Fsecrets%2Fproduction%2FX") {
		t.Fatalf("%d %v %s", resp.StatusCode, resp.Headers, resp.Body)
	}
	var audited bool
	for _, en := range st.audit {
		audited = audited || (en.Operation == "http:unclean-path" && !en.Success && en.Metadata["requestId"] == "apigw-req-2")
	}
	if !audited {
		t.Error("the refusal was not audited")
	}
}

// TestAuthorizerAggregatesRefusals: the container's gate aggregates a flood
// of bad keys from one source across invocations: its first refusal is
// written at once, the rest become one summary (written by the first
// invocation after the window, or here at close).
func TestAuthorizerAggregatesRefusals(t *testing.T) {
	var logs bytes.Buffer
	f, st := newTestFunction(t, &logs)
	bad := map[string]string{"authorization": "Bearer vsk_nobody-0123456789abcdefghijklmnopqrstuvwxyz"}
	for range 50 {
		if resp, err := f.Authorizer().Handle(t.Context(), authEvent(bad)); err != nil || resp.IsAuthorized {
			t.Fatalf("bad key: %+v %v", resp, err)
		}
	}
	st.mu.Lock()
	n := len(st.audit)
	st.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d entries during the window, want the first refusal alone", n)
	}
	if err := f.Gate.CloseRefusals(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(st.audit) != 2 || st.audit[1].Metadata["count"] != "49" || st.audit[1].Metadata["ipAddress"] != "203.0.113.10" {
		t.Fatalf("entries %+v, want the first and a summary of 49", st.audit)
	}
}

// A function given the witness bucket but built without the S3 opener
// refuses to start rather than run the digest step or verifier without its
// witness; with an opener, Open hands it the bucket's name.
func TestOpenNeedsTheBucketOpenerForTheWitness(t *testing.T) {
	cfg := Config{
		Table: "t", AuditTable: "a", Region: "eu-west-1", AccessKeyID: "AKIA", SecretAccessKey: "s",
		FunctionName: "audit-digest", WitnessBucket: "vsecure-witness", CursorKey: bytes.Repeat([]byte{9}, 32),
	}
	if _, err := Open(cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "s3witness") {
		t.Fatalf("Open with a witness bucket and no opener: %v, want a refusal naming s3witness", err)
	}
	var got string
	Buckets = func(_ aws.Config, c Config) (digest.Witness, archive.Bucket, error) {
		got = c.WitnessBucket
		return nil, nil, nil
	}
	t.Cleanup(func() { Buckets = nil })
	if _, err := Open(cfg, slog.New(slog.DiscardHandler)); err != nil || got != "vsecure-witness" {
		t.Fatalf("Open with an opener: %v (opener saw %q)", err, got)
	}
}
