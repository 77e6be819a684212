package browser_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/vsecure/vsecure/internal/browser"
)

// rp is the smallest relying party go-webauthn allows: one user, one
// ceremony at a time, credentials in memory. The browser reaches it as
// http://localhost:PORT, a secure context whose host is a valid RP ID
// (an IP address is not).
type rp struct {
	wa *webauthn.WebAuthn

	mu      sync.Mutex
	user    *rpUser
	session *webauthn.SessionData
	logins  []loginResult
}

type rpUser struct {
	id    []byte
	creds []webauthn.Credential
}

func (u *rpUser) WebAuthnID() []byte                         { return u.id }
func (u *rpUser) WebAuthnName() string                       { return "alice" }
func (u *rpUser) WebAuthnDisplayName() string                { return "Alice" }
func (u *rpUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

type loginResult struct {
	CredentialID string `json:"credentialId"`
	SignCount    uint32 `json:"signCount"`
}

func newRP(t *testing.T) (*rp, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	origin := fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
	wa, err := webauthn.New(&webauthn.Config{RPID: "localhost", RPDisplayName: "vsecure test", RPOrigins: []string{origin}})
	if err != nil {
		t.Fatal(err)
	}
	r := &rp{wa: wa, user: &rpUser{id: []byte("user-alice-0001")}}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: r.routes()}}
	srv.Start()
	t.Cleanup(srv.Close)
	return r, origin
}

func (r *rp) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Security-Policy", csp)
		fmt.Fprint(w, `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>passkey</title>`+
			`<script src="/passkey.js" defer></script></head><body>`+
			`<button id="register" type="button">Register a passkey</button> `+
			`<button id="login" type="button">Sign in with the passkey</button>`+
			`<p id="status" role="status">ready</p></body></html>`)
	})
	mux.HandleFunc("GET /passkey.js", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		fmt.Fprint(w, passkeyJS)
	})
	mux.HandleFunc("POST /register/begin", func(w http.ResponseWriter, _ *http.Request) {
		r.mu.Lock()
		defer r.mu.Unlock()
		// A passkey: discoverable, user-verified (one selection: a second
		// option would replace the first's).
		yes := true
		opts, s, err := r.wa.BeginRegistration(r.user, webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementRequired, RequireResidentKey: &yes,
			UserVerification: protocol.VerificationRequired,
		}))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		r.session = s
		writeJSON(w, opts)
	})
	mux.HandleFunc("POST /register/finish", func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.session == nil {
			http.Error(w, "no ceremony", http.StatusBadRequest)
			return
		}
		s := *r.session
		r.session = nil // one use, as a real RP's must be
		c, err := r.wa.FinishRegistration(r.user, s, req)
		if err != nil {
			http.Error(w, describe(err), http.StatusBadRequest)
			return
		}
		r.user.creds = append(r.user.creds, *c)
		writeJSON(w, map[string]string{"credentialId": b64(c.ID)})
	})
	mux.HandleFunc("POST /login/begin", func(w http.ResponseWriter, _ *http.Request) {
		r.mu.Lock()
		defer r.mu.Unlock()
		opts, s, err := r.wa.BeginLogin(r.user, webauthn.WithUserVerification(protocol.VerificationRequired))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.session = s
		writeJSON(w, opts)
	})
	mux.HandleFunc("POST /login/finish", func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.session == nil {
			http.Error(w, "no ceremony", http.StatusBadRequest)
			return
		}
		s := *r.session
		r.session = nil
		c, err := r.wa.FinishLogin(r.user, s, req)
		if err != nil {
			http.Error(w, describe(err), http.StatusBadRequest)
			return
		}
		for i := range r.user.creds {
			if bytes.Equal(r.user.creds[i].ID, c.ID) {
				r.user.creds[i].Authenticator.SignCount = c.Authenticator.SignCount
			}
		}
		res := loginResult{CredentialID: b64(c.ID), SignCount: c.Authenticator.SignCount}
		r.logins = append(r.logins, res)
		writeJSON(w, res)
	})
	return mux
}

// The page's script: the JSON forms of the options and credentials
// (parse*OptionsFromJSON, toJSON) are what go-webauthn speaks.
const passkeyJS = `
const status = document.getElementById('status');
async function post(path, body) {
  const r = await fetch(path, {method: 'POST', headers: {'Content-Type': 'application/json'},
    body: body === undefined ? undefined : JSON.stringify(body)});
  const text = await r.text();
  if (!r.ok) throw new Error(path + ' ' + r.status + ': ' + text.trim());
  return JSON.parse(text);
}
async function register() {
  const opts = await post('/register/begin');
  const cred = await navigator.credentials.create({publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(opts.publicKey)});
  const res = await post('/register/finish', cred.toJSON());
  status.textContent = 'registered ' + res.credentialId;
}
async function login() {
  const opts = await post('/login/begin');
  const cred = await navigator.credentials.get({publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(opts.publicKey)});
  const res = await post('/login/finish', cred.toJSON());
  status.textContent = 'signed in ' + res.credentialId + ' count ' + res.signCount;
}
function run(fn) {
  return () => {
    status.textContent = 'working';
    fn().catch(e => { status.textContent = 'failed: ' + e.name + ': ' + e.message; });
  };
}
document.getElementById('register').addEventListener('click', run(register));
document.getElementById('login').addEventListener('click', run(login));
`

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// describe keeps go-webauthn's detail: the test reads it from the page.
func describe(err error) string {
	if pe, ok := err.(*protocol.Error); ok {
		return pe.Type + ": " + pe.Details + " " + pe.DevInfo
	}
	return err.Error()
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func TestPasskeyRegistrationAndAssertionAgainstGoWebAuthn(t *testing.T) {
	r, origin := newRP(t)
	b := browser.Start(t)
	auth := b.AddAuthenticator()
	b.Navigate(origin + "/")

	b.Click("#register")
	b.WaitText("#status", "registered ")
	r.mu.Lock()
	if len(r.user.creds) != 1 {
		t.Fatalf("RP holds %d credentials after registration, want 1", len(r.user.creds))
	}
	stored := r.user.creds[0]
	r.mu.Unlock()
	if !stored.Flags.UserVerified || !stored.Flags.UserPresent {
		t.Errorf("registration flags %+v: want user present and verified", stored.Flags)
	}
	held := auth.Credentials()
	if len(held) != 1 || !bytes.Equal(held[0].CredentialID, stored.ID) || !held[0].IsResidentCredential || held[0].RpID != "localhost" {
		for _, c := range held {
			t.Logf("authenticator holds %s, resident %v, for %q", b64(c.CredentialID), c.IsResidentCredential, c.RpID)
		}
		t.Fatalf("authenticator holds %d credentials, want the one resident credential the RP stored (%s) for localhost", len(held), b64(stored.ID))
	}

	// Two assertions: each verified by the RP, the counter moving on.
	for i := range 2 {
		b.Click("#login")
		got := b.WaitText("#status", "signed in ")
		if want := fmt.Sprintf("signed in %s count ", b64(stored.ID)); !bytes.HasPrefix([]byte(got), []byte(want)) {
			t.Fatalf("assertion %d: status %q, want %q...", i, got, want)
		}
	}
	r.mu.Lock()
	logins := append([]loginResult(nil), r.logins...)
	r.mu.Unlock()
	if len(logins) != 2 || logins[1].SignCount <= logins[0].SignCount {
		t.Errorf("RP saw logins %+v, want two with a rising sign count", logins)
	}
	if c := auth.Credentials()[0].SignCount; uint32(c) != logins[1].SignCount {
		t.Errorf("authenticator's sign count %v, RP's %d", c, logins[1].SignCount)
	}
}

// The RP really verifies: a forged signature or a missing user
// verification is refused by go-webauthn, and a removed passkey cannot
// sign in at all.
func TestPasskeyForgeriesAreRefused(t *testing.T) {
	r, origin := newRP(t)
	b := browser.Start(t)
	auth := b.AddAuthenticator()
	b.Navigate(origin + "/")
	b.Click("#register")
	b.WaitText("#status", "registered ")

	auth.Tamper(true, false, false)
	b.Click("#login")
	b.WaitText("#status", "failed: Error: /login/finish 400: invalid_signature: Error validating the assertion signature")

	auth.Tamper(false, true, false)
	b.Click("#login")
	b.WaitText("#status", "failed: Error: /login/finish 400: verification_error:")
	b.WaitText("#status", "User verification required but flag not set")

	auth.Tamper(false, false, false)
	b.Click("#login")
	b.WaitText("#status", "signed in ")

	auth.RemoveCredential(auth.Credentials()[0].CredentialID)
	if n := len(auth.Credentials()); n != 0 {
		t.Fatalf("authenticator holds %d credentials after removal", n)
	}
	b.Click("#login")
	b.WaitText("#status", "failed: NotAllowedError")

	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.logins) != 1 {
		t.Errorf("RP accepted %d logins, want only the honest one", len(r.logins))
	}
}
