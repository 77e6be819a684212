// Package gatetest holds gate scenarios that depend on what a store keeps,
// run by every store package against its own store (bbolt and DynamoDB
// Local), like storetest one layer down.
//
// The revocation scenarios check that access ends with what earned it. In
// AWS the endpoint functions get the caller's principal from the
// authorizer's cached answer, which may predate a revocation or a role
// change; the scenarios therefore authenticate once, change the world, and
// hand the gate the principal captured before, exactly as a stale cache
// entry would.
package gatetest

import (
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/crypto/local"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// Fixture URIs: staging needs no approval, production does.
const (
	stagingURI    = "vsecure://secrets/staging/API_TOKEN"
	productionURI = "vsecure://secrets/production/DATABASE_URL"
)

// world is a gate over one store with both policies, a secret under each,
// and real keys for an admin, an agent and an approver.
type world struct {
	t                   *testing.T
	g                   *gate.Gate
	s                   vsecure.Store
	admin, alice        gate.Call
	agentKey            string // the agent's API key
	agentKeyID          string
	adminKeyID          string
	staging, production vsecure.URI
}

func newWorld(t *testing.T, s vsecure.Store) *world {
	t.Helper()
	ctx := t.Context()
	sealer, err := local.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	g, err := gate.New(gate.Config{Store: s, Sealer: sealer, CursorKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, g: g, s: s}
	w.staging, _ = vsecure.ParseURI(stagingURI)
	w.production, _ = vsecure.ParseURI(productionURI)
	bootstrap := gate.Call{Principal: vsecure.Principal{ID: "bootstrap", Roles: []vsecure.Role{vsecure.RoleAdmin}}}
	mint := func(principal string, role vsecure.Role) api.CreatedKey {
		t.Helper()
		k, err := g.CreateKey(ctx, bootstrap, api.KeyRequest{Principal: principal, Roles: []string{string(role)}})
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	ak := mint("admin", vsecure.RoleAdmin)
	w.admin, w.adminKeyID = w.authenticate(ak.Secret), ak.ID
	w.alice = w.authenticate(mint("alice", vsecure.RoleApprover).Secret)
	gk := mint("agent-1", vsecure.RoleAgent)
	w.agentKey, w.agentKeyID = gk.Secret, gk.ID
	for _, p := range []vsecure.Policy{
		{URI: "vsecure://secrets/staging/*", Permissions: []vsecure.Operation{vsecure.OpRead, vsecure.OpWrite}},
		{URI: "vsecure://secrets/production/*", Permissions: []vsecure.Operation{vsecure.OpRead},
			RequiresApproval: true, Approvers: []string{"alice"}},
	} {
		if _, err := g.ConfigurePolicy(ctx, w.admin, p); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []vsecure.URI{w.staging, w.production} {
		v := "value of " + u.String()
		if _, err := g.WriteSecret(ctx, w.admin, u, api.SecretWrite{Value: &v}); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// authenticate resolves a credential as the authorizer does, giving the
// principal a cache would hold on to.
func (w *world) authenticate(cred string) gate.Call {
	w.t.Helper()
	p, err := w.g.Authenticate(w.t.Context(), cred, gate.Call{})
	if err != nil {
		w.t.Fatalf("authenticate: %v", err)
	}
	return gate.Call{Principal: p}
}

// token has the agent request read access to production and alice approve
// it; it returns the access token.
func (w *world) token() (approvalID, token string) {
	w.t.Helper()
	ctx := w.t.Context()
	a, err := w.g.RequestApproval(ctx, w.authenticate(w.agentKey), api.ApprovalRequest{Resource: productionURI, Operation: "read", Reason: "deploy"})
	if err != nil {
		w.t.Fatal(err)
	}
	d, err := w.g.Decide(ctx, w.alice, a.ID, api.Respond{Action: "approve"})
	if err != nil || d.AccessToken == "" {
		w.t.Fatalf("approve: %v (token issued: %v)", err, d.AccessToken != "")
	}
	return a.ID, d.AccessToken
}

func (w *world) read(c gate.Call, u vsecure.URI) error {
	_, err := w.g.ReadSecret(w.t.Context(), c, u, 0)
	return err
}

func (w *world) write(c gate.Call, u vsecure.URI) error {
	v := "new value"
	_, err := w.g.WriteSecret(w.t.Context(), c, u, api.SecretWrite{Value: &v})
	return err
}

func (w *world) want(err error, code vsecure.Code, what string) {
	w.t.Helper()
	if code == "" {
		if err != nil {
			w.t.Fatalf("%s: %v, want success", what, err)
		}
		return
	}
	if !vsecure.IsCode(err, code) {
		w.t.Fatalf("%s: got %v (code %q), want %q", what, err, vsecure.ErrorCode(err), code)
	}
}

// setRoles changes a key's roles directly in the store, as a role change
// through PATCH /v1/security/keys/:id leaves it.
func (w *world) setRoles(keyID string, roles ...vsecure.Role) {
	w.t.Helper()
	ctx := w.t.Context()
	k, err := w.s.GetKey(ctx, keyID)
	if err != nil {
		w.t.Fatal(err)
	}
	k.Roles = roles
	k.Version++
	now := time.Now().UTC().Truncate(time.Second)
	e := vsecure.Entry{ID: "log_roles_" + keyID, Timestamp: now, Operation: vsecure.AuditKeyUpdate, Actor: "admin", Success: true,
		Metadata: map[string]string{"keyId": keyID}}
	if err := w.s.UpdateKey(ctx, k, e); err != nil {
		w.t.Fatalf("UpdateKey %s roles: %v", keyID, err)
	}
}

// TokenDiesWithKey: revoking the key that requested an approval ends the
// access token issued on it at once, both at authentication and for a
// principal a cache resolved before the revocation.
func TokenDiesWithKey(t *testing.T, s vsecure.Store) {
	w := newWorld(t, s)
	_, token := w.token()
	tok := w.authenticate(token)
	agent := w.authenticate(w.agentKey)
	w.want(w.read(tok, w.production), "", "token read before the key's revocation")

	if _, err := w.g.RevokeKey(t.Context(), w.admin, w.agentKeyID); err != nil {
		t.Fatal(err)
	}
	_, err := w.g.Authenticate(t.Context(), token, gate.Call{})
	w.want(err, vsecure.EUnauthenticated, "authenticating the token after its key's revocation")
	w.want(w.read(tok, w.production), vsecure.EUnauthenticated, "token read with the principal resolved before the key's revocation")
	w.want(w.read(agent, w.staging), vsecure.EUnauthenticated, "key read with the principal resolved before its revocation")
	w.want(w.write(agent, w.staging), vsecure.EUnauthenticated, "key write with the principal resolved before its revocation")
}

// TokenDiesWithApproval: revoking an approval ends its access token at
// once, even for a principal (and scope) resolved before the revocation.
func TokenDiesWithApproval(t *testing.T, s vsecure.Store) {
	w := newWorld(t, s)
	id, token := w.token()
	tok := w.authenticate(token)
	w.want(w.read(tok, w.production), "", "token read before the approval's revocation")

	if _, err := w.g.Revoke(t.Context(), w.alice, id); err != nil {
		t.Fatal(err)
	}
	_, err := w.g.Authenticate(t.Context(), token, gate.Call{})
	w.want(err, vsecure.EUnauthenticated, "authenticating the token after its approval's revocation")
	w.want(w.read(tok, w.production), vsecure.EUnauthenticated, "token read with the scope resolved before the approval's revocation")
	w.want(w.read(w.authenticate(w.agentKey), w.production), vsecure.EApprovalRequired, "key read after the approval's revocation")
}

// StaleRolesRefused: a secret read or write acts with the roles the key
// holds now, not those of a principal resolved before a role change.
func StaleRolesRefused(t *testing.T, s vsecure.Store) {
	w := newWorld(t, s)
	_, token := w.token()
	tok := w.authenticate(token)
	agent := w.authenticate(w.agentKey)
	w.want(w.read(agent, w.staging), "", "agent read before the role change")
	w.want(w.read(w.admin, w.production), "", "admin read of a gated secret before the role change")

	w.setRoles(w.agentKeyID, vsecure.RoleAuditor)
	w.want(w.read(agent, w.staging), vsecure.EForbidden, "read with the agent principal resolved before agent → auditor")
	w.want(w.write(agent, w.staging), vsecure.EForbidden, "write with the agent principal resolved before agent → auditor")
	w.want(w.read(tok, w.production), vsecure.EForbidden, "token read after its key went agent → auditor")

	w.setRoles(w.adminKeyID, vsecure.RoleAgent)
	w.want(w.read(w.admin, w.production), vsecure.EApprovalRequired, "read with the admin principal resolved before admin → agent")
}
