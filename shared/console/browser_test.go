package console_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vsecure/vsecure/internal/browser"
	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/client"
	"github.com/vsecure/vsecure/shared/console"
	"github.com/vsecure/vsecure/shared/devserver"
	"github.com/vsecure/vsecure/shared/devserver/devtest"
	"github.com/vsecure/vsecure/shared/store/storetest/stores"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// shots, if set, is where the browser tests write each page's screenshot
// (VSECURE_SCREENSHOTS=docs/img regenerates the README's images).
var shots = os.Getenv("VSECURE_SCREENSHOTS")

func shot(b *browser.Browser, name string) {
	if shots != "" {
		b.Screenshot(filepath.Join(shots, "console-"+name+".png"))
	}
}

// request has the fixture's agent ask to read the gated production secret;
// once approved the agent reads it with its own key (the grant).
func request(t *testing.T, e *devtest.Env) api.ApprovalView {
	t.Helper()
	ttl := 600
	v, err := e.Client(t, e.AgentKey).RequestApproval(t.Context(), api.ApprovalRequest{
		Resource: devtest.ProductionURI, Operation: "read", Reason: "migrate the orders table", TTL: &ttl,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(v.ApprovalURL, "/console/approvals/"+v.ID) {
		t.Fatalf("approval %+v: want a console approvalUrl", v)
	}
	return v
}

// devSignIn signs in through the DEV form, from wherever the browser was
// sent to sign in, and waits to land on want.
func devSignIn(b *browser.Browser, who string, roles ...vsecure.Role) {
	b.WaitText("#dev-h", "DEV sign-in")
	b.Fill("#principal", who)
	for _, r := range roles {
		b.Click(`input[name=role][value="` + string(r) + `"]`)
	}
	b.Click("#dev-signin")
	b.WaitText("#who", who)
}

func readWith(t *testing.T, e *devtest.Env, key string) (api.SecretRead, error) {
	t.Helper()
	c, err := client.New(client.Config{BaseURL: e.URL, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	return c.GetSecret(t.Context(), devtest.ProductionURI, 0)
}

// TestApproveInTheConsoleLetsTheAgentRead: an approver follows the
// approvalUrl an agent was given, signs in, approves, and the agent
// reads the secret; the decision is audited as alice's, from the console.
func TestApproveInTheConsoleLetsTheAgentRead(t *testing.T) {
	stores.Both(t, func(t *testing.T, open stores.Opener) {
		e := devtest.Start(t, devtest.WithConfig(func(c *devserver.Config) { c.Store = open(t) }))
		v := request(t, e)
		if _, err := readWith(t, e, e.AgentKey); err == nil {
			t.Fatalf("read before approval succeeded")
		}
		b := browser.Start(t)
		b.Navigate(e.URL + "/console")
		shot(b, "signin")
		devSignIn(b, "alice", vsecure.RoleApprover)
		b.WaitText("#pending", devtest.ProductionURI)
		shot(b, "inbox")
		b.Navigate(v.ApprovalURL)
		b.WaitText("#requester", "agent-1")
		b.WaitText("#reason", "migrate the orders table")
		b.WaitText("#quorum", "0 of 1")
		b.WaitText("#countdown", "left")
		shot(b, "approval")
		b.Viewport(390, 844)
		b.WaitText("#approve", "Approve")
		shot(b, "approval-phone")
		b.Viewport(browser.Width, browser.Height)
		b.Fill("#decide-reason", "ticket OPS-42")
		b.Click("#approve")
		b.WaitText("#status", "approved")
		b.WaitText("#history", "ticket OPS-42")
		got, err := readWith(t, e, e.AgentKey)
		if err != nil || got.Value != devtest.ProductionValue {
			t.Fatalf("agent read after the console's approval: %+v, %v", got, err)
		}
		es, _, err := e.Client(t, e.AuditorKey).Audit(t.Context(), api.AuditQuery{Operation: vsecure.AuditApprove})
		if err != nil || len(es) != 1 || es[0].Actor != "alice" || es[0].ApprovalID != v.ID || es[0].Metadata["via"] != "console" || es[0].Metadata["credential"] != "dev-signin" {
			t.Fatalf("approve audit entries %+v, %v", es, err)
		}
		// Revoke once granted, through the same page.
		b.Click("#revoke")
		b.WaitText("#status", "revoked")
		if _, err := readWith(t, e, e.AgentKey); err == nil {
			t.Fatal("the agent still reads after revocation")
		}
		// An approver reads no audit log: the gate refuses, the page says so.
		b.Navigate(e.URL + "/console/audit")
		b.WaitText("#code", string(vsecure.EForbidden))
		b.Click(".signout button")
		devSignIn(b, "audit-bot", vsecure.RoleAuditor)
		b.Navigate(e.URL + "/console/audit")
		b.WaitText("#verify", "no findings")
		b.WaitText("#audit", vsecure.AuditApprove)
		shot(b, "audit")
		b.Click(".signout button")
		devSignIn(b, "root", vsecure.RoleAdmin)
		b.Navigate(e.URL + "/console/keys")
		b.WaitText("#keys", "agent-1")
		shot(b, "keys")
		b.Navigate(e.URL + "/console/policies")
		b.WaitText("#policies", "alice")
		shot(b, "policies")
	})
}

// TestDenyInTheConsole: a denial stands and the token never reads.
func TestDenyInTheConsole(t *testing.T) {
	e := devtest.Start(t)
	v := request(t, e)
	b := browser.Start(t)
	b.Navigate(v.ApprovalURL)
	devSignIn(b, "alice", vsecure.RoleApprover)
	b.WaitText("#requester", "agent-1") // back on the approval after sign-in
	b.Fill("#decide-reason", "not during the freeze")
	b.Click("#deny")
	b.WaitText("#status", "denied")
	b.WaitText("#history", "not during the freeze")
	if _, err := readWith(t, e, e.AgentKey); err == nil {
		t.Fatal("the agent reads after a denial")
	}
}

// post submits a form the page did not offer, as a script or another
// site's page would: fields by name, csrf "" left out.
func post(b *browser.Browser, path string, fields map[string]string) {
	js, _ := json.Marshal(fields)
	browser.Eval[bool](b, `(() => { const f = document.createElement("form"); f.method = "post"; f.action = `+strconv.Quote(path)+`;
		for (const [k, v] of Object.entries(`+string(js)+`)) { const i = document.createElement("input"); i.type = "hidden"; i.name = k; i.value = v; f.append(i); }
		document.body.append(f); f.submit(); return true; })()`)
}

// TestNonApproverIsRefused: someone signed in who is not a listed
// approver cannot see the approval, and a post of the form with their own
// valid CSRF token is refused by the gate.
func TestNonApproverIsRefused(t *testing.T) {
	e := devtest.Start(t)
	v := request(t, e)
	b := browser.Start(t)
	b.Navigate(v.ApprovalURL)
	devSignIn(b, "mallory", vsecure.RoleApprover)
	b.WaitText("#code", string(vsecure.ENotFound))
	if n := browser.Eval[int](b, `document.querySelectorAll("#approve, #deny").length`); n != 0 {
		t.Fatalf("a non-approver is offered %d decision buttons", n)
	}
	csrf := browser.Eval[string](b, `document.querySelector(".signout input[name=csrf]").value`)
	post(b, "/console/approvals/"+v.ID+"/decide", map[string]string{"csrf": csrf, "action": "approve"})
	b.WaitText("#code", string(vsecure.ENotApprover))
	got, err := e.Admin.GetApproval(t.Context(), v.ID)
	if err != nil || got.Status != vsecure.StatusPending {
		t.Fatalf("after a non-approver's post: %+v, %v", got, err)
	}
}

// TestPostWithoutCSRFIsRefused: a signed-in approver's browser posting
// without the token (what a cross-site form would send) decides nothing.
func TestPostWithoutCSRFIsRefused(t *testing.T) {
	e := devtest.Start(t)
	v := request(t, e)
	b := browser.Start(t)
	b.Navigate(e.URL + "/console")
	devSignIn(b, "alice", vsecure.RoleApprover)
	for _, fields := range []map[string]string{{"action": "approve"}, {"action": "approve", "csrf": "forged"}} {
		b.Navigate(v.ApprovalURL)
		b.WaitText("#requester", "agent-1")
		post(b, "/console/approvals/"+v.ID+"/decide", fields)
		b.WaitText("#message", "CSRF token")
	}
	got, err := e.Admin.GetApproval(t.Context(), v.ID)
	if err != nil || got.Status != vsecure.StatusPending {
		t.Fatalf("after CSRF-less posts: %+v, %v", got, err)
	}
}

// TestConsoleHeaders: every console answer carries the CSP without
// unsafe-inline, no caching and the other headers, signed in or not.
func TestConsoleHeaders(t *testing.T) {
	e := devtest.Start(t)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, path := range []string{"/console", "/console/signin", "/console/approvals/apr_x", "/console/static/console.css"} {
		resp, err := noRedirect.Get(e.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		h := resp.Header
		if h.Get("Content-Security-Policy") != console.CSP || strings.Contains(console.CSP, "unsafe-inline") ||
			h.Get("Cache-Control") != "no-store" || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("GET %s: headers %v", path, h)
		}
	}
	// The sign-in comes back to the page that sent you there.
	resp, err := noRedirect.Get(e.URL + "/console/approvals/apr_x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/console/signin?returnTo="+url.QueryEscape("/console/approvals/apr_x") {
		t.Errorf("signed-out approval page: %d to %q", resp.StatusCode, loc)
	}
}

// TestCountdownReachesExpired: the approval page counts down to the
// expiry and says so when it passes. The server's clock runs a few
// seconds short of the approval's TTL behind the browser's, so the
// countdown ends soon in real time; the page is polled, never slept on.
func TestCountdownReachesExpired(t *testing.T) {
	const lead = 10 * time.Second
	e := devtest.Start(t, devtest.WithConfig(func(c *devserver.Config) {
		c.Now = func() time.Time { return time.Now().Add(-10*time.Minute + lead) }
	}))
	v := request(t, e) // TTL 600 s
	b := browser.Start(t)
	b.Navigate(v.ApprovalURL)
	devSignIn(b, "alice", vsecure.RoleApprover)
	b.WaitText("#countdown", "left")
	b.Timeout = lead + browser.DefaultTimeout // the wait spans the lead
	b.WaitText("#countdown", "expired")
}
