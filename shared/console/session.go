package console

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/vsecure/vsecure/shared/oidc"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// SessionCookie holds a person's console session, sealed. The __Host-
// prefix pins it to this origin (Secure, Path=/, no Domain).
const SessionCookie = "__Host-vsecure-session"

// Session lifetimes: a session left alone ends after IdleTimeout, and any
// session ends AbsoluteTimeout after sign-in however busy it is.
const (
	IdleTimeout     = 15 * time.Minute
	AbsoluteTimeout = 8 * time.Hour
)

// Session is the sealed content of SessionCookie. Everything the console
// knows about the person comes from here, never from a form.
type Session struct {
	Principal string         `json:"p"`
	Roles     []vsecure.Role `json:"r,omitempty"`
	Human     bool           `json:"h,omitempty"`
	// Dev marks a session from the DEV sign-in (no identity provider).
	Dev bool `json:"d,omitempty"`
	// Sub is the ID token's subject of an OIDC sign-in: what the
	// gateway's JWT authorizer knows the person as (Config.GatewaySubject).
	Sub      string    `json:"u,omitempty"`
	IssuedAt time.Time `json:"i"`
	LastSeen time.Time `json:"l"`
	// CSRF is the token every POST form carries back.
	CSRF string `json:"c"`
	// StepUp is the last passkey assertion; the gate judges its freshness.
	StepUp *vsecure.StepUp `json:"s,omitempty"`
}

// principal is who the session signs in as.
func (s Session) principal() vsecure.Principal {
	return vsecure.Principal{ID: s.Principal, Roles: s.Roles, Human: s.Human}
}

// sealer seals sessions with AES-256-GCM; the cookie name is the
// additional data, so a value sealed for another cookie does not open.
type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) (sealer, error) {
	if len(key) != 32 {
		return sealer{}, errors.New("console: the session key must be 32 bytes")
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return sealer{}, err
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		return sealer{}, err
	}
	return sealer{g}, nil
}

// lazySealer builds the sealer from the first key it gets; a failed read
// is not kept, so the next request tries again.
type lazySealer struct {
	keys func(context.Context) ([]byte, error)

	mu sync.Mutex
	s  *sealer
}

func (l *lazySealer) get(ctx context.Context) (sealer, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.s != nil {
		return *l.s, nil
	}
	key, err := l.keys(ctx)
	if err != nil {
		return sealer{}, vsecure.Wrap(vsecure.EUnavailable, err, "the console's session key is unavailable; try again")
	}
	s, err := newSealer(key)
	if err != nil {
		return sealer{}, err
	}
	l.s = &s
	return s, nil
}

// SealSession seals s as the value of SessionCookie under key: what the
// console sets after a sign-in. Tests and operators use it to hand a
// session to a console they do not sign in to.
func SealSession(key []byte, s Session) (string, error) {
	sl, err := newSealer(key)
	if err != nil {
		return "", err
	}
	return sl.seal(s)
}

func (s sealer) seal(v Session) (string, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, []byte(SessionCookie))), nil
}

func (s sealer) open(v string) (Session, error) {
	var out Session
	raw, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil || len(raw) < s.aead.NonceSize() {
		return out, errors.New("malformed session")
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], []byte(SessionCookie))
	if err != nil {
		return out, errors.New("session does not open")
	}
	err = json.Unmarshal(plain, &out)
	return out, err
}

// session returns the request's live session, or false: no cookie, one
// that does not open, or one past its idle or absolute timeout.
func (c *Console) session(r *http.Request) (Session, bool) {
	k, err := r.Cookie(SessionCookie)
	if err != nil {
		return Session{}, false
	}
	sl, err := c.sealer.get(r.Context())
	if err != nil {
		// Fails closed: without the key no session is live.
		c.cfg.Log.ErrorContext(r.Context(), "console session key unavailable", "err", err)
		return Session{}, false
	}
	s, err := sl.open(k.Value)
	if err != nil || s.Principal == "" || s.CSRF == "" {
		return Session{}, false
	}
	now := c.now()
	if now.Sub(s.LastSeen) > IdleTimeout || now.Sub(s.IssuedAt) > AbsoluteTimeout || s.LastSeen.After(now.Add(time.Minute)) {
		return Session{}, false
	}
	return s, true
}

// setSession writes s back with LastSeen now: every request a person makes
// keeps their session alive up to AbsoluteTimeout.
func (c *Console) setSession(ctx context.Context, w http.ResponseWriter, s Session) error {
	s.LastSeen = c.now()
	sl, err := c.sealer.get(ctx)
	if err != nil {
		return err
	}
	v, err := sl.seal(s)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: v, Path: "/", HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode,
	})
	return nil
}

func clearSession(w http.ResponseWriter) {
	for _, name := range []string{SessionCookie, IDTokenCookie} {
		http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
	}
}

// IDTokenCookie holds the ID token of an OIDC sign-in where the console
// sits behind a gateway's JWT authorizer (Config.GatewaySubject): the edge
// in front of the gateway presents it as the Authorization header, since
// a browser sends no header of its own on a click. HttpOnly, so no script
// reads it; it expires with the token.
const IDTokenCookie = "__Host-vsecure-idt"

// maxIDToken is the longest ID token IDTokenCookie holds: browsers keep
// cookies up to 4096 bytes, name and attributes included, and drop larger
// ones silently (which would send the person round the sign-in forever).
const maxIDToken = 3800

// setIDToken keeps si's ID token for the edge, or says why it cannot.
func setIDToken(w http.ResponseWriter, si oidc.SignIn) error {
	if len(si.IDToken) > maxIDToken {
		return vsecure.Errorf(vsecure.EInvalid, "the identity provider's ID token is %d bytes, more than a browser keeps in a cookie (%d): have it send fewer claims (groups) in the ID token", len(si.IDToken), maxIDToken)
	}
	http.SetCookie(w, &http.Cookie{
		Name: IDTokenCookie, Value: si.IDToken, Path: "/", Expires: si.Expiry, HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode,
	})
	return nil
}

// newSession starts a session for p now, with a fresh CSRF token.
func (c *Console) newSession(p vsecure.Principal) Session {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	now := c.now()
	return Session{Principal: p.ID, Roles: p.Roles, Human: p.Human, IssuedAt: now, LastSeen: now, CSRF: base64.RawURLEncoding.EncodeToString(b)}
}
