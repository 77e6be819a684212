package functions_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/vsecure/vsecure/internal/sample"
	"github.com/vsecure/vsecure/shared/console"
	"github.com/vsecure/vsecure/shared/lambdafn/consolefn"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// checkPageHeaders: every console answer, whatever its status, carries
// the console's security headers.
func checkPageHeaders(t *testing.T, resp events.APIGatewayV2HTTPResponse) {
	t.Helper()
	h := resp.Headers
	if csp := h["Content-Security-Policy"]; csp != console.CSP || !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("Content-Security-Policy %q, want %q", csp, console.CSP)
	}
	if h["Cache-Control"] != "no-store" || h["X-Frame-Options"] != "DENY" || h["X-Content-Type-Options"] != "nosniff" {
		t.Errorf("headers %v: want Cache-Control no-store, X-Frame-Options DENY, nosniff", h)
	}
}

// TestConsoleUnderRIE runs the console's page functions as deployed:
// real bootstraps under aws-lambda-rie, DynamoDB Local and local-kms, the
// session key from the (recorded) Secrets Manager, and every AWS call
// checked against the functions' synthesized policies.
func TestConsoleUnderRIE(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	w := newWorldOf(t, ctx, nil, "console-signin", "console-approval", "console-decide")
	invoke := func(fn, method, path string, cookie string, form url.Values) events.APIGatewayV2HTTPResponse {
		t.Helper()
		var ev events.APIGatewayV2HTTPRequest
		w.readEvent(t, fn, &ev)
		ev.RawPath, ev.RequestContext.HTTP.Method, ev.RequestContext.HTTP.Path = path, method, path
		ev.Body = ""
		if form != nil {
			ev.Body = form.Encode()
			ev.Headers["content-type"] = "application/x-www-form-urlencoded"
			delete(ev.Headers, "content-length")
		}
		if cookie != "" {
			ev.Cookies = []string{console.SessionCookie + "=" + cookie}
		}
		var resp events.APIGatewayV2HTTPResponse
		w.invoke(t, ctx, fn, ev, &resp)
		checkPageHeaders(t, resp)
		return resp
	}
	page := "/console/approvals/" + sample.PendingApproval

	t.Run("sign_in_page_says_no_sign_in_is_configured", func(t *testing.T) {
		resp := invoke("console-signin", "GET", "/console/signin", "", nil)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Headers["Content-Type"], "text/html") || !strings.Contains(resp.Body, "No sign-in is configured") {
			t.Errorf("%d %s %s", resp.StatusCode, resp.Headers["Content-Type"], resp.Body)
		}
		if strings.Contains(resp.Body, "/console/signin/dev") {
			t.Error("the sign-in page offers the dev sign-in on Lambda")
		}
	})
	t.Run("dev_sign_in_is_refused", func(t *testing.T) {
		resp := invoke("console-signin", "POST", "/console/signin/dev", "", url.Values{"principal": {"alice"}, "role": {"admin"}})
		if resp.StatusCode != 403 || len(resp.Cookies) != 0 {
			t.Errorf("dev sign-in: %d cookies %v, want 403 and no session", resp.StatusCode, resp.Cookies)
		}
	})
	t.Run("approval_without_a_session_redirects_to_sign_in", func(t *testing.T) {
		resp := invoke("console-approval", "GET", page, "", nil)
		if resp.StatusCode != 303 || resp.Headers["Location"] != "/console/signin?returnTo="+url.QueryEscape(page) {
			t.Errorf("%d Location %q", resp.StatusCode, resp.Headers["Location"])
		}
	})

	// alice's session, sealed as the console seals it under the key the
	// functions derive from the session secret.
	key, err := consolefn.SessionKey([]byte(consoleSecretValue))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	const csrf = "sample-csrf-token-of-alices-session"
	cookie, err := console.SealSession(key, console.Session{Principal: "alice", Roles: []vsecure.Role{vsecure.RoleApprover}, Human: true,
		IssuedAt: now, LastSeen: now, CSRF: csrf})
	if err != nil {
		t.Fatal(err)
	}
	status := func() vsecure.Status {
		t.Helper()
		a, err := w.open(t).Gate.Store().GetApproval(ctx, sample.PendingApproval)
		if err != nil {
			t.Fatal(err)
		}
		return a.Status
	}

	t.Run("approval_with_a_session_renders_it", func(t *testing.T) {
		resp := invoke("console-approval", "GET", page, cookie, nil)
		if resp.StatusCode != 200 || !strings.Contains(resp.Body, sample.PendingApproval) || !strings.Contains(resp.Body, `value="`+csrf+`"`) {
			t.Errorf("%d %s", resp.StatusCode, resp.Body)
		}
		if len(resp.Cookies) != 1 || !strings.HasPrefix(resp.Cookies[0], console.SessionCookie+"=") || !strings.Contains(resp.Cookies[0], "HttpOnly") {
			t.Errorf("cookies %v, want the refreshed session", resp.Cookies)
		}
	})
	t.Run("decide_without_the_csrf_token_is_refused", func(t *testing.T) {
		resp := invoke("console-decide", "POST", page+"/decide", cookie, url.Values{"action": {"approve"}, "reason": {"ok"}})
		if resp.StatusCode != 403 {
			t.Errorf("%d %s, want 403", resp.StatusCode, resp.Body)
		}
		if s := status(); s != vsecure.StatusPending {
			t.Errorf("approval %s after a refused POST, want pending", s)
		}
	})
	t.Run("decide_with_the_csrf_token_approves_through_the_gate", func(t *testing.T) {
		resp := invoke("console-decide", "POST", page+"/decide", cookie, url.Values{"action": {"approve"}, "reason": {"ok"}, "csrf": {csrf}})
		if resp.StatusCode != 303 || resp.Headers["Location"] != page+"?done=approved" {
			t.Fatalf("%d Location %q %s", resp.StatusCode, resp.Headers["Location"], resp.Body)
		}
		a, err := w.open(t).Gate.Store().GetApproval(ctx, sample.PendingApproval)
		if err != nil {
			t.Fatal(err)
		}
		if a.Status != vsecure.StatusApproved || a.ApprovedBy != "alice" {
			t.Errorf("approval %s approved by %v, want approved by alice", a.Status, a.ApprovedBy)
		}
	})
	t.Run("every_aws_call_is_allowed_by_its_functions_synthesized_policy", func(t *testing.T) { checkIAM(t, w) })
}

// TestConsoleBehindTheJWTAuthorizerUnderRIE: with people signing in the
// stack puts the pages behind API Gateway's JWT authorizer and sets
// VSECURE_CONSOLE_GATEWAY_JWT; the built function then serves a page
// only to the subject the authorizer put in the event, the one the
// session signed in as.
func TestConsoleBehindTheJWTAuthorizerUnderRIE(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	w := newWorldOf(t, ctx, map[string]string{consolefn.EnvGatewayJWT: "1"}, "console-approval")
	key, err := consolefn.SessionKey([]byte(consoleSecretValue))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	cookie, err := console.SealSession(key, console.Session{Principal: "alice", Roles: []vsecure.Role{vsecure.RoleApprover}, Human: true,
		Sub: "sub-alice", IssuedAt: now, LastSeen: now, CSRF: "csrf"})
	if err != nil {
		t.Fatal(err)
	}
	page := "/console/approvals/" + sample.PendingApproval
	for name, c := range map[string]struct {
		claims map[string]string
		want   int
	}{
		"the session's subject":     {map[string]string{"sub": "sub-alice", "email": "alice@example.com"}, 200},
		"another subject":           {map[string]string{"sub": "sub-mallory", "email": "alice@example.com"}, 401},
		"no JWT authorizer context": {nil, 401},
	} {
		var ev events.APIGatewayV2HTTPRequest
		w.readEvent(t, "console-approval", &ev)
		ev.RawPath, ev.RequestContext.HTTP.Method, ev.RequestContext.HTTP.Path = page, "GET", page
		ev.Body, ev.Cookies = "", []string{console.SessionCookie + "=" + cookie}
		ev.RequestContext.Authorizer = nil
		if c.claims != nil {
			ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
				JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: c.claims},
			}
		}
		var resp events.APIGatewayV2HTTPResponse
		w.invoke(t, ctx, "console-approval", ev, &resp)
		checkPageHeaders(t, resp)
		if resp.StatusCode != c.want {
			t.Errorf("%s: %d, want %d", name, resp.StatusCode, c.want)
		}
		if c.want == 200 && !strings.Contains(resp.Body, sample.PendingApproval) {
			t.Errorf("%s: the page does not show the approval", name)
		}
	}
}
