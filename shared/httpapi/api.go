// Package httpapi is the HTTP face of the gate: the route table, the
// handlers, the auth middleware and the one place where domain error codes
// become HTTP statuses. The local server serves it with net/http and every
// Lambda function serves one of its routes through the API Gateway proxy
// adapter, so both paths run the same code.
package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/ratelimit"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// Authenticator resolves the caller of a request. Locally it checks the
// API key against the store; behind API Gateway it reads the authorizer
// context that the authorizer Lambda produced with the same gate code.
type Authenticator interface {
	Authenticate(r *http.Request, c gate.Call) (vsecure.Principal, error)
}

// API holds the handlers' dependencies.
type API struct {
	Gate *gate.Gate
	Auth Authenticator
	Log  *slog.Logger
	// Mounts serve the routes owned by other packages (MCP, Slack).
	Mounts Mounts
	// Limits throttles callers; nil fields do not limit.
	Limits Limits
	// QuietRequests logs the per-request line only for a 5xx answer or a
	// request slower than SlowRequest. Behind API Gateway the access log
	// already has every request's id, route, status and latency (and the
	// audit log every decision), so in prod the line would pay twice for
	// the same facts on the hot path (docs/cost.md).
	QuietRequests bool
}

// SlowRequest is the duration from which a quiet API still logs a request.
const SlowRequest = time.Second

// Limits are the per-caller rate limits.
type Limits struct {
	// PerPrincipal limits authenticated callers by principal.
	PerPrincipal *ratelimit.Limiter
	// FailedAuthPerIP limits failed authentications by source IP; once a
	// source is out of tokens it is refused before its credential is even
	// looked at, which blunts key guessing. Bad Slack signatures (a 401 from
	// an AuthSlack route) draw on the same budget.
	FailedAuthPerIP *ratelimit.Limiter
}

// MaxBody bounds request bodies.
const MaxBody = 64 << 10

// Handler mounts every route of the table; a mounted route without its
// mount is an error here rather than a 404 at request time.
func (a *API) Handler() (http.Handler, error) { return a.mount(Routes()) }

// OwnHandler mounts the routes the API serves itself, none of the mounted
// ones: remote MCP calls these in-process, and is itself a mount.
func (a *API) OwnHandler() http.Handler {
	var rs []Route
	for _, r := range Routes() {
		if r.Mount == NotMounted {
			rs = append(rs, r)
		}
	}
	h, _ := a.mount(rs) // no mount, no error
	return h
}

// FunctionHandler mounts only the routes served by one Lambda function;
// FallbackFunction mounts none, only the answers for what no route takes.
func (a *API) FunctionHandler(function string) (http.Handler, error) {
	if function == FallbackFunction {
		return a.mount(nil)
	}
	rs := RoutesOf(function)
	if len(rs) == 0 {
		return nil, errors.New("httpapi: no route for function " + function)
	}
	return a.mount(rs)
}

func (a *API) mount(rs []Route) (http.Handler, error) {
	for _, rt := range rs {
		if rt.Mount != NotMounted && a.Mounts.handler(rt.Mount) == nil {
			return nil, fmt.Errorf("httpapi: route %s (function %s) has no handler: set %s, or set it to httpapi.Disabled to leave the route off", rt.Pattern(), rt.Function, rt.Mount)
		}
	}
	mux := http.NewServeMux()
	for _, rt := range rs {
		mux.Handle(rt.Pattern(), a.route(rt))
	}
	// A known path with another method is 405 with Allow, from the whole
	// table: a pattern without a method loses to the routes with one.
	var paths []string
	allow := map[string][]string{}
	for _, rt := range Routes() {
		if allow[rt.Path] == nil {
			paths = append(paths, rt.Path)
		}
		allow[rt.Path] = append(allow[rt.Path], rt.Method)
	}
	for _, p := range paths {
		methods := strings.Join(allow[p], ", ")
		mux.Handle(p, a.route(Route{Path: p, Function: "method-not-allowed", Auth: AuthNone, handle: func(_ *API, w http.ResponseWriter, r *http.Request) error {
			if slices.Contains(allow[p], r.Method) {
				// Only the fallback function gets here: API Gateway
				// matched no route where the table has one (its matching
				// differs from ServeMux's at the edges). "Use GET" to a
				// GET would be nonsense; for the gateway there is no
				// such endpoint.
				return vsecure.Errorf(vsecure.ENotFound, "no such endpoint")
			}
			w.Header().Set("Allow", methods)
			return vsecure.Errorf(vsecure.EMethodNotAllowed, "%s is not allowed here; use %s", r.Method, methods)
		}}))
	}
	mux.Handle("/", a.route(Route{Function: "not-found", Auth: AuthNone, handle: func(*API, http.ResponseWriter, *http.Request) error {
		return vsecure.Errorf(vsecure.ENotFound, "no such endpoint")
	}}))
	unclean := a.route(Route{Function: "unclean-path", Auth: AuthNone, handle: (*API).uncleanPath})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// ServeMux would answer an unclean path with an HTML 307 to the
		// cleaned one, which also changes what a resource URI means
		// (vsecure://x → vsecure:/x). Decide on the path as sent.
		if !canonicalPath(r.URL.EscapedPath()) {
			unclean.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	}), nil
}

// canonicalPath reports whether ServeMux would serve p as it is: rooted,
// without empty, "." or ".." segments (a trailing slash is kept).
func canonicalPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	c := path.Clean(p)
	if c != "/" && strings.HasSuffix(p, "/") {
		return c+"/" == p
	}
	return c == p
}

// uncleanPath refuses, audited, a path that is not canonical; under the
// resources route that is nearly always an unencoded vsecure:// URI.
func (a *API) uncleanPath(_ http.ResponseWriter, r *http.Request) error {
	p := truncate(r.URL.EscapedPath(), 512)
	const resources = "/v1/security/mcp/resources/"
	hint := "percent-encode any URI in the path"
	if rest, ok := strings.CutPrefix(p, resources); ok {
		if raw, err := url.PathUnescape(rest); err == nil {
			rest = raw
		}
		hint = "percent-encode the resource URI: " + resources + strings.ReplaceAll(url.PathEscape(rest), ":", "%3A")
	}
	err := vsecure.Errorf(vsecure.EInvalid, "the path has an empty, . or .. segment; %s", hint)
	return a.refuse(r, "http:unclean-path", p, err)
}

type ctxKey int

const requestIDKey ctxKey = 0

// WithRequestID lets an adapter (Lambda) supply the request id of the
// platform so logs and audit entries line up with its own.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

// RequestID returns the request id stored in ctx.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

func callOf(r *http.Request) gate.Call {
	return vsecure.CallFrom(r.Context())
}

// statusRecorder remembers the status for the access log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (a *API) route(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rid := RequestID(r.Context())
		if rid == "" {
			rid = newRequestID()
		}
		ctx := WithRequestID(r.Context(), rid)
		w.Header().Set("X-Request-Id", rid)
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		c := gate.Call{IP: clientIP(r), UserAgent: truncate(r.UserAgent(), 256), RequestID: rid}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			if v := recover(); v != nil {
				a.Log.ErrorContext(ctx, "panic", "requestId", rid, "panic", v)
				a.writeError(ctx, rec, vsecure.Errorf(vsecure.EInternal, "internal error"))
			}
			if d := time.Since(start); !a.QuietRequests || rec.status >= 500 || d >= SlowRequest {
				a.Log.InfoContext(ctx, "request", "requestId", rid, "method", r.Method, "route", rt.Path,
					"function", rt.Function, "status", rec.status, "actor", c.Actor(), "durationMs", d.Milliseconds())
			}
		}()
		if r.ContentLength > MaxBody {
			a.writeError(ctx, rec, a.Gate.RecordRefusal(ctx, c, opOf(rt), "", tooLarge()))
			return
		}
		r.Body = http.MaxBytesReader(rec, r.Body, MaxBody)
		if rt.Auth == AuthKey || rt.Auth == AuthSlack {
			if l := a.Limits.FailedAuthPerIP; l != nil {
				if ok, wait := l.Peek(c.IP); !ok {
					op := vsecure.AuditAuthenticate
					if rt.Auth == AuthSlack {
						op = vsecure.AuditSlack
					}
					a.writeError(ctx, rec, a.Gate.RecordRefusal(ctx, c, op, "", rateLimited(wait)))
					return
				}
			}
		}
		if rt.Auth == AuthKey {
			p, err := a.Auth.Authenticate(r.WithContext(ctx), c)
			if err != nil {
				if vsecure.IsCode(err, vsecure.EUnauthenticated) {
					a.failedAuth(c.IP)
				}
				a.writeError(ctx, rec, err)
				return
			}
			c.Principal = p
			if l := a.Limits.PerPrincipal; l != nil {
				if ok, wait := l.Allow(p.ID); !ok {
					a.writeError(ctx, rec, a.Gate.RecordRefusal(ctx, c, opOf(rt), "", rateLimited(wait)))
					return
				}
			}
		}
		ctx = vsecure.WithCall(ctx, c)
		r = r.WithContext(ctx)
		var err error
		if h := a.Mounts.handler(rt.Mount); h != nil && h != Disabled {
			h.ServeHTTP(rec, r)
			if rt.Auth == AuthSlack && rec.status == http.StatusUnauthorized {
				// The handler verifies the signature itself; its 401 is
				// the failed authentication.
				a.failedAuth(c.IP)
			}
			return
		}
		serve := func(w http.ResponseWriter, r *http.Request) {
			if rt.handle == nil {
				err = vsecure.Errorf(vsecure.ENotFound, "endpoint not enabled")
			} else {
				err = rt.handle(a, w, r)
			}
			if err != nil {
				a.writeError(ctx, w, err)
			}
		}
		if key, ok := r.Header[IdempotencyHeader]; ok && rt.Auth == AuthKey {
			if rt.Idempotent {
				a.idempotent(rec, r, rt, c, strings.Join(key, ","), rt.OneTime, serve)
				return
			}
		}
		serve(rec, r)
	})
}

// failedAuth charges a failed authentication to its source.
func (a *API) failedAuth(ip string) {
	if l := a.Limits.FailedAuthPerIP; l != nil {
		l.Allow(ip)
	}
}

func rateLimited(wait time.Duration) error {
	return vsecure.RateLimited(wait, "too many requests; retry later")
}

func tooLarge() error {
	return vsecure.Errorf(vsecure.ETooLarge, "request body larger than %d bytes", MaxBody)
}

// opOf names a route for audit entries of refusals before the handler ran.
func opOf(rt Route) string { return "http:" + rt.Function }

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "req_" + hex.EncodeToString(b[:])
}

// HeaderAuth authenticates with the credential in the request headers; it
// is the local server's stand-in for the API Gateway authorizer and runs
// the same gate code.
type HeaderAuth struct{ Gate *gate.Gate }

// Authenticate implements Authenticator.
func (h HeaderAuth) Authenticate(r *http.Request, c gate.Call) (vsecure.Principal, error) {
	return h.Gate.Authenticate(r.Context(), Credential(r.Header), c)
}

// Credential extracts the API key or access token from headers:
// "Authorization: Bearer <key>" or "X-API-Key: <key>".
func Credential(h http.Header) string {
	if auth := h.Get("Authorization"); auth != "" {
		scheme, cred, ok := strings.Cut(auth, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(cred)
		}
		return ""
	}
	return strings.TrimSpace(h.Get("X-API-Key"))
}
