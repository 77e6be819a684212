package gate

import (
	"context"
	"strings"
	"time"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// Authenticate resolves a credential (API key or access token) to a
// principal. A refused credential is audited as actor "anonymous"
// (aggregated per source and reason, refusals.go). The
// Lambda authorizer and the local middleware both call this.
func (g *Gate) Authenticate(ctx context.Context, cred string, c Call) (vsecure.Principal, error) {
	p, err := g.resolve(ctx, cred)
	if err != nil {
		c.Principal = vsecure.Principal{}
		return vsecure.Principal{}, g.refuse(ctx, g.entry(c, vsecure.AuditAuthenticate, ""), err)
	}
	return p, nil
}

func (g *Gate) resolve(ctx context.Context, cred string) (vsecure.Principal, error) {
	unauth := vsecure.Errorf(vsecure.EUnauthenticated, "a valid API key is required (Authorization: Bearer <key> or X-API-Key)")
	if LooksLikeJWT(cred) {
		return g.resolveHuman(ctx, cred)
	}
	if cred == "" || len(cred) > 256 {
		return vsecure.Principal{}, unauth
	}
	now := g.clock()
	switch {
	case strings.HasPrefix(cred, KeyPrefix):
		k, err := g.store.KeyByHash(ctx, HashCredential(cred))
		if vsecure.IsCode(err, vsecure.ENotFound) {
			return vsecure.Principal{}, unauth
		}
		if err != nil {
			return vsecure.Principal{}, err
		}
		if !k.Active(now) {
			return vsecure.Principal{}, vsecure.Errorf(vsecure.EUnauthenticated, "the API key has been revoked or has expired")
		}
		g.markUsed(ctx, k, now)
		return vsecure.Principal{ID: k.Principal, Roles: k.Roles, KeyID: k.ID, OnBehalfOf: k.OnBehalfOf}, nil
	case strings.HasPrefix(cred, TokenPrefix):
		a, err := g.store.ApprovalByToken(ctx, HashCredential(cred))
		if vsecure.IsCode(err, vsecure.ENotFound) {
			return vsecure.Principal{}, unauth
		}
		if err != nil {
			return vsecure.Principal{}, err
		}
		if a.StatusAt(now) != vsecure.StatusApproved {
			return vsecure.Principal{}, vsecure.Errorf(vsecure.EUnauthenticated, "the access token is no longer valid (approval %s is %s)", a.ID, a.StatusAt(now))
		}
		if a.Spent() {
			return vsecure.Principal{}, vsecure.Errorf(vsecure.EUnauthenticated, "the access token is no longer valid (approval %s has no use left)", a.ID)
		}
		if err := g.boundKeyActive(ctx, a, now); err != nil {
			return vsecure.Principal{}, err
		}
		return vsecure.Principal{ID: a.RequestedBy, KeyID: a.RequestedByKey, OnBehalfOf: a.OnBehalfOf, Scope: &vsecure.Scope{
			ApprovalID: a.ID, Resource: a.Resource, Operation: a.Operation, ExpiresAt: a.ExpiresAt,
		}}, nil
	}
	return vsecure.Principal{}, unauth
}

// boundKeyActive checks that the key which requested a is still active:
// an access token ends with the key that earned it. An approval with no
// recorded key predates the binding; its token is refused rather than
// trusted unbound, and the requester still reads with its own key, which
// the approval grants.
func (g *Gate) boundKeyActive(ctx context.Context, a vsecure.Approval, now time.Time) error {
	gone := vsecure.Errorf(vsecure.EUnauthenticated, "the access token is no longer valid (the key that requested approval %s is revoked or expired)", a.ID)
	if a.RequestedByKey == "" {
		return vsecure.Errorf(vsecure.EUnauthenticated, "the access token of approval %s is bound to no key; request approval again", a.ID)
	}
	k, err := g.store.GetKey(ctx, a.RequestedByKey)
	if vsecure.IsCode(err, vsecure.ENotFound) {
		return gone
	}
	if err != nil {
		return err
	}
	if !k.Active(now) || k.Principal != a.RequestedBy {
		return gone
	}
	return nil
}

// judgeKey judges p's key k as read from the store now (p may come from
// a cached authorizer answer that predates a revocation or a role
// change): the key must exist, belong to p and be active. It returns the
// key holder as the key makes it now: p's id with the stored roles and
// no scope.
func judgeKey(p vsecure.Principal, k *vsecure.Key, now time.Time) (vsecure.Principal, error) {
	if p.KeyID == "" || k == nil || k.Principal != p.ID || !k.Active(now) {
		return vsecure.Principal{}, vsecure.Errorf(vsecure.EUnauthenticated, "the API key behind this credential is revoked or has expired")
	}
	return vsecure.Principal{ID: p.ID, Roles: k.Roles, KeyID: p.KeyID, OnBehalfOf: k.OnBehalfOf}, nil
}

// LivePrincipal re-reads p's key (one strongly consistent read) and
// returns p as that key makes it now (judgeKey). Endpoints behind a
// cached authorizer answer call it before acting on p; the secret read
// and write judge the key within their own read instead. A store failure
// refuses: an unchecked principal is not let through.
func (g *Gate) LivePrincipal(ctx context.Context, p vsecure.Principal) (vsecure.Principal, error) {
	if p.KeyID == "" {
		return judgeKey(p, nil, g.clock())
	}
	k, err := g.store.GetKey(ctx, p.KeyID)
	if vsecure.IsCode(err, vsecure.ENotFound) {
		return judgeKey(p, nil, g.clock())
	}
	if err != nil {
		return vsecure.Principal{}, vsecure.Wrap(vsecure.EUnavailable, err, "the API key could not be checked; try again")
	}
	holder, err := judgeKey(p, &k, g.clock())
	if err != nil {
		return vsecure.Principal{}, err
	}
	if p.Scope != nil {
		// A token keeps its scope and holds no roles; its approval is
		// judged by the one operation it can perform (ReadSecret,
		// WriteSecret).
		return p, nil
	}
	return holder, nil
}

// markUsed records the key's last use at most once per
// vsecure.KeyUseInterval, judged from the LastUsedAt the lookup just read,
// so the write rides on a read every request makes anyway and most
// requests write nothing. It is best effort: a failure is logged, never
// returned, and bounded in time so it cannot hold up the request.
func (g *Gate) markUsed(ctx context.Context, k vsecure.Key, now time.Time) {
	since := now.Add(-vsecure.KeyUseInterval)
	if k.LastUsedAt != nil && !k.LastUsedAt.Before(since) {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markUsedTimeout)
	defer cancel()
	if err := g.store.MarkKeyUsed(ctx, k, now.Truncate(time.Second), since); err != nil {
		g.log.WarnContext(ctx, "recording key use failed", "keyId", k.ID, "err", err)
	}
}

// markUsedTimeout bounds the last-used write.
const markUsedTimeout = 500 * time.Millisecond

// RecordRefusal audits a call refused before it reached a service method
// (unauthenticated, malformed, too large). It returns err, or
// audit_unavailable if the refusal could not be recorded. Anonymous ones
// may be aggregated (refusals.go).
func (g *Gate) RecordRefusal(ctx context.Context, c Call, op, resource string, err error) error {
	return g.refuse(ctx, g.entry(c, op, resource), err)
}

// EnsureKey makes sure a key with the given secret exists for principal
// (the local server's bootstrap admin key). It is idempotent.
func (g *Gate) EnsureKey(ctx context.Context, cred, principal string, roles []vsecure.Role) error {
	if !strings.HasPrefix(cred, KeyPrefix) || len(cred) < len(KeyPrefix)+32 {
		return vsecure.Errorf(vsecure.EInvalid, "an API key starts with %q and has at least 32 characters after it", KeyPrefix)
	}
	h := HashCredential(cred)
	if _, err := g.store.KeyByHash(ctx, h); err == nil {
		return nil
	} else if !vsecure.IsCode(err, vsecure.ENotFound) {
		return err
	}
	now := g.clock()
	k := vsecure.Key{
		ID: g.newID("key_", now), Principal: principal, Roles: roles, Hash: h,
		CreatedAt: now.Truncate(time.Second), CreatedBy: "bootstrap",
	}
	e := g.entry(Call{Principal: vsecure.Principal{ID: "bootstrap"}}, vsecure.AuditKeyCreate, "")
	e.Metadata["keyId"] = k.ID
	e.Metadata["principal"] = principal
	return g.store.CreateKey(ctx, k, e)
}

// NewAdminKey mints a fresh key secret (for the local server to print).
func (g *Gate) NewAdminKey() string { return g.secret(KeyPrefix) }
