// Package oidc signs people in with OpenID Connect (authorization code +
// PKCE) against any issuer, and verifies their JWTs when they call the JSON
// API with one. It is the one package that talks to the identity provider
// (over github.com/coreos/go-oidc and golang.org/x/oauth2); it maps the
// verified claims to a vsecure.Principal with Human set, and the gate takes
// it from there (gate.HumanVerifier).
//
// Nothing is kept on the server: a sign-in in flight lives in a short-lived
// sealed cookie (signin.go), and the issuer's keys are cached in memory by
// go-oidc's remote key set (per process locally, per container on Lambda).
package oidc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// Claim names a principal can be taken from.
const (
	ClaimEmail = "email"
	ClaimSub   = "sub"
)

// DefaultGroupsClaim is the claim the roles are read from.
const DefaultGroupsClaim = "groups"

// Config configures one issuer.
type Config struct {
	// Issuer is the issuer URL; discovery is read from
	// <Issuer>/.well-known/openid-configuration on first use.
	Issuer string
	// ClientID is the client registered at the issuer. ClientSecret is
	// optional: a public client signs in with PKCE alone.
	ClientID     string
	ClientSecret string
	// RedirectURL is the callback registered at the issuer; only sign-in
	// needs it (JWT verification does not).
	RedirectURL string
	// Scopes are requested besides "openid" (default: email, profile).
	Scopes []string
	// PrincipalClaim is "email" (default; the email must be verified) or
	// "sub".
	PrincipalClaim string
	// GroupsClaim (default "groups") holds the groups that Roles maps.
	GroupsClaim string
	// Roles maps a group to a role; a person none of whose groups maps is
	// refused.
	Roles map[string]vsecure.Role
	// Audiences are the accepted "aud" values (default: ClientID). A token
	// is accepted if any of its audiences is one of them.
	Audiences []string
	// CookieKey (≥ 32 bytes) seals the sign-in cookie. Every process that
	// may receive a callback must share it; nil draws one per process.
	// CookieKeys supplies it on first use instead (a Lambda reads it from
	// Secrets Manager then, not at init); it wins over CookieKey.
	CookieKey  []byte
	CookieKeys func(context.Context) ([]byte, error)
	// HTTPClient talks to the issuer (nil: a client with a 10 s timeout).
	HTTPClient *http.Client
	// Now is the clock for token expiry (nil: time.Now).
	Now func() time.Time
	Log *slog.Logger
}

// Validate checks the configuration without calling the issuer.
func (c Config) Validate() error {
	u, err := url.Parse(c.Issuer)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("oidc: the issuer must be an http(s) URL, not %q", c.Issuer)
	}
	if c.ClientID == "" {
		return errors.New("oidc: a client id is required")
	}
	switch c.PrincipalClaim {
	case "", ClaimEmail, ClaimSub:
	default:
		return fmt.Errorf("oidc: the principal claim is %q or %q, not %q", ClaimEmail, ClaimSub, c.PrincipalClaim)
	}
	if len(c.Roles) == 0 {
		return errors.New("oidc: map at least one group to a role, or nobody can sign in")
	}
	if c.CookieKey != nil && len(c.CookieKey) < 32 {
		return errors.New("oidc: the cookie key must be at least 32 bytes")
	}
	return nil
}

// Provider is one configured issuer. It is safe for concurrent use.
type Provider struct {
	cfg Config

	mu     sync.Mutex
	disc   *discovered
	cookie *cookieSealer
}

// discovered is what the issuer's discovery document yields.
type discovered struct {
	verifier *gooidc.IDTokenVerifier
	oauth    oauth2.Config
}

// New validates cfg and returns its provider. It makes no network call:
// discovery happens on first use, so a cold Lambda container that serves
// no JWT never waits for the issuer.
func New(cfg Config) (*Provider, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.PrincipalClaim == "" {
		cfg.PrincipalClaim = ClaimEmail
	}
	if cfg.GroupsClaim == "" {
		cfg.GroupsClaim = DefaultGroupsClaim
	}
	if len(cfg.Audiences) == 0 {
		cfg.Audiences = []string{cfg.ClientID}
	}
	if cfg.Scopes == nil {
		cfg.Scopes = []string{"email", "profile"}
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	p := &Provider{cfg: cfg}
	if cfg.CookieKeys == nil {
		cs, err := newCookieSealer(cfg.CookieKey)
		if err != nil {
			return nil, err
		}
		p.cookie = &cs
	}
	return p, nil
}

// cookieSealer returns the state cookie's sealer, built from CookieKeys on
// first use; a failed read is not kept, so the next sign-in tries again.
func (p *Provider) cookieSealer(ctx context.Context) (cookieSealer, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cookie != nil {
		return *p.cookie, nil
	}
	key, err := p.cfg.CookieKeys(ctx)
	if err == nil && len(key) < 32 {
		err = errors.New("oidc: the cookie key must be at least 32 bytes")
	}
	if err != nil {
		return cookieSealer{}, vsecure.Wrap(vsecure.EUnavailable, err, "the sign-in cookie key is unavailable; try again")
	}
	cs, err := newCookieSealer(key)
	if err != nil {
		return cookieSealer{}, err
	}
	p.cookie = &cs
	return cs, nil
}

// discover reads the discovery document once; a failure is not kept, so
// the next call tries again.
func (p *Provider) discover(ctx context.Context) (*discovered, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.disc != nil {
		return p.disc, nil
	}
	// The key set keeps this context for its background fetches: it must
	// carry the client and outlive the request.
	ctx = gooidc.ClientContext(context.WithoutCancel(ctx), p.cfg.HTTPClient)
	prov, err := gooidc.NewProvider(ctx, p.cfg.Issuer)
	if err != nil {
		return nil, vsecure.Wrap(vsecure.EUnavailable, err, "the identity provider could not be reached; try again")
	}
	scopes := append([]string{gooidc.ScopeOpenID}, slices.DeleteFunc(slices.Clone(p.cfg.Scopes), func(s string) bool { return s == gooidc.ScopeOpenID })...)
	p.disc = &discovered{
		// The audience is checked against the configured list (audience).
		verifier: prov.Verifier(&gooidc.Config{SkipClientIDCheck: true, Now: p.cfg.Now}),
		oauth: oauth2.Config{
			ClientID: p.cfg.ClientID, ClientSecret: p.cfg.ClientSecret, RedirectURL: p.cfg.RedirectURL,
			Endpoint: prov.Endpoint(), Scopes: scopes,
		},
	}
	return p.disc, nil
}

// VerifyHuman implements gate.HumanVerifier: raw must be a JWT signed by
// the issuer's keys, for one of the accepted audiences, unexpired, and its
// claims must map to a principal with a role.
func (p *Provider) VerifyHuman(ctx context.Context, raw string) (vsecure.Principal, error) {
	_, pr, err := p.verify(ctx, raw)
	return pr, err
}

func (p *Provider) verify(ctx context.Context, raw string) (*gooidc.IDToken, vsecure.Principal, error) {
	d, err := p.discover(ctx)
	if err != nil {
		return nil, vsecure.Principal{}, err
	}
	tok, err := d.verifier.Verify(ctx, raw)
	if err != nil {
		// The reason (issuer, signature, expiry) goes to the log; the
		// caller learns only that the token is not accepted.
		p.cfg.Log.InfoContext(ctx, "oidc token refused", "err", err)
		return nil, vsecure.Principal{}, vsecure.Errorf(vsecure.EUnauthenticated, "the identity-provider token is not valid (issuer, signature or expiry)")
	}
	if !slices.ContainsFunc(tok.Audience, func(a string) bool { return slices.Contains(p.cfg.Audiences, a) }) && !p.accessToken(tok) {
		return nil, vsecure.Principal{}, vsecure.Errorf(vsecure.EUnauthenticated, "the identity-provider token is not meant for this server (audience)")
	}
	pr, err := p.principal(tok)
	if err != nil {
		return nil, vsecure.Principal{}, err
	}
	return tok, pr, nil
}

// accessToken reports whether tok is a Cognito access token issued to our
// client: Cognito puts no "aud" in access tokens but names the client in
// "client_id" and says "token_use": "access". A token for another client,
// or an ID token without our audience, is not one.
func (p *Provider) accessToken(tok *gooidc.IDToken) bool {
	var c struct {
		TokenUse string `json:"token_use"`
		ClientID string `json:"client_id"`
	}
	if err := tok.Claims(&c); err != nil {
		return false
	}
	return c.TokenUse == "access" && c.ClientID != "" && c.ClientID == p.cfg.ClientID
}

// principal maps verified claims to a principal.
func (p *Provider) principal(tok *gooidc.IDToken) (vsecure.Principal, error) {
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return vsecure.Principal{}, vsecure.Errorf(vsecure.EUnauthenticated, "the identity-provider token's claims are malformed")
	}
	var id string
	switch p.cfg.PrincipalClaim {
	case ClaimSub:
		id = tok.Subject
	default:
		email, _ := claims[ClaimEmail].(string)
		if email == "" {
			return vsecure.Principal{}, vsecure.Errorf(vsecure.EUnauthenticated, "the identity-provider token carries no email (request the email scope)")
		}
		if !truthy(claims["email_verified"]) {
			return vsecure.Principal{}, vsecure.Errorf(vsecure.EUnauthenticated, "the email %s is not verified at the identity provider", email)
		}
		// Mail hosts treat addresses case-insensitively; so does the
		// principal, so that one person is one principal.
		id = strings.ToLower(email)
	}
	if id == "" {
		return vsecure.Principal{}, vsecure.Errorf(vsecure.EUnauthenticated, "the identity-provider token names nobody")
	}
	var roles []vsecure.Role
	for _, g := range groups(claims[p.cfg.GroupsClaim]) {
		if r, ok := p.cfg.Roles[g]; ok && !slices.Contains(roles, r) {
			roles = append(roles, r)
		}
	}
	if len(roles) == 0 {
		return vsecure.Principal{}, vsecure.Errorf(vsecure.EUnauthenticated, "%s is signed in, but none of their groups (claim %q) maps to a vsecure role", id, p.cfg.GroupsClaim)
	}
	slices.Sort(roles)
	return vsecure.Principal{ID: id, Roles: roles, Human: true}, nil
}

// groups reads a groups claim: a list of strings, or one string (some
// issuers send a single group that way).
func groups(v any) []string {
	switch g := v.(type) {
	case string:
		return []string{g}
	case []any:
		out := make([]string, 0, len(g))
		for _, e := range g {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// truthy reads a boolean claim; some issuers (Cognito) send "true".
func truthy(v any) bool {
	switch b := v.(type) {
	case bool:
		return b
	case string:
		return b == "true"
	}
	return false
}

// LogValue keeps the client secret and the cookie key out of logs.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("issuer", c.Issuer), slog.String("clientId", c.ClientID),
		slog.Bool("clientSecret", c.ClientSecret != ""), slog.String("principalClaim", c.PrincipalClaim),
		slog.String("groupsClaim", c.GroupsClaim), slog.Int("roleMappings", len(c.Roles)),
	)
}
