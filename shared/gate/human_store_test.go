package gate_test

import (
	"testing"

	"github.com/vsecure/vsecure/internal/oidctest"
	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/oidc"
	"github.com/vsecure/vsecure/shared/store/storetest/stores"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// A person's JWT (from a real issuer) makes them a keyless human
// principal; what they do is audited under their name with credential
// "oidc", on both stores.
func TestHumansActAsThemselves(t *testing.T) {
	iss := oidctest.Start(t, false)
	p, err := oidc.New(iss.Config(""))
	if err != nil {
		t.Fatal(err)
	}
	stores.Both(t, func(t *testing.T, open stores.Opener) {
		f := newFixture(t, open(t), func(c *gate.Config) { c.Humans = p })
		ctx := t.Context()
		jane, err := f.gate.Authenticate(ctx, iss.IDToken(t, oidctest.User("Jane@Example.com", true, oidctest.Approvers)), gate.Call{})
		if err != nil {
			t.Fatal(err)
		}
		if jane.ID != "jane@example.com" || !jane.Human || jane.KeyID != "" || !jane.Has(vsecure.RoleApprover) {
			t.Fatalf("principal %+v", jane)
		}
		admin := f.principal("root", vsecure.RoleAdmin)
		agent := f.principal("bot", vsecure.RoleAgent)
		if _, err := f.gate.ConfigurePolicy(ctx, admin, api.ResourceConfig{
			URI: "vsecure://secrets/production/*", Permissions: []vsecure.Operation{vsecure.OpRead},
			RequiresApproval: true, Approvers: []string{"jane@example.com"},
		}.Policy()); err != nil {
			t.Fatal(err)
		}
		a, err := f.gate.RequestApproval(ctx, agent, api.ApprovalRequest{Resource: "vsecure://secrets/production/DB", Operation: "read", Reason: "deploy"})
		if err != nil {
			t.Fatal(err)
		}
		// Identity is the token's: the body cannot name someone else.
		if _, err := f.gate.Decide(ctx, gate.Call{Principal: jane}, a.ID, api.Respond{Action: "approve", ApprovedBy: "root"}); !vsecure.IsCode(err, vsecure.EForbidden) {
			t.Fatalf("approving as someone else: %v", err)
		}
		if _, err := f.gate.Decide(ctx, gate.Call{Principal: jane}, a.ID, api.Respond{Action: "approve"}); err != nil {
			t.Fatal(err)
		}
		// Both attempts, the refused one too, are jane's via OIDC.
		es := f.entries(vsecure.AuditApprove)
		ok := 0
		for _, e := range es {
			if e.Actor != "jane@example.com" || e.Metadata["credential"] != api.CredentialOIDC {
				t.Fatalf("approve entry %+v", e)
			}
			if e.Success {
				ok++
			}
		}
		if len(es) != 2 || ok != 1 {
			t.Fatalf("approve entries %+v, want one refused and one approved", es)
		}

		// A person whose groups map to no role is refused and audited.
		before := len(f.entries(vsecure.AuditAuthenticate))
		if _, err := f.gate.Authenticate(ctx, iss.IDToken(t, oidctest.User("eve@example.com", true, "engineering")), gate.Call{IP: "198.51.100.7"}); !vsecure.IsCode(err, vsecure.EUnauthenticated) {
			t.Fatalf("unmapped person: %v", err)
		}
		if err := f.gate.FlushRefusals(ctx); err != nil {
			t.Fatal(err)
		}
		if after := len(f.entries(vsecure.AuditAuthenticate)); after != before+1 {
			t.Fatalf("authenticate entries %d → %d, want one refusal", before, after)
		}
	})
}
