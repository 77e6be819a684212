// Package oidctest starts a real OpenID provider for tests
// (github.com/oauth2-proxy/mockoidc: discovery, JWKS, the authorization
// code flow with PKCE) and obtains ID tokens from it the way a client does.
package oidctest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/vsecure/vsecure/shared/oidc"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// Group names the tests map to roles.
const (
	Approvers = "vsecure-approvers"
	Admins    = "vsecure-admins"
)

// Issuer is a running provider.
type Issuer struct {
	*mockoidc.MockOIDC

	mu sync.Mutex
	// Authorized records the query of every authorization request.
	authorized []url.Values
}

// Start runs a provider until the test ends. ownKey signs with a fresh RSA
// key rather than mockoidc's built-in one (which every instance shares),
// so that tokens of two issuers differ in key as well as in name.
func Start(t testing.TB, ownKey bool) *Issuer {
	t.Helper()
	var key *rsa.PrivateKey
	if ownKey {
		var err error
		if key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			t.Fatal(err)
		}
	}
	m, err := mockoidc.NewServer(key)
	if err != nil {
		t.Fatal(err)
	}
	iss := &Issuer{MockOIDC: m}
	if err := m.AddMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == mockoidc.AuthorizationEndpoint {
				iss.mu.Lock()
				iss.authorized = append(iss.authorized, r.URL.Query())
				iss.mu.Unlock()
			}
			next.ServeHTTP(w, r)
		})
	}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return iss
}

// Authorized returns the queries of the authorization requests so far.
func (i *Issuer) Authorized() []url.Values {
	i.mu.Lock()
	defer i.mu.Unlock()
	return append([]url.Values(nil), i.authorized...)
}

// Config is an oidc.Config for this issuer mapping Approvers and Admins.
func (i *Issuer) Config(redirectURL string) oidc.Config {
	return oidc.Config{
		Issuer: i.Issuer(), ClientID: i.ClientID, ClientSecret: i.ClientSecret, RedirectURL: redirectURL,
		Scopes: []string{"email", "groups"},
		Roles:  map[string]vsecure.Role{Approvers: vsecure.RoleApprover, Admins: vsecure.RoleAdmin},
	}
}

// User is a person at the issuer.
func User(email string, verified bool, groups ...string) *mockoidc.MockUser {
	return &mockoidc.MockUser{Subject: "sub-" + email, Email: email, EmailVerified: verified, Groups: groups}
}

// IDToken signs user in at the issuer as a client would (authorize, then
// exchange the code) and returns the ID token.
func (i *Issuer) IDToken(t testing.TB, user mockoidc.User) string {
	t.Helper()
	i.QueueUser(user)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	q := url.Values{
		"scope": {"openid email groups"}, "state": {"s"}, "client_id": {i.ClientID},
		"response_type": {"code"}, "redirect_uri": {"http://127.0.0.1/cb"}, "nonce": {"n"},
	}
	resp, err := noFollow.Get(i.AuthorizationEndpoint() + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("authorize answered %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	form := url.Values{
		"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"client_id": {i.ClientID}, "client_secret": {i.ClientSecret}, "redirect_uri": {"http://127.0.0.1/cb"},
	}
	resp, err = http.Post(i.TokenEndpoint(), "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		IDToken string `json:"id_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.IDToken == "" {
		t.Fatalf("token endpoint answered %d (%v)", resp.StatusCode, err)
	}
	return tok.IDToken
}

// Sign signs claims with the issuer's key (its JWKS serves the public
// half), for tokens a flow would not issue: another audience, an old
// expiry.
func (i *Issuer) Sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	tok, err := i.Keypair.SignJWT(jwt.MapClaims(claims))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
