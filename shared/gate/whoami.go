package gate

import (
	"context"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// Whoami describes the caller. Any authenticated caller may ask; the
// answer is audited like every other call.
func (g *Gate) Whoami(ctx context.Context, c Call) (api.Identity, error) {
	e := g.entry(c, vsecure.AuditWhoami, "")
	p := c.Principal
	if p.ID == "" {
		return api.Identity{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EUnauthenticated, "a valid API key is required"))
	}
	id := api.Identity{Principal: p.ID, Roles: []vsecure.Role{}, KeyID: p.KeyID, OnBehalfOf: p.OnBehalfOf, Credential: api.CredentialAPIKey}
	if p.Human {
		id.Credential = api.CredentialOIDC
	}
	if s := p.Scope; s != nil {
		// Scoped principals hold no roles (Principal.Has), so none are shown.
		id.Credential = api.CredentialAccessToken
		id.Scope = &api.ScopeView{ApprovalID: s.ApprovalID, Resource: s.Resource, Operation: s.Operation, ExpiresAt: s.ExpiresAt}
		e.ApprovalID = s.ApprovalID
	} else if len(p.Roles) > 0 {
		id.Roles = p.Roles
	}
	if err := g.appendOK(ctx, e); err != nil {
		return api.Identity{}, err
	}
	return id, nil
}
