package gate

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// CreateKey mints an API key for a principal (admin).
func (g *Gate) CreateKey(ctx context.Context, c Call, r api.KeyRequest) (api.CreatedKey, error) {
	e := g.entry(c, vsecure.AuditKeyCreate, "")
	if !c.Principal.Has(vsecure.RoleAdmin) {
		return api.CreatedKey{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EForbidden, "managing keys needs the admin role"))
	}
	if err := vsecure.ValidatePrincipal(r.Principal); err != nil {
		return api.CreatedKey{}, g.fail(ctx, e, err)
	}
	roles, err := parseRoles(r.Roles)
	if err != nil {
		return api.CreatedKey{}, g.fail(ctx, e, err)
	}
	if err := ValidateSlackUserID(r.SlackUserID); err != nil {
		return api.CreatedKey{}, g.fail(ctx, e, err)
	}
	if r.OnBehalfOf != "" {
		if err := vsecure.ValidatePrincipal(r.OnBehalfOf); err != nil {
			return api.CreatedKey{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EInvalid, "onBehalfOf: %v", err))
		}
		if r.OnBehalfOf == r.Principal {
			return api.CreatedKey{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EInvalid, "onBehalfOf must name a principal other than the key's own"))
		}
		e.Metadata["keyOnBehalfOf"] = r.OnBehalfOf
	}
	k := g.newKey(c, e, vsecure.Key{Principal: r.Principal, Roles: roles, SlackUserID: r.SlackUserID, OnBehalfOf: r.OnBehalfOf})
	if err := g.store.CreateKey(ctx, k.Key, e); err != nil {
		return api.CreatedKey{}, g.stateFail(ctx, e, err)
	}
	return k, nil
}

// parseRoles checks a key's roles: at least one, each known; duplicates
// collapse.
func parseRoles(names []string) ([]vsecure.Role, error) {
	if len(names) == 0 {
		return nil, vsecure.Errorf(vsecure.EInvalid, "roles must list at least one role")
	}
	var roles []vsecure.Role
	for _, s := range names {
		role, err := vsecure.ParseRole(s)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(roles, role) {
			roles = append(roles, role)
		}
	}
	return roles, nil
}

// newKey returns a key shaped like k with a fresh id and secret, at
// version 1, and names it in e.
func (g *Gate) newKey(c Call, e vsecure.Entry, k vsecure.Key) api.CreatedKey {
	now := g.clock()
	secret := g.secret(KeyPrefix)
	k.ID, k.Hash, k.Version = g.newID("key_", g.now()), HashCredential(secret), 1
	k.CreatedAt, k.CreatedBy = now.Truncate(time.Second), c.Principal.ID
	e.Metadata["keyId"], e.Metadata["principal"] = k.ID, k.Principal
	return api.CreatedKey{Key: k, Secret: secret}
}

// changeKey applies change to key id and stores the result with write,
// conditional on the version it read (see vsecure.Store.UpdateKey). A lost
// race re-reads and applies change again, so a change is never built on a
// stale copy: the winner of a race is decided by the store, and the loser
// either succeeds on top of it or is refused by change (a revoked key, for
// instance) and audited as a failure.
func (g *Gate) changeKey(ctx context.Context, e vsecure.Entry, id string, change func(k *vsecure.Key) error, write func(k vsecure.Key) error) (vsecure.Key, error) {
	for attempt := 0; ; attempt++ {
		k, err := g.store.GetKey(ctx, id)
		if err != nil {
			return vsecure.Key{}, g.fail(ctx, e, err)
		}
		e.Metadata["principal"] = k.Principal
		if err := change(&k); err != nil {
			return vsecure.Key{}, g.fail(ctx, e, err)
		}
		k.Version++
		err = write(k)
		if vsecure.IsCode(err, vsecure.EConflict) && attempt < maxRaceRetries {
			continue
		}
		if err != nil {
			return vsecure.Key{}, g.stateFail(ctx, e, err)
		}
		return k, nil
	}
}

// notRevoked refuses changes to a revoked key: a revocation is final.
func notRevoked(k *vsecure.Key) error {
	if k.RevokedAt != nil {
		return vsecure.Errorf(vsecure.EAlreadyDecided, "key %s is revoked", k.ID)
	}
	return nil
}

// Rotation bounds.
const (
	DefaultOverlap = time.Hour
	MaxOverlap     = 30 * 24 * time.Hour
)

// RotateKey mints a new key for the same principal, roles and Slack user
// as key id and makes the old one expire after the overlap (admin), so
// callers can switch without an outage.
//
// The new key, the old key's shorter life and the audit entry are one
// atomic write: a rotation either happened entirely or not at all. Racing
// rotations of one key both succeed, one after the other; the old key ends
// at the earlier of their two ends.
func (g *Gate) RotateKey(ctx context.Context, c Call, id string, r api.RotateRequest) (api.RotatedKey, error) {
	e := g.entry(c, vsecure.AuditKeyRotate, "")
	e.Metadata["rotatedKeyId"] = id
	if !c.Principal.Has(vsecure.RoleAdmin) {
		return api.RotatedKey{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EForbidden, "managing keys needs the admin role"))
	}
	overlap := DefaultOverlap
	if r.OverlapSeconds != nil {
		overlap = time.Duration(*r.OverlapSeconds) * time.Second
		if *r.OverlapSeconds < 0 || overlap > MaxOverlap {
			return api.RotatedKey{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EInvalid, "overlapSeconds must be between 0 and %d", int(MaxOverlap.Seconds())))
		}
	}
	e.Metadata["overlapSeconds"] = itoa(int(overlap.Seconds()))
	var nk api.CreatedKey
	old, err := g.changeKey(ctx, e, id, func(old *vsecure.Key) error {
		if err := notRevoked(old); err != nil {
			return err
		}
		now := g.clock().Truncate(time.Second)
		if !old.Active(now) {
			return vsecure.Errorf(vsecure.EExpired, "key %s has expired", id)
		}
		if nk.ID == "" {
			nk = g.newKey(c, e, vsecure.Key{})
		}
		nk.Principal, nk.Roles, nk.SlackUserID, nk.OnBehalfOf, nk.RotatedFrom = old.Principal, old.Roles, old.SlackUserID, old.OnBehalfOf, old.ID
		e.Metadata["principal"] = old.Principal
		// The old key ends after the overlap, or sooner if it was due to.
		if end := now.Add(overlap); old.ExpiresAt == nil || end.Before(*old.ExpiresAt) {
			old.ExpiresAt = &end
		}
		return nil
	}, func(old vsecure.Key) error {
		return g.store.RotateKey(ctx, old, nk.Key, e)
	})
	if err != nil {
		return api.RotatedKey{}, err
	}
	return api.RotatedKey{CreatedKey: nk, Replaces: old}, nil
}

// ListKeys lists keys without their secrets (admin).
func (g *Gate) ListKeys(ctx context.Context, c Call, cursor string, limit int) ([]vsecure.Key, api.Pagination, error) {
	e := g.entry(c, vsecure.AuditKeyList, "")
	if !c.Principal.Has(vsecure.RoleAdmin) {
		return nil, api.Pagination{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EForbidden, "managing keys needs the admin role"))
	}
	n, err := pageLimit(limit)
	if err != nil {
		return nil, api.Pagination{}, g.fail(ctx, e, err)
	}
	scope := "keys\x00" + c.Principal.ID
	cs, err := g.cursors(ctx)
	if err != nil {
		return nil, api.Pagination{}, g.fail(ctx, e, err)
	}
	raw, err := cs.open(scope, cursor)
	if err != nil {
		return nil, api.Pagination{}, g.fail(ctx, e, err)
	}
	keys, next, err := g.store.ListKeys(ctx, raw, n)
	if err != nil {
		return nil, api.Pagination{}, g.fail(ctx, e, err)
	}
	if err := g.appendOK(ctx, e); err != nil {
		return nil, api.Pagination{}, err
	}
	return keys, api.Pagination{Cursor: cs.sign(scope, next), HasMore: next != ""}, nil
}

// RevokeKey revokes a key at once (admin). Of racing revocations exactly
// one succeeds; the others find the key revoked (already_decided).
func (g *Gate) RevokeKey(ctx context.Context, c Call, id string) (vsecure.Key, error) {
	e := g.entry(c, vsecure.AuditKeyRevoke, "")
	e.Metadata["keyId"] = id
	if !c.Principal.Has(vsecure.RoleAdmin) {
		return vsecure.Key{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EForbidden, "managing keys needs the admin role"))
	}
	return g.changeKey(ctx, e, id, func(k *vsecure.Key) error {
		if k.RevokedAt != nil {
			return vsecure.Errorf(vsecure.EAlreadyDecided, "key %s is already revoked", id)
		}
		now := g.clock().Truncate(time.Second)
		k.RevokedAt = &now
		return nil
	}, func(k vsecure.Key) error { return g.store.UpdateKey(ctx, k, e) })
}

// UpdateKey changes the Slack user id or the roles of a key (admin). A
// revoked key cannot change.
func (g *Gate) UpdateKey(ctx context.Context, c Call, id string, r api.KeyUpdateRequest) (vsecure.Key, error) {
	e := g.entry(c, vsecure.AuditKeyUpdate, "")
	e.Metadata["keyId"] = id
	if !c.Principal.Has(vsecure.RoleAdmin) {
		return vsecure.Key{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EForbidden, "managing keys needs the admin role"))
	}
	if r.SlackUserID == nil && r.Roles == nil {
		return vsecure.Key{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EInvalid, "give slackUserId (\"\" removes the mapping), roles, or both"))
	}
	var changed []string
	var roles []vsecure.Role
	if r.Roles != nil {
		var err error
		if roles, err = parseRoles(r.Roles); err != nil {
			return vsecure.Key{}, g.fail(ctx, e, err)
		}
		changed = append(changed, "roles")
		e.Metadata["roles"] = joinRoles(roles)
	}
	if r.SlackUserID != nil {
		if err := ValidateSlackUserID(*r.SlackUserID); err != nil {
			return vsecure.Key{}, g.fail(ctx, e, err)
		}
		changed = append(changed, "slackUserId")
		e.Metadata["slackUserId"] = *r.SlackUserID
	}
	e.Metadata["changed"] = strings.Join(changed, ",")
	return g.changeKey(ctx, e, id, func(k *vsecure.Key) error {
		if err := notRevoked(k); err != nil {
			return err
		}
		delete(e.Metadata, "previousRoles")
		delete(e.Metadata, "previousSlackUserId")
		if roles != nil {
			e.Metadata["previousRoles"] = joinRoles(k.Roles)
			k.Roles = roles
		}
		if r.SlackUserID != nil {
			if k.SlackUserID != "" {
				e.Metadata["previousSlackUserId"] = k.SlackUserID
			}
			k.SlackUserID = *r.SlackUserID
		}
		return nil
	}, func(k vsecure.Key) error { return g.store.UpdateKey(ctx, k, e) })
}

func joinRoles(roles []vsecure.Role) string {
	s := make([]string, len(roles))
	for i, r := range roles {
		s[i] = string(r)
	}
	return strings.Join(s, ",")
}
