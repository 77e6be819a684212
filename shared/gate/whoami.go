package gate

import (
	"context"
	"time"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// Credential kinds a caller can present.
const (
	CredentialAPIKey      = "api_key"
	CredentialAccessToken = "access_token"
)

// Identity is the body of GET /v1/security/whoami: who the credential
// makes the caller. Tools (the MCP server) use it to tell the caller's own
// approvals from the ones it merely sees as an approver.
type Identity struct {
	Principal string         `json:"principal"`
	Roles     []vsecure.Role `json:"roles"`
	KeyID     string         `json:"keyId,omitempty"`
	// OnBehalfOf is the human a key acts for; no key does yet.
	OnBehalfOf string `json:"onBehalfOf,omitempty"`
	// Credential is api_key or access_token.
	Credential string `json:"credential"`
	// Scope is set for an access token: the one operation it allows.
	Scope *ScopeView `json:"scope,omitempty"`
}

// ScopeView is an access token's scope as callers see it.
type ScopeView struct {
	ApprovalID string            `json:"approvalId"`
	Resource   string            `json:"resource"`
	Operation  vsecure.Operation `json:"operation"`
	ExpiresAt  time.Time         `json:"expiresAt"`
}

// Whoami describes the caller. Any authenticated caller may ask; the
// answer is audited like every other call.
func (g *Gate) Whoami(ctx context.Context, c Call) (Identity, error) {
	e := g.entry(c, vsecure.AuditWhoami, "")
	p := c.Principal
	if p.ID == "" {
		return Identity{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EUnauthenticated, "a valid API key is required"))
	}
	id := Identity{Principal: p.ID, Roles: []vsecure.Role{}, KeyID: p.KeyID, Credential: CredentialAPIKey}
	if s := p.Scope; s != nil {
		// Scoped principals hold no roles (Principal.Has), so none are shown.
		id.Credential = CredentialAccessToken
		id.Scope = &ScopeView{ApprovalID: s.ApprovalID, Resource: s.Resource, Operation: s.Operation, ExpiresAt: s.ExpiresAt}
		e.ApprovalID = s.ApprovalID
	} else if len(p.Roles) > 0 {
		id.Roles = p.Roles
	}
	if err := g.appendOK(ctx, e); err != nil {
		return Identity{}, err
	}
	return id, nil
}
