package console_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vsecure/vsecure/internal/testclock"
	"github.com/vsecure/vsecure/shared/console"
	"github.com/vsecure/vsecure/shared/crypto/local"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/store/storetest/stores"
)

// site is a console over a gate on a test store, with an injected clock,
// served on loopback so the DEV sign-in is offered.
type site struct {
	t     *testing.T
	srv   *httptest.Server
	clock *testclock.Clock
}

func newSite(t *testing.T, open stores.Opener, tweak ...func(*console.Config)) *site {
	t.Helper()
	sealer, err := local.New(bytes.Repeat([]byte("m"), 32))
	if err != nil {
		t.Fatal(err)
	}
	clk := testclock.New(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	g, err := gate.New(gate.Config{Store: open(t), Sealer: sealer, CursorKey: bytes.Repeat([]byte("k"), 32), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	cfg := console.Config{Gate: g, SessionKey: bytes.Repeat([]byte("s"), 32), DevSignIn: true, Now: clk.Now}
	for _, f := range tweak {
		f(&cfg)
	}
	c, err := console.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return &site{t: t, srv: srv, clock: clk}
}

// do sends one request with the session cookie value (if any), without
// following redirects, and returns the answer's status, Location and the
// session cookie it set (nil if none).
func (s *site) do(method, path, cookie string, form url.Values) (int, string, *http.Cookie) {
	s.t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req, err := http.NewRequest(method, s.srv.URL+path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: console.SessionCookie, Value: cookie})
	}
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cl.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == console.SessionCookie {
			return resp.StatusCode, resp.Header.Get("Location"), c
		}
	}
	return resp.StatusCode, resp.Header.Get("Location"), nil
}

func (s *site) signIn(who string) string {
	s.t.Helper()
	status, loc, c := s.do("POST", "/console/signin/dev", "", url.Values{"principal": {who}, "role": {"approver"}})
	if status != http.StatusSeeOther || loc != "/console" || c == nil {
		s.t.Fatalf("dev sign-in: %d to %q, cookie %v", status, loc, c)
	}
	return c.Value
}

// signedIn reports whether the session is live: GET /console answers the
// inbox (and a refreshed cookie) rather than sending to sign-in.
func (s *site) signedIn(cookie string) (bool, string) {
	s.t.Helper()
	status, loc, c := s.do("GET", "/console", cookie, nil)
	switch {
	case status == http.StatusOK && c != nil:
		return true, c.Value
	case status == http.StatusSeeOther && strings.HasPrefix(loc, "/console/signin"):
		return false, ""
	}
	s.t.Fatalf("GET /console: %d to %q", status, loc)
	return false, ""
}

func TestSessionCookieIsSealedAndLocked(t *testing.T) {
	stores.Both(t, func(t *testing.T, open stores.Opener) {
		s := newSite(t, open)
		_, _, c := s.do("POST", "/console/signin/dev", "", url.Values{"principal": {"alice"}, "role": {"approver"}})
		if c == nil || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" {
			t.Fatalf("session cookie %+v: want HttpOnly, Secure, SameSite=Lax, Path=/, no Domain", c)
		}
		raw, _ := base64.RawURLEncoding.DecodeString(c.Value)
		if strings.Contains(c.Value, "alice") || bytes.Contains(raw, []byte("alice")) || bytes.Contains(raw, []byte("approver")) {
			t.Fatal("the session cookie shows its content")
		}
		if ok, _ := s.signedIn(c.Value); !ok {
			t.Fatal("a fresh session is not signed in")
		}
		// Any flipped bit, a truncation or a value from elsewhere is no session.
		for i := 0; i < len(raw); i += 7 {
			bad := bytes.Clone(raw)
			bad[i] ^= 1
			if ok, _ := s.signedIn(base64.RawURLEncoding.EncodeToString(bad)); ok {
				t.Fatalf("a cookie with byte %d flipped is a session", i)
			}
		}
		for _, v := range []string{c.Value[:len(c.Value)-4], "x", base64.RawURLEncoding.EncodeToString([]byte(`{"p":"admin","c":"x"}`))} {
			if ok, _ := s.signedIn(v); ok {
				t.Fatalf("cookie %q is a session", v)
			}
		}
	})
}

func TestSessionIdleTimeout(t *testing.T) {
	stores.Both(t, func(t *testing.T, open stores.Opener) {
		s := newSite(t, open)
		cookie := s.signIn("alice")
		// Each request refreshes the idle timer...
		for range 3 {
			s.clock.Advance(console.IdleTimeout - time.Minute)
			ok, next := s.signedIn(cookie)
			if !ok {
				t.Fatal("a session used within the idle timeout ended")
			}
			cookie = next
		}
		// ...and a session left alone past it ends.
		s.clock.Advance(console.IdleTimeout + time.Second)
		if ok, _ := s.signedIn(cookie); ok {
			t.Fatal("a session idle past the timeout is still signed in")
		}
	})
}

func TestSessionAbsoluteTimeout(t *testing.T) {
	stores.Both(t, func(t *testing.T, open stores.Opener) {
		s := newSite(t, open)
		cookie := s.signIn("alice")
		start := s.clock.Now()
		for s.clock.Now().Sub(start) < console.AbsoluteTimeout-10*time.Minute {
			s.clock.Advance(10 * time.Minute)
			ok, next := s.signedIn(cookie)
			if !ok {
				t.Fatalf("a busy session ended after %s", s.clock.Now().Sub(start))
			}
			cookie = next
		}
		s.clock.Advance(10*time.Minute + time.Second)
		if ok, _ := s.signedIn(cookie); ok {
			t.Fatal("a session past the absolute timeout is still signed in, however busy")
		}
	})
}

func TestSignOutNeedsCSRFAndClears(t *testing.T) {
	stores.Both(t, func(t *testing.T, open stores.Opener) {
		s := newSite(t, open)
		cookie := s.signIn("alice")
		if status, _, _ := s.do("POST", "/console/signout", cookie, url.Values{}); status != http.StatusForbidden {
			t.Fatalf("sign-out without the CSRF token: %d, want 403", status)
		}
		if status, _, _ := s.do("POST", "/console/approvals/appr_x/decide", cookie, url.Values{"action": {"approve"}}); status != http.StatusForbidden {
			t.Fatalf("a decision without the CSRF token: %d, want 403", status)
		}
		if status, _, _ := s.do("POST", "/console/approvals/appr_x/decide", "", url.Values{"action": {"approve"}}); status != http.StatusUnauthorized {
			t.Fatalf("a decision without a session: %d, want 401", status)
		}
	})
}

// TestDevSignInOnlyOnLoopback: a request that reached the server on any
// other address is refused the DEV sign-in, and is not offered it.
func TestDevSignInOnlyOnLoopback(t *testing.T) {
	stores.Both(t, func(t *testing.T, open stores.Opener) {
		s := newSite(t, open)
		h := s.srv.Config.Handler
		for _, tc := range []struct {
			method, path string
			want         int
		}{{"POST", "/console/signin/dev", http.StatusForbidden}, {"GET", "/console/signin", http.StatusOK}} {
			req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(url.Values{"principal": {"alice"}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			ctx := context.WithValue(req.Context(), http.LocalAddrContextKey, net.Addr(&net.TCPAddr{IP: net.ParseIP("10.0.0.7"), Port: 8080}))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req.WithContext(ctx))
			if rec.Code != tc.want || strings.Contains(rec.Body.String(), `id="dev-signin"`) {
				t.Errorf("%s %s on 10.0.0.7: %d (want %d), dev form offered: %v", tc.method, tc.path, rec.Code, tc.want, strings.Contains(rec.Body.String(), "dev-signin"))
			}
			for _, c := range rec.Result().Cookies() {
				if c.Name == console.SessionCookie {
					t.Errorf("%s %s on 10.0.0.7 set a session", tc.method, tc.path)
				}
			}
		}
	})
}

// TestPageWeight: a console page with its stylesheet and script stays
// within 50 KB.
func TestPageWeight(t *testing.T) {
	stores.Both(t, func(t *testing.T, open stores.Opener) {
		s := newSite(t, open)
		cookie := s.signIn("alice")
		total := 0
		for _, p := range []string{"/console", "/console/signin", "/console/static/console.css", "/console/static/console.js"} {
			req, _ := http.NewRequest("GET", s.srv.URL+p, nil)
			req.AddCookie(&http.Cookie{Name: console.SessionCookie, Value: cookie})
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %d", p, resp.StatusCode)
			}
			total += len(b)
		}
		if total > 50<<10 {
			t.Fatalf("pages and assets weigh %d bytes, over 50 KB", total)
		}
	})
}

// TestSessionKeyFromASource: a console whose key is read on first use (a
// Lambda's Secrets Manager secret) opens no session and starts none while
// the read fails, and works once it succeeds; the key is never read at
// construction.
func TestSessionKeyFromASource(t *testing.T) {
	stores.Both(t, func(t *testing.T, open stores.Opener) {
		var reads atomic.Int32
		var up atomic.Bool
		src := func(context.Context) ([]byte, error) {
			reads.Add(1)
			if !up.Load() {
				return nil, errors.New("secrets manager is down")
			}
			return bytes.Repeat([]byte("k"), 32), nil
		}
		s := newSite(t, open, func(c *console.Config) { c.SessionKey, c.SessionKeys = nil, src })
		if n := reads.Load(); n != 0 {
			t.Fatalf("%d key reads at construction, want none", n)
		}
		if status, _, c := s.do("POST", "/console/signin/dev", "", url.Values{"principal": {"alice"}}); status != http.StatusServiceUnavailable || c != nil {
			t.Fatalf("sign-in without the key: %d, cookie %v; want 503 and none", status, c)
		}
		up.Store(true)
		if ok, _ := s.signedIn(s.signIn("alice")); !ok {
			t.Fatal("the session did not open once the key was readable")
		}
	})
}
