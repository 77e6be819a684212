package httpapi_test

import (
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/httpapi"
	"github.com/vsecure/vsecure/shared/ratelimit"
)

func TestRateLimits(t *testing.T) {
	var clk *clock
	now := func() time.Time { return clk.Now() }
	e := newEnv(t, func(c *gate.Config) { c.ApprovalRequests = ratelimit.New(1.0/60, 3, 1000, now) })
	clk = e.clock
	e.api.Limits = httpapi.Limits{
		PerPrincipal:    ratelimit.New(1, 20, 1000, now),
		FailedAuthPerIP: ratelimit.New(1, 3, 1000, now),
	}
	t.Run("failed_auth_per_ip_then_even_good_keys_wait", func(t *testing.T) {
		for i := 0; i < 3; i++ {
			e.wantErr(e.do("GET", "/v1/security/keys", "vsk_wrong-guess-00000000000000000000000000", nil), 401, "unauthenticated")
		}
		r := e.do("GET", "/v1/security/keys", "vsk_wrong-guess-00000000000000000000000000", nil)
		e.wantErr(r, 429, "rate_limited")
		if r.Header.Get("Retry-After") != "1" {
			t.Fatalf("Retry-After = %q", r.Header.Get("Retry-After"))
		}
		e.wantErr(e.do("GET", "/v1/security/keys", e.admin, nil), 429, "rate_limited")
		clk.Advance(2 * time.Second)
		e.must(e.do("GET", "/v1/security/keys", e.admin, nil), 200)
	})
	t.Run("per_principal", func(t *testing.T) {
		clk.Advance(time.Minute)
		aud := e.key("auditor-1", "auditor")
		for i := 0; i < 20; i++ {
			e.must(e.do("GET", "/v1/security/mcp/audit?limit=1", aud, nil), 200)
		}
		e.wantErr(e.do("GET", "/v1/security/mcp/audit?limit=1", aud, nil), 429, "rate_limited")
		e.must(e.do("GET", "/v1/security/keys", e.admin, nil), 200) // others unaffected
		logs := e.audit("actor=auditor-1&success=false")
		if len(logs) == 0 || logs[0]["error"] != "rate_limited" {
			t.Fatalf("throttled call not audited: %v", logs)
		}
	})
	t.Run("approval_requests_per_requester", func(t *testing.T) {
		clk.Advance(time.Minute)
		e.configure(map[string]any{"uri": "vsecure://secrets/production/*", "permissions": []string{"read"}, "requiresApproval": true, "approvers": []string{"alice"}})
		agent := e.key("chatty-agent", "agent")
		for i := 0; i < 3; i++ {
			e.must(e.do("POST", "/v1/security/mcp/approve", agent, map[string]any{"resource": dbURI, "operation": "read"}), 201)
		}
		r := e.do("POST", "/v1/security/mcp/approve", agent, map[string]any{"resource": dbURI, "operation": "read"})
		e.wantErr(r, 429, "rate_limited")
		if r.Header.Get("Retry-After") != "60" {
			t.Fatalf("Retry-After = %q, want 60", r.Header.Get("Retry-After"))
		}
		other := e.key("quiet-agent", "agent")
		e.must(e.do("POST", "/v1/security/mcp/approve", other, map[string]any{"resource": dbURI, "operation": "read"}), 201)
	})
}
