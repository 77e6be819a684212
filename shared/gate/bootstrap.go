package gate

import (
	"context"
	"slices"
	"strconv"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// bootstrapScanPages bounds the search for an active admin key: pages of
// the keys listing (a Query, never a Scan), 100 keys each.
const bootstrapScanPages = 20

// Bootstrap mints an admin key for r.Principal if no active admin key
// exists and no bootstrap minted one before, or always with r.BreakGlass. It is called only by the operator's
// own AWS credentials (no route reaches it). The key is audited as
// key_bootstrap with the break-glass flag and the claimed caller.
func (g *Gate) Bootstrap(ctx context.Context, r api.BootstrapRequest) (api.CreatedKey, error) {
	if r.Principal == "" {
		r.Principal = "admin"
	}
	c := Call{Principal: vsecure.Principal{ID: "bootstrap"}, Metadata: map[string]string{
		"breakGlass": strconv.FormatBool(r.BreakGlass), "requestedBy": r.RequestedBy, "requestedByClaimed": "true",
	}}
	e := g.entry(c, vsecure.AuditKeyBootstrap, "")
	if err := vsecure.ValidatePrincipal(r.Principal); err != nil {
		return api.CreatedKey{}, g.fail(ctx, e, err)
	}
	if r.RequestedBy == "" {
		return api.CreatedKey{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EInvalid, "requestedBy (the caller's ARN) is required"))
	}
	if !r.BreakGlass {
		id, err := g.activeAdmin(ctx)
		if err != nil {
			return api.CreatedKey{}, g.fail(ctx, e, err)
		}
		if id != "" {
			e.Metadata["existingKeyId"] = id
			return api.CreatedKey{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EAlreadyDecided,
				"an active admin key exists (%s); create further keys with it, or bootstrap with breakGlass", id))
		}
	}
	k := g.newKey(c, e, vsecure.Key{Principal: r.Principal, Roles: []vsecure.Role{vsecure.RoleAdmin}})
	// The listing above cannot stop two bootstraps running at once (each
	// finds no admin); the store's bootstrap marker, written with the key,
	// lets exactly one of them mint. It names the key it bootstrapped, and
	// a later bootstrap may replace it only once that key is inactive.
	if err := g.store.BootstrapKey(ctx, k.Key, e, r.BreakGlass); err != nil {
		delete(e.Metadata, "keyId") // never minted
		return api.CreatedKey{}, g.stateFail(ctx, e, err)
	}
	return k, nil
}

// activeAdmin returns the id of an active admin key, or "" if the keys
// listing holds none. More keys than the bound without an admin among them
// is refused rather than guessed: break-glass is the way past it.
func (g *Gate) activeAdmin(ctx context.Context) (string, error) {
	now := g.clock()
	cursor := ""
	for range bootstrapScanPages {
		keys, next, err := g.store.ListKeys(ctx, cursor, api.MaxLimit)
		if err != nil {
			return "", err
		}
		for _, k := range keys {
			if k.Active(now) && k.Principal != "" && slices.Contains(k.Roles, vsecure.RoleAdmin) {
				return k.ID, nil
			}
		}
		if next == "" {
			return "", nil
		}
		cursor = next
	}
	return "", vsecure.Errorf(vsecure.EInvalid, "more than %d keys and no active admin among the first of them; bootstrap with breakGlass", bootstrapScanPages*api.MaxLimit)
}
