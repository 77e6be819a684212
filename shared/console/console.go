// Package console is the people's web console: server-rendered pages
// where approvers sign in as themselves and decide approvals through the
// same gate.Decide and gate.Revoke as the API and Slack. Identity comes
// from the sealed session cookie only; every POST carries the session's
// CSRF token. Scripts are progressive enhancement (the countdown): every
// page and form works without them.
package console

import (
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/oidc"
	"github.com/vsecure/vsecure/shared/passkey/ceremony"
	"github.com/vsecure/vsecure/shared/vsecure"
)

//go:embed web
var web embed.FS

// CSP allows this origin's stylesheet and script and nothing inline;
// connect-src lets the script run the passkey ceremonies' fetches.
const CSP = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Config builds a Console.
type Config struct {
	Gate *gate.Gate
	// SessionKey seals session cookies (32 bytes). SessionKeys supplies
	// it on first use instead (a Lambda reads it from Secrets Manager
	// then, not at init); until it is had, no session opens.
	SessionKey  []byte
	SessionKeys func(context.Context) ([]byte, error)
	// OIDC, if set, is the sign-in; its redirect URL must be
	// <public>/console/oidc/callback.
	OIDC *oidc.Provider
	// DevSignIn offers the no-IdP sign-in; it is refused on any request
	// that did not arrive on a loopback address whatever this says.
	DevSignIn bool
	// Passkeys, if set, runs passkey registration and step-up.
	Passkeys Passkeys
	// GatewaySubject, if set, says the signed-in pages sit behind a
	// gateway's JWT authorizer that an edge feeds from IDTokenCookie (the
	// stack's console edge, infra/edge.go): it returns the subject the
	// gateway verified for r, false if none. An OIDC sign-in then keeps
	// its ID token in IDTokenCookie, sign-out clears it, and a signed-in
	// page whose gateway subject is not the session's is refused.
	GatewaySubject func(r *http.Request) (string, bool)
	Now            func() time.Time
	Log            *slog.Logger
}

// Passkeys runs the WebAuthn ceremonies (*passkey.Service). An interface,
// so that only the binaries that run ceremonies link the WebAuthn library.
type Passkeys interface {
	BeginRegistration(ctx context.Context, c vsecure.Call) (ceremony.Begun, error)
	FinishRegistration(ctx context.Context, c vsecure.Call, ceremonyID, name string, body []byte) (vsecure.Passkey, error)
	BeginAssertion(ctx context.Context, c vsecure.Call) (ceremony.Begun, error)
	FinishAssertion(ctx context.Context, c vsecure.Call, ceremonyID string, body []byte) (vsecure.StepUp, error)
}

// Console serves /console and below.
type Console struct {
	cfg    Config
	sealer lazySealer
	pages  map[string]*template.Template
	// handlers are the console's routes by pattern; mux serves them when
	// the console is served on its own (tests) or behind the API's mux.
	handlers map[string]http.Handler
	mux      *http.ServeMux
}

// New builds the console.
func New(cfg Config) (*Console, error) {
	if cfg.Gate == nil {
		return nil, errors.New("console: a gate is required")
	}
	keys := cfg.SessionKeys
	if keys == nil {
		if _, err := newSealer(cfg.SessionKey); err != nil {
			return nil, err
		}
		keys = func(context.Context) ([]byte, error) { return cfg.SessionKey, nil }
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	c := &Console{cfg: cfg, sealer: lazySealer{keys: keys}, pages: map[string]*template.Template{}, mux: http.NewServeMux()}
	funcs := template.FuncMap{
		"when": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
		"iso":  func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	}
	for _, name := range []string{"signin", "inbox", "approval", "audit", "keys", "policies", "passkeys", "error"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(web, "web/layout.html", "web/"+name+".html")
		if err != nil {
			return nil, err
		}
		c.pages[name] = t
	}
	static, _ := fs.Sub(web, "web/static")
	// The one list of the console's handlers, keyed by the route table's
	// patterns (httpapi.Routes, Mount: MountConsole): in AWS each page
	// route is a Lambda function of its own, and TestHandlersAreTheRouteTable
	// keeps the two lists equal.
	c.handlers = map[string]http.Handler{
		"GET /console/static/{file...}":       http.StripPrefix("/console/static/", http.FileServerFS(static)),
		"GET /console/signin":                 http.HandlerFunc(c.signInPage),
		"POST /console/signin/dev":            http.HandlerFunc(c.devSignIn),
		"POST /console/signout":               http.HandlerFunc(c.signOut),
		"GET /console/oidc/start":             c.notConfigured(),
		"GET /console/oidc/callback":          c.notConfigured(),
		"GET /console":                        c.signedInOnly(c.inbox),
		"GET /console/approvals/{id}":         c.signedInOnly(c.approval),
		"POST /console/approvals/{id}/decide": c.signedInOnly(c.decide),
		"POST /console/approvals/{id}/revoke": c.signedInOnly(c.revoke),
		"POST /console/approvals/{id}/cancel": c.signedInOnly(c.cancel),
		"GET /console/audit":                  c.signedInOnly(c.audit),
		"GET /console/keys":                   c.signedInOnly(c.keys),
		"GET /console/policies":               c.signedInOnly(c.policies),
		"GET /console/passkeys":               c.signedInOnly(c.passkeysPage),
		"POST /console/passkeys/begin":        c.signedInOnly(c.registerBegin),
		"POST /console/passkeys/finish":       c.signedInOnly(c.registerFinish),
		"POST /console/stepup/begin":          c.signedInOnly(c.stepUpBegin),
		"POST /console/stepup/finish":         c.signedInOnly(c.stepUpFinish),
	}
	if cfg.OIDC != nil {
		c.handlers["GET /console/oidc/start"] = cfg.OIDC.StartHandler()
		c.handlers["GET /console/oidc/callback"] = cfg.OIDC.CallbackHandler(c.signedIn)
	}
	for pattern, h := range c.handlers {
		c.mux.Handle(pattern, h)
	}
	return c, nil
}

func (c *Console) now() time.Time { return c.cfg.Now() }

// Patterns are the net/http patterns the console serves, those of the
// route table's MountConsole routes.
func (c *Console) Patterns() []string {
	return slices.Sorted(maps.Keys(c.handlers))
}

// notConfigured answers the sign-in routes of a console without an
// identity provider.
func (c *Console) notConfigured() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, nil, vsecure.Errorf(vsecure.ENotFound, "sign-in with an identity provider is not configured on this server"))
	})
}

// ServeHTTP sets the headers every console answer carries.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", CSP)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	c.mux.ServeHTTP(w, r)
}

// page is what every template gets.
type page struct {
	Title   string
	Session *Session
	Data    any
	Notice  string
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := c.pages[name].Execute(w, p); err != nil {
		c.cfg.Log.ErrorContext(r.Context(), "console render failed", "page", name, "err", err)
	}
}

// fail renders a domain error as a page with the API's status for it.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *Session, err error) {
	code := vsecure.ErrorCode(err)
	msg := vsecure.ErrorMessage(err)
	if code == vsecure.EInternal {
		c.cfg.Log.ErrorContext(r.Context(), "console internal error", "requestId", vsecure.CallFrom(r.Context()).RequestID, "err", err)
		msg = "internal error"
	}
	c.render(w, r, api.StatusOf(code), "error", page{Title: "Refused", Session: s, Data: map[string]string{"Code": string(code), "Message": msg}})
}

type sessionHandler func(w http.ResponseWriter, r *http.Request, s *Session)

// signedInOnly hands the live session to h and refreshes it; without one
// a GET goes to sign-in and comes back, anything else is 401. A POST
// must carry the session's CSRF token (compared in constant time).
func (c *Console) signedInOnly(h sessionHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, ok := c.session(r)
		if !ok {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/console/signin?returnTo="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			c.fail(w, r, nil, vsecure.Errorf(vsecure.EUnauthenticated, "sign in first"))
			return
		}
		if c.cfg.GatewaySubject != nil {
			// The gateway let the request through for the ID token the
			// edge presented; the page is for that person only.
			if sub, ok := c.cfg.GatewaySubject(r); !ok || sub == "" || sub != s.Sub {
				c.cfg.Log.WarnContext(r.Context(), "console session and gateway identity differ", "principal", s.Principal, "gatewayIdentity", ok)
				clearSession(w)
				c.fail(w, r, nil, vsecure.Errorf(vsecure.EUnauthenticated, "this browser's sign-in and its session name different people: sign in again"))
				return
			}
		}
		if r.Method == http.MethodPost && !c.csrfOK(r, s) {
			c.fail(w, r, &s, vsecure.Errorf(vsecure.EForbidden, "the form's CSRF token is missing or wrong; reload the page and try again"))
			return
		}
		if err := c.setSession(r.Context(), w, s); err != nil {
			c.fail(w, r, &s, err)
			return
		}
		h(w, r, &s)
	}
}

func (c *Console) csrfOK(r *http.Request, s Session) bool {
	// The script's fetches send it in a header, forms as a field.
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		got = r.PostFormValue("csrf")
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.CSRF)) == 1
}

// call is the gate call of a console request: the API's call (source,
// request id) as the session's principal with its step-up.
func (c *Console) call(r *http.Request, s *Session) gate.Call {
	call := vsecure.CallFrom(r.Context())
	if call.RequestID == "" {
		call.IP, call.UserAgent = r.RemoteAddr, r.UserAgent()
	}
	call.Principal = s.principal()
	call.StepUp = s.StepUp
	call.Metadata = map[string]string{"via": "console"}
	if s.Dev {
		// Not a person proven by an identity provider: the entry says so.
		call.Metadata["credential"] = "dev-signin"
	}
	return call
}

// loopback reports whether r arrived on a loopback address of this server.
func loopback(r *http.Request) bool {
	a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return false
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
