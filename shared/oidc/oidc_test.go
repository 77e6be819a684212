package oidc_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/vsecure/vsecure/internal/oidctest"
	"github.com/vsecure/vsecure/shared/oidc"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// site is an application serving the sign-in endpoints over a provider
// of a real issuer, and a browser-like client (cookie jar, redirects
// followed).
type site struct {
	iss    *oidctest.Issuer
	prov   *oidc.Provider
	srv    *httptest.Server
	client *http.Client
}

type signedIn struct {
	ID       string         `json:"id"`
	Roles    []vsecure.Role `json:"roles"`
	Human    bool           `json:"human"`
	ReturnTo string         `json:"returnTo"`
	Subject  string         `json:"sub"`
	IDToken  string         `json:"idToken"`
	Expiry   time.Time      `json:"exp"`
}

func newSite(t *testing.T, tweak func(*oidc.Config)) *site {
	t.Helper()
	s := &site{iss: oidctest.Start(t, false)}
	mux := http.NewServeMux()
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	cfg := s.iss.Config(s.srv.URL + "/callback")
	if tweak != nil {
		tweak(&cfg)
	}
	var err error
	if s.prov, err = oidc.New(cfg); err != nil {
		t.Fatal(err)
	}
	mux.Handle("/start", s.prov.StartHandler())
	mux.Handle("/callback", s.prov.CallbackHandler(func(w http.ResponseWriter, r *http.Request, si oidc.SignIn) {
		p := si.Principal
		_ = json.NewEncoder(w).Encode(signedIn{ID: p.ID, Roles: p.Roles, Human: p.Human, ReturnTo: si.ReturnTo, Subject: si.Subject, IDToken: si.IDToken, Expiry: si.Expiry})
	}))
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	s.client = &http.Client{Jar: jar}
	return s
}

// get follows redirects to the end and returns status and body.
func (s *site) get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := s.client.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// toIssuer starts a sign-in and stops at the redirect to the issuer,
// returning its URL (so a test can play the attacker with it).
func (s *site) toIssuer(t *testing.T, returnTo string) *url.URL {
	t.Helper()
	c := *s.client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(s.srv.URL + "/start?returnTo=" + url.QueryEscape(returnTo))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("start answered %d, want 302", resp.StatusCode)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func withParam(u *url.URL, k, v string) string {
	q := u.Query()
	q.Set(k, v)
	c := *u
	c.RawQuery = q.Encode()
	return c.String()
}

func TestSignInCodeFlowWithPKCE(t *testing.T) {
	s := newSite(t, nil)
	s.iss.QueueUser(oidctest.User("Jane@Example.com", true, "engineering", oidctest.Approvers, oidctest.Admins))
	status, body := s.get(t, s.srv.URL+"/start?returnTo="+url.QueryEscape("/approvals/apr_1?tab=history"))
	if status != http.StatusOK {
		t.Fatalf("sign-in ended with %d: %s", status, body)
	}
	var got signedIn
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	want := signedIn{ID: "jane@example.com", Roles: []vsecure.Role{vsecure.RoleAdmin, vsecure.RoleApprover}, Human: true, ReturnTo: "/approvals/apr_1?tab=history"}
	if got.ID != want.ID || !slices.Equal(got.Roles, want.Roles) || !got.Human || got.ReturnTo != want.ReturnTo {
		t.Fatalf("signed in as %+v, want %+v", got, want)
	}
	// The sign-in hands over the verified ID token itself (a gateway's JWT
	// authorizer verifies it again) with its subject and expiry.
	if pr, err := s.prov.VerifyHuman(t.Context(), got.IDToken); err != nil || pr.ID != want.ID {
		t.Fatalf("the sign-in's ID token verifies as %+v, %v", pr, err)
	}
	var claims struct {
		Sub string `json:"sub"`
		Exp int64  `json:"exp"`
	}
	parts := strings.Split(got.IDToken, ".")
	if raw, err := base64.RawURLEncoding.DecodeString(parts[1]); err != nil || json.Unmarshal(raw, &claims) != nil {
		t.Fatalf("ID token payload: %v", err)
	}
	if got.Subject == "" || got.Subject != claims.Sub || got.Expiry.Unix() != claims.Exp || !got.Expiry.After(time.Now()) {
		t.Fatalf("subject %q, expiry %v; the token says %q, %d", got.Subject, got.Expiry, claims.Sub, claims.Exp)
	}
	auth := s.iss.Authorized()
	if len(auth) != 1 {
		t.Fatalf("%d authorization requests, want 1", len(auth))
	}
	q := auth[0]
	if q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 || q.Get("nonce") == "" || q.Get("state") == "" {
		t.Fatalf("the authorization request lacks PKCE S256, nonce or state: %v", q)
	}
	if !strings.Contains(q.Get("scope"), "openid") {
		t.Fatalf("scope %q lacks openid", q.Get("scope"))
	}
}

func TestStateCookieIsSealedAndLocked(t *testing.T) {
	s := newSite(t, nil)
	rec := httptest.NewRecorder()
	if err := s.prov.Start(rec, httptest.NewRequest("GET", s.srv.URL+"/start", nil), "/"); err != nil {
		t.Fatal(err)
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("%d cookies, want 1", len(cookies))
	}
	c := cookies[0]
	if c.Name != oidc.StateCookie || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.MaxAge <= 0 || c.MaxAge > 600 {
		t.Fatalf("state cookie %+v: want __Host-, HttpOnly, Secure, SameSite=Lax, Path=/, short-lived", c)
	}
	loc, _ := url.Parse(rec.Header().Get("Location"))
	for _, secret := range []string{loc.Query().Get("state"), loc.Query().Get("nonce")} {
		if strings.Contains(c.Value, secret) {
			t.Fatal("the cookie shows the state or nonce in the clear")
		}
	}
}

func TestSignInRefusals(t *testing.T) {
	cases := []struct {
		name   string
		user   *mockoidc.MockUser
		tweak  func(*oidc.Config)
		attack func(t *testing.T, s *site) string // the URL the browser is sent to
		want   string                             // in the refusal
	}{
		{name: "state mismatch", want: "state does not match", attack: func(t *testing.T, s *site) string {
			return withParam(s.toIssuer(t, "/"), "state", "attacker-state")
		}},
		{name: "nonce mismatch", want: "nonce", attack: func(t *testing.T, s *site) string {
			return withParam(s.toIssuer(t, "/"), "nonce", "attacker-nonce")
		}},
		{name: "PKCE challenge swapped", want: "did not accept the code", attack: func(t *testing.T, s *site) string {
			return withParam(s.toIssuer(t, "/"), "code_challenge", strings.Repeat("A", 43))
		}},
		{name: "no state cookie", want: "no sign-in is in progress", attack: func(t *testing.T, s *site) string {
			u := s.toIssuer(t, "/")
			s.client.Jar, _ = cookiejar.New(nil)
			return u.String()
		}},
		{name: "unmapped groups", want: "maps to a vsecure role", user: oidctest.User("eve@example.com", true, "engineering")},
		{name: "email unverified", want: "not verified", user: oidctest.User("mallory@example.com", false, oidctest.Approvers)},
		{name: "wrong audience", want: "audience", tweak: func(c *oidc.Config) { c.Audiences = []string{"another-client"} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSite(t, tc.tweak)
			user := tc.user
			if user == nil {
				user = oidctest.User("jane@example.com", true, oidctest.Approvers)
			}
			s.iss.QueueUser(user)
			start := s.srv.URL + "/start?returnTo=/"
			if tc.attack != nil {
				start = tc.attack(t, s)
			}
			status, body := s.get(t, start)
			if status != http.StatusUnauthorized || !strings.Contains(body, tc.want) {
				t.Fatalf("answered %d %q, want 401 saying %q", status, body, tc.want)
			}
			if strings.Contains(body, "jane@example.com\"") || strings.Contains(body, `"human"`) {
				t.Fatalf("refused sign-in reached the signed-in handler: %s", body)
			}
		})
	}
}

func TestCallbackIsUsedOnce(t *testing.T) {
	s := newSite(t, nil)
	s.iss.QueueUser(oidctest.User("jane@example.com", true, oidctest.Approvers))
	var callback string
	c := *s.client
	c.CheckRedirect = func(r *http.Request, _ []*http.Request) error {
		if r.URL.Path == "/callback" {
			callback = r.URL.String()
		}
		return nil
	}
	resp, err := c.Get(s.srv.URL + "/start")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || callback == "" {
		t.Fatalf("first sign-in answered %d", resp.StatusCode)
	}
	u, _ := url.Parse(s.srv.URL)
	if cs := s.client.Jar.Cookies(u); len(cs) != 0 {
		t.Fatalf("the state cookie outlives its sign-in: %v", cs)
	}
	if status, _ := s.get(t, callback); status != http.StatusUnauthorized {
		t.Fatalf("replayed callback answered %d, want 401", status)
	}
}

func TestOpenRedirectRefused(t *testing.T) {
	s := newSite(t, nil)
	for _, bad := range []string{"https://evil.example/", "//evil.example/x", "/\\evil.example", "evil", "javascript:alert(1)", "/ok\r\nSet-Cookie: x=1", "http:/evil"} {
		if oidc.SafeReturnTo(bad) {
			t.Errorf("SafeReturnTo(%q) = true", bad)
		}
		c := *s.client
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err := c.Get(s.srv.URL + "/start?returnTo=" + url.QueryEscape(bad))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("start with returnTo %q answered %d, want 400", bad, resp.StatusCode)
		}
	}
	for _, good := range []string{"/", "/approvals/apr_1", "/audit?actor=a%40b&limit=5"} {
		if !oidc.SafeReturnTo(good) {
			t.Errorf("SafeReturnTo(%q) = false", good)
		}
	}
}

// TestVerifyHuman covers the bearer JWT path the JSON API uses.
func TestVerifyHuman(t *testing.T) {
	iss := oidctest.Start(t, false)
	other := oidctest.Start(t, true)
	clock := time.Now()
	cfg := iss.Config("")
	cfg.Now = func() time.Time { return clock }
	p, err := oidc.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	claims := func(mod func(map[string]any)) map[string]any {
		c := map[string]any{
			"iss": iss.Issuer(), "aud": iss.ClientID, "sub": "sub-1", "email": "jane@example.com", "email_verified": true,
			"groups": []string{oidctest.Approvers}, "iat": time.Now().Unix(), "exp": time.Now().Add(10 * time.Minute).Unix(),
		}
		if mod != nil {
			mod(c)
		}
		return c
	}

	pr, err := p.VerifyHuman(ctx, iss.IDToken(t, oidctest.User("jane@example.com", true, oidctest.Approvers)))
	if err != nil {
		t.Fatalf("a token from the code flow: %v", err)
	}
	if pr.ID != "jane@example.com" || !slices.Equal(pr.Roles, []vsecure.Role{vsecure.RoleApprover}) || !pr.Human || pr.KeyID != "" {
		t.Fatalf("principal %+v", pr)
	}
	if _, err := p.VerifyHuman(ctx, iss.Sign(t, claims(func(c map[string]any) { c["aud"] = []string{"x", iss.ClientID} }))); err != nil {
		t.Fatalf("one of several audiences is ours: %v", err)
	}

	refused := map[string]string{
		"wrong audience":     iss.Sign(t, claims(func(c map[string]any) { c["aud"] = "another-client" })),
		"expired":            iss.Sign(t, claims(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() })),
		"another issuer":     other.IDToken(t, oidctest.User("jane@example.com", true, oidctest.Approvers)),
		"our iss, their key": other.Sign(t, claims(nil)),
		"email unverified":   iss.Sign(t, claims(func(c map[string]any) { c["email_verified"] = false })),
		"no email":           iss.Sign(t, claims(func(c map[string]any) { delete(c, "email") })),
		"unmapped groups":    iss.Sign(t, claims(func(c map[string]any) { c["groups"] = []string{"engineering"} })),
		"no groups":          iss.Sign(t, claims(func(c map[string]any) { delete(c, "groups") })),
		"alg none":           unsigned(claims(nil)),
	}
	for name, tok := range refused {
		if _, err := p.VerifyHuman(ctx, tok); !vsecure.IsCode(err, vsecure.EUnauthenticated) {
			t.Errorf("%s: err %v, want unauthenticated", name, err)
		}
	}

	// A token valid now is refused once the clock passes its expiry.
	tok := iss.IDToken(t, oidctest.User("jane@example.com", true, oidctest.Approvers))
	clock = clock.Add(time.Hour)
	if _, err := p.VerifyHuman(ctx, tok); !vsecure.IsCode(err, vsecure.EUnauthenticated) {
		t.Fatalf("an expired code-flow token: err %v, want unauthenticated", err)
	}
}

func TestPrincipalClaimSub(t *testing.T) {
	iss := oidctest.Start(t, false)
	cfg := iss.Config("")
	cfg.PrincipalClaim = oidc.ClaimSub
	cfg.GroupsClaim = "roles"
	p, err := oidc.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// With sub, an unverified email does not matter; the groups come from
	// the configured claim (here a single string).
	tok := iss.Sign(t, map[string]any{
		"iss": iss.Issuer(), "aud": iss.ClientID, "sub": "00u1abc", "email_verified": false,
		"roles": oidctest.Admins, "groups": []string{oidctest.Approvers}, "exp": time.Now().Add(time.Minute).Unix(),
	})
	pr, err := p.VerifyHuman(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if pr.ID != "00u1abc" || !slices.Equal(pr.Roles, []vsecure.Role{vsecure.RoleAdmin}) {
		t.Fatalf("principal %+v", pr)
	}
}

// TestCognitoAccessToken: a Cognito access token has no "aud" but names
// the client in "client_id" with "token_use": "access"; it is accepted for
// our client only, and an ID token still needs our audience.
func TestCognitoAccessToken(t *testing.T) {
	iss := oidctest.Start(t, false)
	cfg := iss.Config("")
	cfg.PrincipalClaim, cfg.GroupsClaim = oidc.ClaimSub, "cognito:groups"
	p, err := oidc.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	access := func(mod func(map[string]any)) string {
		c := map[string]any{
			"iss": iss.Issuer(), "sub": "0f1e2d3c", "client_id": iss.ClientID, "token_use": "access",
			"scope": "openid email", "cognito:groups": []string{oidctest.Approvers}, "exp": time.Now().Add(time.Minute).Unix(),
		}
		if mod != nil {
			mod(c)
		}
		return iss.Sign(t, c)
	}
	pr, err := p.VerifyHuman(context.Background(), access(nil))
	if err != nil {
		t.Fatalf("our client's access token: %v", err)
	}
	if pr.ID != "0f1e2d3c" || !slices.Equal(pr.Roles, []vsecure.Role{vsecure.RoleApprover}) || !pr.Human {
		t.Fatalf("principal %+v", pr)
	}
	for name, tok := range map[string]string{
		"another client's access token": access(func(c map[string]any) { c["client_id"] = "another-client" }),
		"no client_id":                  access(func(c map[string]any) { delete(c, "client_id") }),
		"an ID token naming our client": access(func(c map[string]any) { c["token_use"] = "id" }),
		"no token_use":                  access(func(c map[string]any) { delete(c, "token_use") }),
	} {
		if _, err := p.VerifyHuman(context.Background(), tok); !vsecure.IsCode(err, vsecure.EUnauthenticated) {
			t.Errorf("%s: err %v, want unauthenticated", name, err)
		}
	}
}

func TestUnreachableIssuerIsUnavailable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	p, err := oidc.New(oidc.Config{Issuer: srv.URL, ClientID: "c", Roles: map[string]vsecure.Role{"g": vsecure.RoleApprover}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.VerifyHuman(context.Background(), "a.b.c"); !vsecure.IsCode(err, vsecure.EUnavailable) {
		t.Fatalf("err %v, want unavailable", err)
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := map[string]string{
		oidc.EnvIssuer: "https://id.example.com", oidc.EnvClientID: "vsecure",
		oidc.EnvRoleMap: "vsecure-admins=admin, vsecure-approvers=approver", oidc.EnvPrincipalClaim: "sub",
		oidc.EnvAudiences: "vsecure,api://vsecure",
	}
	c, err := oidc.ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.Roles["vsecure-admins"] != vsecure.RoleAdmin || c.Roles["vsecure-approvers"] != vsecure.RoleApprover || c.PrincipalClaim != "sub" || len(c.Audiences) != 2 {
		t.Fatalf("config %+v", c)
	}
	if c, err := oidc.ConfigFromEnv(func(string) string { return "" }); c != nil || err != nil {
		t.Fatalf("no issuer: %v, %v; want OIDC off", c, err)
	}
	for _, bad := range []map[string]string{
		{oidc.EnvIssuer: "https://id.example.com", oidc.EnvClientID: "v", oidc.EnvRoleMap: "g=root"},
		{oidc.EnvIssuer: "https://id.example.com", oidc.EnvClientID: "v"},
		{oidc.EnvIssuer: "https://id.example.com", oidc.EnvRoleMap: "g=admin"},
		{oidc.EnvIssuer: "id.example.com", oidc.EnvClientID: "v", oidc.EnvRoleMap: "g=admin"},
		{oidc.EnvIssuer: "https://id.example.com", oidc.EnvClientID: "v", oidc.EnvRoleMap: "g=admin", oidc.EnvPrincipalClaim: "name"},
	} {
		if _, err := oidc.ConfigFromEnv(func(k string) string { return bad[k] }); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

// unsigned is a JWT with alg "none".
func unsigned(claims map[string]any) string {
	h := b64(`{"alg":"none","typ":"JWT"}`)
	c, _ := json.Marshal(claims)
	return h + "." + b64(string(c)) + "."
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// TestStateCookieKeyFromASource: with CookieKeys, the sign-in started by
// one provider completes at another built from the same source (Lambda:
// start and callback in different containers); the key is read on first
// use, and a failed read is refused as unavailable and tried again.
func TestStateCookieKeyFromASource(t *testing.T) {
	key := bytes.Repeat([]byte("c"), 32)
	var reads int
	fail := true
	src := func(context.Context) ([]byte, error) {
		reads++
		if fail {
			return nil, errors.New("secrets manager is down")
		}
		return key, nil
	}
	iss := oidctest.Start(t, false)
	cfg := iss.Config("http://127.0.0.1/callback")
	cfg.CookieKeys = src
	starter, err := oidc.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	finisher, err := oidc.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if reads != 0 {
		t.Fatalf("%d key reads at construction, want none", reads)
	}
	start := func() *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		if err := starter.Start(rec, httptest.NewRequest("GET", "/start", nil), "/console"); err != nil {
			if !vsecure.IsCode(err, vsecure.EUnavailable) {
				t.Fatalf("start without the key: %v, want unavailable", err)
			}
			return nil
		}
		return rec
	}
	if start() != nil {
		t.Fatal("a sign-in started without the cookie key")
	}
	fail = false
	rec := start()
	if rec == nil {
		t.Fatal("the sign-in did not start once the key was readable")
	}
	iss.QueueUser(oidctest.User("jane@example.com", true, oidctest.Approvers))
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(rec.Header().Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back := httptest.NewRequest("GET", resp.Header.Get("Location"), nil)
	for _, c := range rec.Result().Cookies() {
		back.AddCookie(c)
	}
	si, err := finisher.Callback(httptest.NewRecorder(), back)
	if err != nil || si.Principal.ID != "jane@example.com" || si.ReturnTo != "/console" {
		t.Fatalf("callback at another provider: %+v %v", si, err)
	}
}
