package passkey_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vsecure/vsecure/internal/testclock"
	"github.com/vsecure/vsecure/shared/crypto/local"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/passkey"
	"github.com/vsecure/vsecure/shared/store/embedded"
	"github.com/vsecure/vsecure/shared/vsecure"
)

const (
	rpID   = "vsecure.test"
	origin = "https://vsecure.test"
)

// fixture is the passkey service over a gate (its Registrar) and an
// embedded store, with an injected clock and approvers alice and bob.
type fixture struct {
	t     *testing.T
	svc   *passkey.Service
	st    *embedded.Store
	clock *testclock.Clock
	calls map[string]vsecure.Call
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := embedded.Open(filepath.Join(t.TempDir(), "vsecure.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sealer, err := local.New(bytes.Repeat([]byte("m"), 32))
	if err != nil {
		t.Fatal(err)
	}
	clk := testclock.New(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	g, err := gate.New(gate.Config{Store: st, Sealer: sealer, CursorKey: bytes.Repeat([]byte("k"), 32), Now: clk.Now,
		ApprovalURL: func(id string) string { return "https://vsecure.test/approvals/" + id }})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, st: st, clock: clk, calls: map[string]vsecure.Call{}}
	// Approvers signed in as themselves (OIDC): only a human sign-in may
	// add a passkey (gate.RegisterPasskey).
	for _, p := range []string{"alice", "bob"} {
		f.calls[p] = vsecure.Call{Principal: vsecure.Principal{ID: p, Roles: []vsecure.Role{vsecure.RoleApprover}, Human: true}, RequestID: "req-" + p}
	}
	f.svc, err = passkey.New(passkey.Config{RPID: rpID, RPDisplayName: "vsecure test", RPOrigins: []string{origin}, Now: clk.Now}, st, g)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func want(t *testing.T, err error, code vsecure.Code, what string) {
	t.Helper()
	if code == "" && err != nil {
		t.Fatalf("%s: %v, want success", what, err)
	}
	if code != "" && !vsecure.IsCode(err, code) {
		t.Fatalf("%s: got %v (code %q), want %q", what, err, vsecure.ErrorCode(err), code)
	}
}

func (f *fixture) tryRegister(who string, a *authenticator) (vsecure.Passkey, error) {
	b, err := f.svc.BeginRegistration(f.t.Context(), f.calls[who])
	if err != nil {
		f.t.Fatalf("BeginRegistration: %v", err)
	}
	return f.svc.FinishRegistration(f.t.Context(), f.calls[who], b.CeremonyID, "laptop", a.create(b.Options))
}

func (f *fixture) register(who string, a *authenticator) vsecure.Passkey {
	f.t.Helper()
	p, err := f.tryRegister(who, a)
	want(f.t, err, "", "register "+who)
	return p
}

func (f *fixture) begin(who string) passkey.Begun {
	f.t.Helper()
	b, err := f.svc.BeginAssertion(f.t.Context(), f.calls[who])
	want(f.t, err, "", "BeginAssertion "+who)
	return b
}

func (f *fixture) assert(who string, a *authenticator) (vsecure.StepUp, error) {
	b := f.begin(who)
	return f.svc.FinishAssertion(f.t.Context(), f.calls[who], b.CeremonyID, a.get(b.Options, nil))
}

func (f *fixture) stored(who string) []vsecure.Passkey {
	f.t.Helper()
	ps, err := f.st.ListPasskeys(f.t.Context(), who)
	want(f.t, err, "", "ListPasskeys")
	return ps
}

func TestRegisterThenStepUp(t *testing.T) {
	f := newFixture(t)
	a := newAuthenticator(t)
	p := f.register("alice", a)
	if p.ID != b64.EncodeToString(a.id) || p.Principal != "alice" || p.Name != "laptop" || p.SignCount != 1 ||
		!bytes.Equal(p.AAGUID, a.aaguid[:]) || p.AttestationFormat != "none" || len(p.Transports) != 1 || p.Transports[0] != "internal" {
		t.Fatalf("registered %+v", p)
	}
	if got := f.stored("alice"); len(got) != 1 || got[0].ID != p.ID {
		t.Fatalf("stored %+v", got)
	}
	es, _, err := f.st.QueryAudit(t.Context(), vsecure.AuditFilter{Operation: vsecure.AuditPasskeyRegister}, "", 10)
	if err != nil || len(es) != 1 || es[0].Actor != "alice" || !es[0].Success {
		t.Fatalf("registration audit: %+v, %v", es, err)
	}

	f.clock.Advance(time.Minute)
	a.count = 2
	// The user handle the authenticator returns is the one registration
	// gave it.
	b := f.begin("alice")
	s, err := f.svc.FinishAssertion(t.Context(), f.calls["alice"], b.CeremonyID, a.get(b.Options, userHandle(t, f)))
	want(t, err, "", "FinishAssertion")
	if s != (vsecure.StepUp{Method: "passkey", CredentialID: p.ID, At: f.clock.Now().UTC()}) {
		t.Fatalf("step-up %+v", s)
	}
	got := f.stored("alice")[0]
	if got.SignCount != 2 || got.LastUsedAt == nil || !got.LastUsedAt.Equal(s.At) {
		t.Fatalf("after the assertion: count %d, last used %v", got.SignCount, got.LastUsedAt)
	}
}

// userHandle begins a second registration for alice (never finished) and
// returns the user id its options carry, as an authenticator keeps it with
// the credential; it checks on the way that the options exclude the
// passkey alice holds and require user verification.
func userHandle(t *testing.T, f *fixture) []byte {
	t.Helper()
	b, err := f.svc.BeginRegistration(t.Context(), f.calls["alice"])
	want(t, err, "", "BeginRegistration")
	var o struct {
		PublicKey struct {
			User struct {
				ID string `json:"id"`
			} `json:"user"`
			Exclude []struct {
				ID string `json:"id"`
			} `json:"excludeCredentials"`
			AuthenticatorSelection struct {
				UserVerification string `json:"userVerification"`
			} `json:"authenticatorSelection"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(b.Options, &o); err != nil {
		t.Fatal(err)
	}
	if len(o.PublicKey.Exclude) != 1 || o.PublicKey.AuthenticatorSelection.UserVerification != "required" {
		t.Fatalf("creation options exclude %v, userVerification %q: want alice's passkey excluded and UV required", o.PublicKey.Exclude, o.PublicKey.AuthenticatorSelection.UserVerification)
	}
	id, err := b64.DecodeString(o.PublicKey.User.ID)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestAssertionRefusals(t *testing.T) {
	cases := []struct {
		name  string
		forge func(a *authenticator)
		code  vsecure.Code
	}{
		{"genuine", func(a *authenticator) {}, ""},
		{"wrong_origin", func(a *authenticator) { a.origin = "https://vsecure.test.evil.example" }, vsecure.EForbidden},
		{"wrong_rp_id", func(a *authenticator) { a.rpID = "evil.example" }, vsecure.EForbidden},
		{"wrong_challenge", func(a *authenticator) { a.challenge = random(32) }, vsecure.EForbidden},
		{"user_verification_missing", func(a *authenticator) { a.flags = flagUP }, vsecure.EForbidden},
		{"user_presence_missing", func(a *authenticator) { a.flags = flagUV }, vsecure.EForbidden},
		{"bad_signature", func(a *authenticator) { a.corrupt = true }, vsecure.EForbidden},
		{"counter_not_advanced", func(a *authenticator) { a.count = 1 }, vsecure.EForbidden},
		{"counter_backwards", func(a *authenticator) { a.count = 0 }, vsecure.EForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			a := newAuthenticator(t)
			f.register("alice", a)
			a.count = 2
			tc.forge(a)
			_, err := f.assert("alice", a)
			want(t, err, tc.code, "FinishAssertion")
			if tc.code != "" {
				if got := f.stored("alice")[0]; got.SignCount != 1 || got.LastUsedAt != nil {
					t.Fatalf("a refused assertion moved the passkey: %+v", got)
				}
			}
		})
	}
}

func TestCounterNeverGoesBackwards(t *testing.T) {
	f := newFixture(t)
	a := newAuthenticator(t)
	f.register("alice", a)
	for _, step := range []struct {
		count uint32
		code  vsecure.Code
	}{{5, ""}, {3, vsecure.EForbidden}, {5, vsecure.EForbidden}, {6, ""}} {
		a.count = step.count
		_, err := f.assert("alice", a)
		want(t, err, step.code, "assertion with counter")
	}
	if got := f.stored("alice")[0].SignCount; got != 6 {
		t.Fatalf("counter %d, want 6", got)
	}
}

// Two ceremonies answered with the same counter (a cloned authenticator,
// or one response raced twice): both verify on their own, the store's
// conditional counter write lets exactly one through.
func TestRacingAssertionsWithOneCounter(t *testing.T) {
	f := newFixture(t)
	a := newAuthenticator(t)
	f.register("alice", a)
	a.count = 7
	const n = 8
	bodies := make([][]byte, n)
	ids := make([]string, n)
	for i := range n {
		b := f.begin("alice")
		ids[i], bodies[i] = b.CeremonyID, a.get(b.Options, nil)
	}
	// Every racer has verified (and found the stored counter below 7)
	// before any of them writes: only the store's condition stands
	// between them.
	var arrived sync.WaitGroup
	arrived.Add(n)
	svc, err := passkey.New(passkey.Config{RPID: rpID, RPOrigins: []string{origin}, Now: f.clock.Now}, barrier{f.st, &arrived}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
	)
	for i := range n {
		wg.Go(func() {
			_, err := svc.FinishAssertion(t.Context(), f.calls["alice"], ids[i], bodies[i])
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case !vsecure.IsCode(err, vsecure.EForbidden):
				t.Errorf("racing assertion: %v", err)
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d assertions with counter 7 won, want exactly 1", wins)
	}
}

// barrier holds every UsePasskey until all racers have reached it.
type barrier struct {
	*embedded.Store
	arrived *sync.WaitGroup
}

func (b barrier) UsePasskey(ctx context.Context, principal, id string, count uint32, at time.Time) error {
	b.arrived.Done()
	b.arrived.Wait()
	return b.Store.UsePasskey(ctx, principal, id, count, at)
}

func TestAnotherPrincipalsCredentialIsRefused(t *testing.T) {
	f := newFixture(t)
	alices, bobs := newAuthenticator(t), newAuthenticator(t)
	f.register("alice", alices)
	f.register("bob", bobs)
	bobs.count = 2
	// Alice's ceremony answered by bob's authenticator.
	_, err := f.assert("alice", bobs)
	want(t, err, vsecure.EForbidden, "alice's step-up with bob's passkey")
	if got := f.stored("bob")[0]; got.SignCount != 1 {
		t.Fatalf("bob's counter moved to %d", got.SignCount)
	}
}

func TestCeremonies(t *testing.T) {
	t.Run("replayed_ceremony", func(t *testing.T) {
		f := newFixture(t)
		a := newAuthenticator(t)
		f.register("alice", a)
		a.count = 2
		b := f.begin("alice")
		body := a.get(b.Options, nil)
		_, err := f.svc.FinishAssertion(t.Context(), f.calls["alice"], b.CeremonyID, body)
		want(t, err, "", "first finish")
		_, err = f.svc.FinishAssertion(t.Context(), f.calls["alice"], b.CeremonyID, body)
		want(t, err, vsecure.ENotFound, "the same ceremony again")
	})
	t.Run("replayed_response_on_a_new_ceremony", func(t *testing.T) {
		f := newFixture(t)
		a := newAuthenticator(t)
		f.register("alice", a)
		a.count = 2
		b := f.begin("alice")
		body := a.get(b.Options, nil)
		_, err := f.svc.FinishAssertion(t.Context(), f.calls["alice"], b.CeremonyID, body)
		want(t, err, "", "first finish")
		_, err = f.svc.FinishAssertion(t.Context(), f.calls["alice"], f.begin("alice").CeremonyID, body)
		want(t, err, vsecure.EForbidden, "an old response on a new challenge")
	})
	t.Run("another_principals_ceremony", func(t *testing.T) {
		f := newFixture(t)
		a := newAuthenticator(t)
		f.register("alice", a)
		f.register("bob", newAuthenticator(t))
		a.count = 2
		b := f.begin("alice")
		body := a.get(b.Options, nil)
		_, err := f.svc.FinishAssertion(t.Context(), f.calls["bob"], b.CeremonyID, body)
		want(t, err, vsecure.ENotFound, "bob finishes alice's ceremony")
		_, err = f.svc.FinishAssertion(t.Context(), f.calls["alice"], b.CeremonyID, body)
		want(t, err, "", "alice finishes it after bob tried")
	})
	t.Run("expired_ceremony", func(t *testing.T) {
		f := newFixture(t)
		a := newAuthenticator(t)
		f.register("alice", a)
		a.count = 2
		b := f.begin("alice")
		f.clock.Advance(passkey.DefaultCeremonyTTL)
		_, err := f.svc.FinishAssertion(t.Context(), f.calls["alice"], b.CeremonyID, a.get(b.Options, nil))
		want(t, err, vsecure.ENotFound, "finish at the ceremony's expiry")
	})
	t.Run("registration_ceremony_cannot_assert", func(t *testing.T) {
		f := newFixture(t)
		a := newAuthenticator(t)
		f.register("alice", a)
		a.count = 2
		reg, err := f.svc.BeginRegistration(t.Context(), f.calls["alice"])
		want(t, err, "", "BeginRegistration")
		_, err = f.svc.FinishAssertion(t.Context(), f.calls["alice"], reg.CeremonyID, a.get(reg.Options, nil))
		want(t, err, vsecure.ENotFound, "assertion on a registration ceremony")
	})
	t.Run("no_passkey_no_assertion", func(t *testing.T) {
		f := newFixture(t)
		_, err := f.svc.BeginAssertion(t.Context(), f.calls["alice"])
		want(t, err, vsecure.ENotFound, "BeginAssertion without a passkey")
	})
	t.Run("access_tokens_hold_no_passkeys", func(t *testing.T) {
		f := newFixture(t)
		c := f.calls["alice"]
		c.Principal.Scope = &vsecure.Scope{ApprovalID: "appr_x"}
		_, err := f.svc.BeginRegistration(t.Context(), c)
		want(t, err, vsecure.EForbidden, "BeginRegistration with an access token")
		_, err = f.svc.FinishAssertion(t.Context(), c, "cer_x", []byte("{}"))
		want(t, err, vsecure.EForbidden, "FinishAssertion with an access token")
	})
	t.Run("oversized_response", func(t *testing.T) {
		f := newFixture(t)
		_, err := f.svc.FinishAssertion(t.Context(), f.calls["alice"], "cer_x", make([]byte, passkey.MaxResponse+1))
		want(t, err, vsecure.ETooLarge, "FinishAssertion of a huge body")
	})
	t.Run("malformed_response", func(t *testing.T) {
		f := newFixture(t)
		a := newAuthenticator(t)
		f.register("alice", a)
		_, err := f.svc.FinishAssertion(t.Context(), f.calls["alice"], f.begin("alice").CeremonyID, []byte(`{"id":"x"}`))
		want(t, err, vsecure.EInvalid, "FinishAssertion of garbage")
	})
}

func TestRegistrationRefusals(t *testing.T) {
	cases := []struct {
		name  string
		forge func(a *authenticator)
		code  vsecure.Code
	}{
		{"wrong_origin", func(a *authenticator) { a.origin = "https://evil.example" }, vsecure.EForbidden},
		{"wrong_rp_id", func(a *authenticator) { a.rpID = "evil.example" }, vsecure.EForbidden},
		{"wrong_challenge", func(a *authenticator) { a.challenge = random(32) }, vsecure.EForbidden},
		{"user_verification_missing", func(a *authenticator) { a.flags = flagUP }, vsecure.EForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			a := newAuthenticator(t)
			tc.forge(a)
			_, err := f.tryRegister("alice", a)
			want(t, err, tc.code, "FinishRegistration")
			if n := len(f.stored("alice")); n != 0 {
				t.Fatalf("a refused registration stored %d passkeys", n)
			}
		})
	}
	t.Run("same_authenticator_twice", func(t *testing.T) {
		f := newFixture(t)
		a := newAuthenticator(t)
		f.register("alice", a)
		_, err := f.tryRegister("bob", a)
		want(t, err, vsecure.EConflict, "bob registers alice's credential id")
	})
	t.Run("replayed_registration", func(t *testing.T) {
		f := newFixture(t)
		a := newAuthenticator(t)
		b, err := f.svc.BeginRegistration(t.Context(), f.calls["alice"])
		want(t, err, "", "BeginRegistration")
		body := a.create(b.Options)
		_, err = f.svc.FinishRegistration(t.Context(), f.calls["alice"], b.CeremonyID, "laptop", body)
		want(t, err, "", "FinishRegistration")
		_, err = f.svc.FinishRegistration(t.Context(), f.calls["alice"], b.CeremonyID, "laptop", body)
		want(t, err, vsecure.ENotFound, "FinishRegistration again")
	})
}

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
