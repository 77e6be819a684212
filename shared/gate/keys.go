package gate

import (
	"context"
	"slices"
	"time"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// KeyRequest is the body of POST /v1/security/keys.
type KeyRequest struct {
	Principal   string   `json:"principal"`
	Roles       []string `json:"roles"`
	SlackUserID string   `json:"slackUserId"`
}

// CreatedKey is shown once: Key is never retrievable again.
type CreatedKey struct {
	vsecure.Key
	Secret string `json:"key"`
}

// CreateKey mints an API key for a principal (admin).
func (g *Gate) CreateKey(ctx context.Context, c Call, r KeyRequest) (CreatedKey, error) {
	e := g.entry(c, vsecure.AuditKeyCreate, "")
	if !c.Principal.Has(vsecure.RoleAdmin) {
		return CreatedKey{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EForbidden, "managing keys needs the admin role"))
	}
	if err := vsecure.ValidatePrincipal(r.Principal); err != nil {
		return CreatedKey{}, g.fail(ctx, e, err)
	}
	if len(r.Roles) == 0 {
		return CreatedKey{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EInvalid, "roles must list at least one role"))
	}
	var roles []vsecure.Role
	for _, s := range r.Roles {
		role, err := vsecure.ParseRole(s)
		if err != nil {
			return CreatedKey{}, g.fail(ctx, e, err)
		}
		if !slices.Contains(roles, role) {
			roles = append(roles, role)
		}
	}
	if len(r.SlackUserID) > 32 {
		return CreatedKey{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EInvalid, "slackUserId too long"))
	}
	now := g.clock()
	secret := g.secret(KeyPrefix)
	k := vsecure.Key{
		ID: g.newID("key_", g.now()), Principal: r.Principal, Roles: roles, Hash: HashCredential(secret),
		SlackUserID: r.SlackUserID, CreatedAt: now.Truncate(time.Second), CreatedBy: c.Principal.ID,
	}
	e.Metadata["keyId"], e.Metadata["principal"] = k.ID, k.Principal
	if err := g.store.CreateKey(ctx, k, e); err != nil {
		return CreatedKey{}, g.stateFail(ctx, e, err)
	}
	return CreatedKey{Key: k, Secret: secret}, nil
}

// ListKeys lists keys without their secrets (admin).
func (g *Gate) ListKeys(ctx context.Context, c Call, cursor string, limit int) ([]vsecure.Key, Pagination, error) {
	e := g.entry(c, vsecure.AuditKeyList, "")
	if !c.Principal.Has(vsecure.RoleAdmin) {
		return nil, Pagination{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EForbidden, "managing keys needs the admin role"))
	}
	n, err := pageLimit(limit)
	if err != nil {
		return nil, Pagination{}, g.fail(ctx, e, err)
	}
	scope := "keys\x00" + c.Principal.ID
	cs, err := g.cursors(ctx)
	if err != nil {
		return nil, Pagination{}, g.fail(ctx, e, err)
	}
	raw, err := cs.open(scope, cursor)
	if err != nil {
		return nil, Pagination{}, g.fail(ctx, e, err)
	}
	keys, next, err := g.store.ListKeys(ctx, raw, n)
	if err != nil {
		return nil, Pagination{}, g.fail(ctx, e, err)
	}
	if err := g.appendOK(ctx, e); err != nil {
		return nil, Pagination{}, err
	}
	return keys, Pagination{Cursor: cs.sign(scope, next), HasMore: next != ""}, nil
}

// RevokeKey revokes a key at once (admin).
func (g *Gate) RevokeKey(ctx context.Context, c Call, id string) (vsecure.Key, error) {
	e := g.entry(c, vsecure.AuditKeyRevoke, "")
	e.Metadata["keyId"] = id
	if !c.Principal.Has(vsecure.RoleAdmin) {
		return vsecure.Key{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EForbidden, "managing keys needs the admin role"))
	}
	k, err := g.store.GetKey(ctx, id)
	if err != nil {
		return vsecure.Key{}, g.fail(ctx, e, err)
	}
	if k.RevokedAt != nil {
		return k, g.fail(ctx, e, vsecure.Errorf(vsecure.EAlreadyDecided, "key %s is already revoked", id))
	}
	now := g.clock().Truncate(time.Second)
	k.RevokedAt = &now
	e.Metadata["principal"] = k.Principal
	if err := g.store.UpdateKey(ctx, k, e); err != nil {
		return vsecure.Key{}, g.stateFail(ctx, e, err)
	}
	return k, nil
}
