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
	if err := ValidateSlackUserID(r.SlackUserID); err != nil {
		return CreatedKey{}, g.fail(ctx, e, err)
	}
	return g.mintKey(ctx, c, e, vsecure.Key{Principal: r.Principal, Roles: roles, SlackUserID: r.SlackUserID})
}

// mintKey stores a new key shaped like k with a fresh id and secret,
// writing e with it.
func (g *Gate) mintKey(ctx context.Context, c Call, e vsecure.Entry, k vsecure.Key) (CreatedKey, error) {
	now := g.clock()
	secret := g.secret(KeyPrefix)
	k.ID, k.Hash = g.newID("key_", g.now()), HashCredential(secret)
	k.CreatedAt, k.CreatedBy = now.Truncate(time.Second), c.Principal.ID
	e.Metadata["keyId"], e.Metadata["principal"] = k.ID, k.Principal
	if err := g.store.CreateKey(ctx, k, e); err != nil {
		return CreatedKey{}, g.stateFail(ctx, e, err)
	}
	return CreatedKey{Key: k, Secret: secret}, nil
}

// RotateRequest is the body of POST /v1/security/keys/:id/rotate.
type RotateRequest struct {
	// OverlapSeconds is how long the old key keeps working; nil means
	// DefaultOverlap, 0 ends it at once.
	OverlapSeconds *int `json:"overlapSeconds"`
}

// Rotation bounds.
const (
	DefaultOverlap = time.Hour
	MaxOverlap     = 30 * 24 * time.Hour
)

// RotatedKey is the new key (its secret shown once) and the old key with
// the expiry the rotation gave it.
type RotatedKey struct {
	CreatedKey
	Replaces vsecure.Key `json:"replaces"`
}

// RotateKey mints a new key for the same principal, roles and Slack user
// as key id and makes the old one expire after the overlap (admin), so
// callers can switch without an outage.
//
// The new key is stored before the old one is cut short: if the second
// write fails the caller sees the error and the old key still works
// unchanged; the new key's secret was never shown, so it is unusable.
func (g *Gate) RotateKey(ctx context.Context, c Call, id string, r RotateRequest) (RotatedKey, error) {
	e := g.entry(c, vsecure.AuditKeyRotate, "")
	e.Metadata["rotatedKeyId"] = id
	if !c.Principal.Has(vsecure.RoleAdmin) {
		return RotatedKey{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EForbidden, "managing keys needs the admin role"))
	}
	overlap := DefaultOverlap
	if r.OverlapSeconds != nil {
		overlap = time.Duration(*r.OverlapSeconds) * time.Second
		if *r.OverlapSeconds < 0 || overlap > MaxOverlap {
			return RotatedKey{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EInvalid, "overlapSeconds must be between 0 and %d", int(MaxOverlap.Seconds())))
		}
	}
	old, err := g.store.GetKey(ctx, id)
	if err != nil {
		return RotatedKey{}, g.fail(ctx, e, err)
	}
	now := g.clock().Truncate(time.Second)
	if old.RevokedAt != nil {
		return RotatedKey{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EAlreadyDecided, "key %s is revoked", id))
	}
	if !old.Active(now) {
		return RotatedKey{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EExpired, "key %s has expired", id))
	}
	e.Metadata["overlapSeconds"] = itoa(int(overlap.Seconds()))
	nk, err := g.mintKey(ctx, c, e, vsecure.Key{
		Principal: old.Principal, Roles: old.Roles, SlackUserID: old.SlackUserID, RotatedFrom: old.ID,
	})
	if err != nil {
		return RotatedKey{}, err
	}
	// The old key ends after the overlap, or sooner if it was due to.
	end := now.Add(overlap)
	if old.ExpiresAt == nil || end.Before(*old.ExpiresAt) {
		old.ExpiresAt = &end
	}
	// The new key's creation carries the rotation's audit entry; cutting
	// the old key short is part of that same audited operation.
	if err := g.store.UpdateKey(ctx, old, vsecure.Entry{}); err != nil {
		g.log.ErrorContext(ctx, "rotation: old key not cut short", "keyId", old.ID, "newKeyId", nk.ID, "err", err)
		return RotatedKey{}, vsecure.Wrap(vsecure.EUnavailable, err, "the old key could not be updated; it still works unchanged, rotate again")
	}
	return RotatedKey{CreatedKey: nk, Replaces: old}, nil
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
