package oidc

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// StateCookie carries a sign-in in flight. The __Host- prefix pins it to
// this origin (Secure, Path=/, no Domain); SameSite=Lax lets the issuer's
// top-level redirect back bring it along.
const StateCookie = "__Host-vsecure-oidc"

// signInTTL bounds a sign-in in flight: time enough to type a password and
// pass the issuer's MFA.
const signInTTL = 10 * time.Minute

// flight is the sealed content of StateCookie.
type flight struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	ReturnTo string `json:"r"`
	Expires  int64  `json:"e"`
}

// Start begins a sign-in: it redirects to the issuer with a fresh state,
// nonce and PKCE S256 challenge, and keeps them with returnTo in the
// sealed state cookie. returnTo must be a relative path on this origin.
func (p *Provider) Start(w http.ResponseWriter, r *http.Request, returnTo string) error {
	if returnTo == "" {
		returnTo = "/"
	}
	if !SafeReturnTo(returnTo) {
		return vsecure.Errorf(vsecure.EInvalid, "returnTo must be a path on this site (starting with a single /)")
	}
	if p.cfg.RedirectURL == "" {
		return vsecure.Errorf(vsecure.EInternal, "oidc: no redirect URL is configured, so sign-in is off")
	}
	d, err := p.discover(r.Context())
	if err != nil {
		return err
	}
	f := flight{
		State: random(), Nonce: random(), Verifier: oauth2.GenerateVerifier(), ReturnTo: returnTo,
		Expires: p.cfg.Now().Add(signInTTL).Unix(),
	}
	cs, err := p.cookieSealer(r.Context())
	if err != nil {
		return err
	}
	sealed, err := cs.seal(f)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: StateCookie, Value: sealed, Path: "/", MaxAge: int(signInTTL / time.Second),
		HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode,
	})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, d.oauth.AuthCodeURL(f.State, gooidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier)), http.StatusFound)
	return nil
}

// Callback completes a sign-in at the redirect URL: the state must match
// the cookie's, the code is exchanged with the PKCE verifier, and the ID
// token must verify (issuer, audience, expiry) and carry the cookie's
// nonce. It returns who signed in and where to send them. The state
// cookie is cleared whatever the outcome: a sign-in is used once.
func (p *Provider) Callback(w http.ResponseWriter, r *http.Request) (SignIn, error) {
	refused := func(msg string) (SignIn, error) {
		return SignIn{}, vsecure.Errorf(vsecure.EUnauthenticated, "sign-in refused: %s", msg)
	}
	c, err := r.Cookie(StateCookie)
	http.SetCookie(w, &http.Cookie{Name: StateCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
	w.Header().Set("Cache-Control", "no-store")
	if err != nil {
		return refused("no sign-in is in progress in this browser (start again)")
	}
	cs, err := p.cookieSealer(r.Context())
	if err != nil {
		return SignIn{}, err
	}
	var f flight
	if err := cs.open(c.Value, &f); err != nil {
		return refused("the sign-in cookie is not valid (start again)")
	}
	if p.cfg.Now().Unix() > f.Expires {
		return refused("the sign-in took too long (start again)")
	}
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		return refused("the identity provider answered " + printable(e))
	}
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(f.State)) != 1 {
		return refused("the state does not match this browser's sign-in")
	}
	code := q.Get("code")
	if code == "" {
		return refused("the identity provider sent no code")
	}
	d, err := p.discover(r.Context())
	if err != nil {
		return SignIn{}, err
	}
	ctx := context.WithValue(r.Context(), oauth2.HTTPClient, p.cfg.HTTPClient)
	tok, err := d.oauth.Exchange(ctx, code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		p.cfg.Log.InfoContext(r.Context(), "oidc code exchange failed", "err", err)
		return refused("the identity provider did not accept the code")
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return refused("the identity provider sent no ID token")
	}
	idt, pr, err := p.verify(r.Context(), raw)
	if err != nil {
		return SignIn{}, err
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(f.Nonce)) != 1 {
		return refused("the ID token was not issued for this sign-in (nonce)")
	}
	return SignIn{Principal: pr, ReturnTo: f.ReturnTo, Subject: idt.Subject, IDToken: raw, Expiry: idt.Expiry}, nil
}

// SignIn is a completed sign-in.
type SignIn struct {
	Principal vsecure.Principal
	// ReturnTo is where the person was going (a path on this site).
	ReturnTo string
	// Subject is the ID token's "sub": what a gateway that verified the
	// same token knows the person as.
	Subject string
	// IDToken is the verified ID token as the issuer sent it, and Expiry
	// its "exp" (a gateway's JWT authorizer can carry it; the console
	// lifts it into a cookie for that, never into a page).
	IDToken string
	Expiry  time.Time
}

// SafeReturnTo reports whether s is a path on this origin: it starts with
// one "/" (not "//" or "/\", which browsers read as another host), and
// carries no scheme, host or control character.
func SafeReturnTo(s string) bool {
	if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || strings.ContainsRune(s, '\\') {
		return false
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "" && u.Host == "" && u.User == nil
}

// SignedIn receives a completed sign-in (the console sets its session and
// redirects to its ReturnTo).
type SignedIn func(w http.ResponseWriter, r *http.Request, s SignIn)

// StartHandler serves the sign-in start: GET ?returnTo=/path.
func (p *Provider) StartHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := p.Start(w, r, r.URL.Query().Get("returnTo")); err != nil {
			writeError(w, err)
		}
	})
}

// CallbackHandler serves the redirect URL and hands a signed-in principal
// to done.
func (p *Provider) CallbackHandler(done SignedIn) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := p.Callback(w, r)
		if err != nil {
			p.cfg.Log.InfoContext(r.Context(), "oidc sign-in refused", "code", string(vsecure.ErrorCode(err)))
			writeError(w, err)
			return
		}
		p.cfg.Log.InfoContext(r.Context(), "oidc sign-in", "principal", s.Principal.ID)
		done(w, r, s)
	})
}

// writeError answers a browser in plain text; the console renders its
// own pages around these next.
func writeError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	msg := "sign-in failed"
	switch vsecure.ErrorCode(err) {
	case vsecure.EUnauthenticated:
		status = http.StatusUnauthorized
	case vsecure.EInvalid:
		status = http.StatusBadRequest
	case vsecure.EUnavailable:
		status = http.StatusServiceUnavailable
	}
	var ve *vsecure.Error
	if errors.As(err, &ve) && status != http.StatusInternalServerError {
		msg = ve.Message
	}
	http.Error(w, msg, status)
}

func random() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// printable keeps an issuer's error code short and free of markup.
func printable(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '<' || r == '>' {
			return -1
		}
		return r
	}, s)
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}

// cookieSealer encrypts and authenticates the state cookie (AES-256-GCM):
// the browser can neither read the verifier nor forge a flight.
type cookieSealer struct{ aead cipher.AEAD }

func newCookieSealer(key []byte) (cookieSealer, error) {
	if key == nil {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return cookieSealer{}, err
		}
	}
	// A key of its own, so that a key shared with other uses never seals
	// two kinds of thing.
	k := sha256.Sum256(append([]byte("vsecure oidc state cookie\x00"), key...))
	block, err := aes.NewCipher(k[:])
	if err != nil {
		return cookieSealer{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return cookieSealer{}, err
	}
	return cookieSealer{aead: aead}, nil
}

func (c cookieSealer) seal(v any) (string, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, c.aead.NonceSize(), c.aead.NonceSize()+len(plain)+c.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(c.aead.Seal(nonce, nonce, plain, []byte(StateCookie))), nil
}

func (c cookieSealer) open(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < c.aead.NonceSize() {
		return errors.New("malformed")
	}
	plain, err := c.aead.Open(nil, b[:c.aead.NonceSize()], b[c.aead.NonceSize():], []byte(StateCookie))
	if err != nil {
		return err
	}
	return json.Unmarshal(plain, v)
}
