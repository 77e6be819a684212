package gate

import (
	"context"
	"unicode"
	"unicode/utf8"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// maxPasskeyName bounds the user's label of a passkey.
const maxPasskeyName = 64

// RegisterPasskey stores a passkey the caller's authenticator just created
// (shared/passkey verified the ceremony) together with its audit entry:
// a principal's second factor is a state change, audited or not done. The
// passkey belongs to the caller, whatever p.Principal says.
//
// Only principals who decide or administer hold passkeys (a step-up guards
// their decisions), and never an access token. Who may add a passkey is
// the weak point of any step-up: a stolen API key that could register its
// own authenticator would step up as its principal. So adding one needs a
// human sign-in (OIDC: vsecure.Principal.Human), never an API key, and when
// the principal holds a passkey already, a fresh step-up with one of them:
// a stolen session alone cannot add a second factor of its own.
func (g *Gate) RegisterPasskey(ctx context.Context, c Call, p vsecure.Passkey) (vsecure.Passkey, error) {
	e := g.entry(c, vsecure.AuditPasskeyRegister, "")
	e.Metadata["principal"] = c.Principal.ID
	if c.Principal.ID == "" || !c.Principal.HasAny(vsecure.RoleApprover, vsecure.RoleAdmin) {
		return vsecure.Passkey{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EForbidden, "registering a passkey needs the approver or admin role"))
	}
	if !c.Principal.Human {
		return vsecure.Passkey{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EForbidden, "registering a passkey needs a human sign-in (OIDC), not an API key"))
	}
	held, err := g.store.ListPasskeys(ctx, c.Principal.ID)
	if err != nil {
		return vsecure.Passkey{}, g.fail(ctx, e, err)
	}
	if why := vsecure.StaleStepUp(c.StepUp, g.clock()); len(held) > 0 && why != "" {
		return vsecure.Passkey{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EStepUpRequired, "you hold a passkey already: adding another %s made with one of yours", why))
	}
	if p.ID == "" || len(p.PublicKey) == 0 {
		return vsecure.Passkey{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EInvalid, "a passkey needs a credential id and a public key"))
	}
	e.Metadata["passkeyId"] = p.ID
	if err := validatePasskeyName(p.Name); err != nil {
		return vsecure.Passkey{}, g.fail(ctx, e, err)
	}
	p.Principal = c.Principal.ID
	p.CreatedAt, p.LastUsedAt = e.Timestamp, nil
	if err := g.store.CreatePasskey(ctx, p, e); err != nil {
		return vsecure.Passkey{}, g.stateFail(ctx, e, err)
	}
	return p, nil
}

// DeletePasskey removes one of principal's passkeys, with its audit entry.
// A principal deletes its own; an admin anyone's.
func (g *Gate) DeletePasskey(ctx context.Context, c Call, principal, id string) error {
	e := g.entry(c, vsecure.AuditPasskeyDelete, "")
	e.Metadata["principal"], e.Metadata["passkeyId"] = principal, id
	if c.Principal.Scope != nil || c.Principal.ID == "" || (principal != c.Principal.ID && !c.Principal.Has(vsecure.RoleAdmin)) {
		return g.fail(ctx, e, vsecure.Errorf(vsecure.EForbidden, "a principal deletes its own passkeys; others' need the admin role"))
	}
	if err := g.store.DeletePasskey(ctx, principal, id, e); err != nil {
		return g.stateFail(ctx, e, err)
	}
	return nil
}

// validatePasskeyName allows 1 to 64 printable characters: the name is
// shown to humans, so no control or format characters.
func validatePasskeyName(s string) error {
	if s == "" || utf8.RuneCountInString(s) > maxPasskeyName || !utf8.ValidString(s) {
		return vsecure.Errorf(vsecure.EInvalid, "a passkey name must be 1 to %d characters", maxPasskeyName)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return vsecure.Errorf(vsecure.EInvalid, "a passkey name must be printable characters")
		}
	}
	return nil
}

func (s detachedStore) CreatePasskey(ctx context.Context, p vsecure.Passkey, e vsecure.Entry) error {
	ctx, cancel := detached(ctx)
	defer cancel()
	return s.Store.CreatePasskey(ctx, p, e)
}

func (s detachedStore) DeletePasskey(ctx context.Context, principal, id string, e vsecure.Entry) error {
	ctx, cancel := detached(ctx)
	defer cancel()
	return s.Store.DeletePasskey(ctx, principal, id, e)
}
