package httpapi_test

import (
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vsecure/vsecure/internal/testclock"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/httpapi"
	"github.com/vsecure/vsecure/shared/ratelimit"
	"github.com/vsecure/vsecure/shared/slack"
	"github.com/vsecure/vsecure/shared/vsecure"
)

func TestRateLimits(t *testing.T) {
	var clk *testclock.Clock
	now := func() time.Time { return clk.Now() }
	e := newEnv(t, func(c *gate.Config) { c.ApprovalRate = vsecure.RateLimit{Every: time.Minute, Burst: 3} })
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

// TestSlackPerIPLimit: the Slack webhook verifies its own signatures, and
// a source sending bad ones draws on the same per-address budget as one
// sending bad keys: once it is spent, the source gets 429 on the webhook
// and on the API alike, until the budget refills.
func TestSlackPerIPLimit(t *testing.T) {
	e := newEnv(t)
	now := e.clock.Now
	secret := "test-signing-secret"
	v, err := slack.NewVerifier(secret, slack.NewMemoryGuard(100), now)
	if err != nil {
		t.Fatal(err)
	}
	h, err := slack.NewHandler(slack.HandlerConfig{
		Decider: e.gate, Verifier: v, Log: slog.New(slog.DiscardHandler),
		Notifier: slack.NewNotifier(slack.NotifierConfig{URL: e.gate.ApprovalURL, Log: slog.New(slog.DiscardHandler)}),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.api.Mounts.Slack = h
	e.api.Limits.FailedAuthPerIP = ratelimit.New(1, 3, 1000, now)
	const path = "/v1/integrations/slack/interactions"
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	body := "payload=" + url.QueryEscape(`{"type":"shortcut","user":{"id":"U1"},"team":{"id":"T1"}}`)
	unsigned := func() resp {
		h := form.Clone()
		h.Set(slack.HeaderTimestamp, strconv.FormatInt(now().Unix(), 10))
		h.Set(slack.HeaderSignature, "v0="+strings.Repeat("0", 64))
		return e.doH("POST", path, "", body, h)
	}
	for i := range 3 {
		if r := unsigned(); r.Status != 401 || r.code() != "unauthenticated" {
			t.Fatalf("bad signature %d: %d %s", i, r.Status, r.Raw)
		}
	}
	r := unsigned()
	e.wantErr(r, 429, "rate_limited")
	if r.Header.Get("Retry-After") != "1" {
		t.Fatalf("Retry-After = %q", r.Header.Get("Retry-After"))
	}
	// The budget is the source's, whatever it presents.
	e.wantErr(e.do("GET", "/v1/security/keys", "vsk_wrong-guess-00000000000000000000000000", nil), 429, "rate_limited")
	e.wantErr(e.do("GET", "/v1/security/keys", e.admin, nil), 429, "rate_limited")
	e.clock.Advance(2 * time.Second)
	sh := form.Clone()
	ts := strconv.FormatInt(now().Unix(), 10)
	sh.Set(slack.HeaderTimestamp, ts)
	sh.Set(slack.HeaderSignature, slack.SignatureHeader([]byte(secret), ts, []byte(body)))
	if r := e.doH("POST", path, "", body, sh); r.Status != 200 {
		t.Fatalf("signed post after the refill: %d %s", r.Status, r.Raw)
	}
	// A signed post is no failed authentication: it spent nothing.
	e.must(e.do("GET", "/v1/security/keys", e.admin, nil), 200)
	logs := e.audit("operation=slack_interaction&success=false")
	var limited int
	for _, l := range logs {
		if l["error"] == "rate_limited" {
			limited++
		}
	}
	if limited != 1 {
		t.Fatalf("throttled Slack post not audited as rate_limited: %v", logs)
	}
}
