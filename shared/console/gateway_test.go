package console_test

import (
	"bytes"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vsecure/vsecure/internal/oidctest"
	"github.com/vsecure/vsecure/shared/console"
	"github.com/vsecure/vsecure/shared/oidc"
)

// gatewaySub stands in for the gateway's JWT authorizer in front of the
// console (one layer's fake; infra tests the stack's real authorizer and
// edge): the subject it verified rides in this header.
const gatewaySub = "X-Test-Gateway-Sub"

type gatewaySite struct {
	t      *testing.T
	srv    *httptest.Server
	iss    *oidctest.Issuer
	humans *oidc.Provider
	client *http.Client
}

func newGatewaySite(t *testing.T) *gatewaySite {
	t.Helper()
	iss := oidctest.Start(t, false)
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	ocfg := iss.Config(srv.URL + "/console/oidc/callback")
	ocfg.CookieKey = bytes.Repeat([]byte("o"), 32)
	humans, err := oidc.New(ocfg)
	if err != nil {
		t.Fatal(err)
	}
	g := embeddedGate(t, humans)
	c, err := console.New(console.Config{Gate: g, SessionKey: bytes.Repeat([]byte("s"), 32), OIDC: humans,
		GatewaySubject: func(r *http.Request) (string, bool) {
			sub := r.Header.Get(gatewaySub)
			return sub, sub != ""
		}})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/", c)
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &gatewaySite{t: t, srv: srv, iss: iss, humans: humans, client: &http.Client{Jar: jar}}
}

// signIn runs the code flow at the issuer and returns the final answer
// and the cookies the console set on the callback.
func (s *gatewaySite) signIn(groups ...string) (*http.Response, map[string]*http.Cookie) {
	s.t.Helper()
	s.iss.QueueUser(oidctest.User("jane@example.com", true, groups...))
	set := map[string]*http.Cookie{}
	cl := *s.client
	cl.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		for _, c := range req.Response.Cookies() {
			set[c.Name] = c
		}
		// Stop at the console's own redirect after the callback: the
		// pages behind it need the gateway's subject.
		if via[len(via)-1].URL.Path == "/console/oidc/callback" {
			return http.ErrUseLastResponse
		}
		return nil
	}
	resp, err := cl.Get(s.srv.URL + "/console/oidc/start?returnTo=" + url.QueryEscape("/console/policies?x=1"))
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		set[c.Name] = c
	}
	return resp, set
}

func (s *gatewaySite) get(path, sub string) *http.Response {
	s.t.Helper()
	req, err := http.NewRequest("GET", s.srv.URL+path, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	if sub != "" {
		req.Header.Set(gatewaySub, sub)
	}
	cl := *s.client
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := cl.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestGatewayIDTokenCookie: behind the gateway's JWT authorizer, an OIDC
// sign-in keeps the verified ID token in a locked cookie that expires
// with it, for the edge to present; a page opens only for the subject the
// gateway verified, and sign-out clears the token.
func TestGatewayIDTokenCookie(t *testing.T) {
	s := newGatewaySite(t)
	resp, set := s.signIn(oidctest.Approvers)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/policies?x=1" {
		t.Fatalf("callback answered %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	idt := set[console.IDTokenCookie]
	if idt == nil || set[console.SessionCookie] == nil {
		t.Fatalf("the sign-in set cookies %v; want the session and the ID token", set)
	}
	if !idt.HttpOnly || !idt.Secure || idt.SameSite != http.SameSiteLaxMode || idt.Path != "/" || idt.Domain != "" {
		t.Fatalf("ID token cookie %+v: want HttpOnly, Secure, SameSite=Lax, Path=/, no Domain", idt)
	}
	pr, err := s.humans.VerifyHuman(t.Context(), idt.Value)
	if err != nil || pr.ID != "jane@example.com" {
		t.Fatalf("the cookie's ID token verifies as %+v, %v", pr, err)
	}
	if left := time.Until(idt.Expires); left <= 0 || left > 2*time.Hour {
		t.Fatalf("the ID token cookie expires in %v; want with the token", left)
	}
	sub := oidctest.User("jane@example.com", true).Subject

	if r := s.get("/console", sub); r.StatusCode != http.StatusOK {
		t.Fatalf("the page for the gateway's own subject answered %d", r.StatusCode)
	}
	for name, other := range map[string]string{"no gateway identity": "", "another subject": "sub-mallory@example.com"} {
		r := s.get("/console", other)
		if r.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: the page answered %d, want 401", name, r.StatusCode)
		}
		cleared := map[string]bool{}
		for _, c := range r.Cookies() {
			cleared[c.Name] = c.MaxAge < 0
		}
		if !cleared[console.SessionCookie] || !cleared[console.IDTokenCookie] {
			t.Errorf("%s: the refusal left the cookies (%v)", name, cleared)
		}
		// The refusal signed the browser out: sign in again.
		s.signIn(oidctest.Approvers)
	}

	if r := s.get("/console", sub); r.StatusCode != http.StatusOK {
		t.Fatalf("after signing in again the page answered %d", r.StatusCode)
	}
	// Signing out of a session that has ended (here: dropped from the
	// browser) still drops the ID token, which would outlive it.
	u, _ := url.Parse(s.srv.URL)
	s.client.Jar.SetCookies(u, []*http.Cookie{{Name: console.SessionCookie, Value: "", MaxAge: -1}})
	out, err := s.client.PostForm(s.srv.URL+"/console/signout", url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	out.Body.Close()
	for _, c := range s.client.Jar.Cookies(u) {
		if c.Name == console.IDTokenCookie {
			t.Fatal("sign-out left the ID token cookie")
		}
	}
}

// TestGatewayRefusesAnIDTokenTooLargeForACookie: a browser drops a cookie
// over 4 KB without a word, which would send the person round the sign-in
// for ever; the sign-in says why instead, and starts no session.
func TestGatewayRefusesAnIDTokenTooLargeForACookie(t *testing.T) {
	s := newGatewaySite(t)
	groups := []string{oidctest.Approvers}
	for i := range 120 {
		groups = append(groups, "engineering-team-with-a-long-name-"+strings.Repeat("x", i%7))
	}
	resp, set := s.signIn(groups...)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a sign-in with a huge ID token answered %d, want 400", resp.StatusCode)
	}
	if set[console.SessionCookie] != nil || set[console.IDTokenCookie] != nil {
		t.Fatalf("the refused sign-in set cookies %v", set)
	}
}

// TestEdgeReadsTheConsoleCookies: the stack's edge function (another
// module, in JavaScript) names the cookies the console sets.
func TestEdgeReadsTheConsoleCookies(t *testing.T) {
	src, err := os.ReadFile("../../infra/edge/console-request.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{console.IDTokenCookie, console.SessionCookie} {
		if !strings.Contains(string(src), "'"+c+"'") {
			t.Errorf("infra/edge/console-request.js does not read cookie %s", c)
		}
	}
}
