package console_test

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"testing"

	"github.com/vsecure/vsecure/internal/browser"
	"github.com/vsecure/vsecure/internal/oidctest"
	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/console"
	"github.com/vsecure/vsecure/shared/crypto/local"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/httpapi"
	"github.com/vsecure/vsecure/shared/oidc"
	"github.com/vsecure/vsecure/shared/passkey"
	"github.com/vsecure/vsecure/shared/store/storetest/stores"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// TestStepUpWithAPasskey: jane signs in at a real OIDC provider, adds a
// passkey on /console/passkeys (CDP virtual authenticator), and decides a
// stepUp approval only after asserting it; the audit entry records it.
func TestStepUpWithAPasskey(t *testing.T) {
	stores.Both(t, func(t *testing.T, open stores.Opener) {
		ctx := t.Context()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		// WebAuthn wants a domain: localhost, not 127.0.0.1.
		base := fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
		iss := oidctest.Start(t, false)
		ocfg := iss.Config(base + "/console/oidc/callback")
		ocfg.CookieKey = bytes.Repeat([]byte("o"), 32)
		humans, err := oidc.New(ocfg)
		if err != nil {
			t.Fatal(err)
		}
		st := open(t)
		sealer, err := local.New(bytes.Repeat([]byte("m"), 32))
		if err != nil {
			t.Fatal(err)
		}
		g, err := gate.New(gate.Config{Store: st, Sealer: sealer, CursorKey: bytes.Repeat([]byte("k"), 32),
			ApprovalURL: httpapi.ApprovalURL(base), Humans: humans})
		if err != nil {
			t.Fatal(err)
		}
		pk, err := passkey.New(passkey.Config{RPID: "localhost", RPOrigins: []string{base}}, st, g)
		if err != nil {
			t.Fatal(err)
		}
		c, err := console.New(console.Config{Gate: g, SessionKey: bytes.Repeat([]byte("s"), 32), OIDC: humans, Passkeys: pk})
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: c}
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(func() { _ = srv.Close() })

		caller := func(cred, who string, role vsecure.Role) gate.Call {
			if err := g.EnsureKey(ctx, cred, who, []vsecure.Role{role}); err != nil {
				t.Fatal(err)
			}
			p, err := g.Authenticate(ctx, cred, gate.Call{})
			if err != nil {
				t.Fatal(err)
			}
			return gate.Call{Principal: p}
		}
		admin := caller("vsk_stepup_admin_0123456789abcdefghijklmnopqrs", "admin", vsecure.RoleAdmin)
		agent := caller("vsk_stepup_agent_0123456789abcdefghijklmnopqrs", "agent-1", vsecure.RoleAgent)
		if _, err := g.ConfigurePolicy(ctx, admin, vsecure.Policy{URI: "vsecure://secrets/vault/*", Permissions: []vsecure.Operation{vsecure.OpRead},
			RequiresApproval: true, StepUp: true, Approvers: []string{"jane@example.com"}}); err != nil {
			t.Fatal(err)
		}
		v, err := g.RequestApproval(ctx, agent, api.ApprovalRequest{Resource: "vsecure://secrets/vault/ROOT", Operation: "read", Reason: "rotate the root key"})
		if err != nil {
			t.Fatal(err)
		}

		b := browser.Start(t)
		auth := b.AddAuthenticator()
		iss.QueueUser(oidctest.User("jane@example.com", true, oidctest.Approvers))
		b.Navigate(base + "/console/passkeys")
		b.Click("a.button") // sign in with the identity provider
		b.WaitText("#who", "jane@example.com")
		b.Fill("#passkey-name", "laptop")
		b.Click("#register")
		b.WaitText("#passkey-status", "Passkey added.")
		if n := len(auth.Credentials()); n != 1 {
			t.Fatalf("the authenticator holds %d credentials, want 1", n)
		}
		shot(b, "passkeys")

		b.Navigate(v.ApprovalURL)
		b.WaitText("#requester", "agent-1")
		// Without a step-up the gate refuses the decision.
		b.Click("#approve")
		b.WaitText("#code", string(vsecure.EStepUpRequired))
		b.Navigate(v.ApprovalURL)
		b.Click("#stepup")
		b.WaitText("#stepup-ok", "verified") // reloaded with the step-up
		if n := browser.Eval[int](b, `document.querySelectorAll("#stepup").length`); n != 0 {
			t.Fatal("the page still asks for a step-up after one")
		}
		b.Click("#approve")
		b.WaitText("#status", "approved")
		es, _, err := g.QueryAudit(ctx, admin, gate.AuditQuery{Filter: vsecure.AuditFilter{Operation: vsecure.AuditApprove}})
		if err != nil {
			t.Fatal(err)
		}
		var ok []vsecure.Entry
		for _, e := range es {
			if e.Success {
				ok = append(ok, e)
			}
		}
		if len(ok) != 1 || ok[0].Actor != "jane@example.com" || ok[0].Metadata["stepUp"] != vsecure.StepUpPasskey || ok[0].Metadata["credential"] != api.CredentialOIDC {
			t.Fatalf("approve entries %+v", es)
		}
	})
}
