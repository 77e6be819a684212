package vsecure

import (
	"slices"
	"time"
)

// Role grants a class of operations.
type Role string

// Roles of the contract.
const (
	RoleAdmin    Role = "admin"    // policies, secrets, keys, all audit
	RoleApprover Role = "approver" // decide approvals where listed
	RoleAuditor  Role = "auditor"  // read audit
	RoleAgent    Role = "agent"    // read/write per policy, request approval
)

// ParseRole validates a role name.
func ParseRole(s string) (Role, error) {
	switch Role(s) {
	case RoleAdmin, RoleApprover, RoleAuditor, RoleAgent:
		return Role(s), nil
	}
	return "", Errorf(EInvalid, "unknown role %q (want admin, approver, auditor or agent)", s)
}

// Principal is an authenticated caller. Its identity always comes from the
// credential, never from a request body.
type Principal struct {
	ID    string
	Roles []Role
	KeyID string
	// Scope is set when the caller presented an access token: it may then
	// perform exactly one operation on one resource until the scope ends.
	Scope *Scope
	// OnBehalfOf is the human the key acts for (Key.OnBehalfOf).
	OnBehalfOf string
	// Human is set for a person signed in at an identity provider (an
	// OIDC sign-in or its JWT): such a principal holds no key.
	Human bool
}

// Scope limits an access-token principal.
type Scope struct {
	ApprovalID string
	Resource   string
	Operation  Operation
	ExpiresAt  time.Time
}

// Has reports whether p holds role r. Scoped principals hold no roles.
func (p Principal) Has(r Role) bool { return p.Scope == nil && slices.Contains(p.Roles, r) }

// HasAny reports whether p holds any of roles.
func (p Principal) HasAny(roles ...Role) bool {
	for _, r := range roles {
		if p.Has(r) {
			return true
		}
	}
	return false
}

// ValidatePrincipal checks a principal id: 1–128 of [A-Za-z0-9._@:-].
func ValidatePrincipal(id string) error {
	if id == "" || len(id) > 128 {
		return Errorf(EInvalid, "principal must be 1 to 128 characters")
	}
	if id == Anonymous || id == AutoApprover {
		return Errorf(EInvalid, "principal %q is reserved", id)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == '@' || c == ':') {
			return Errorf(EInvalid, "principal %q has a character outside [A-Za-z0-9._@:-]", id)
		}
	}
	return nil
}

// Key is a stored API key. Only the SHA-256 of the secret part is kept.
type Key struct {
	ID          string `json:"id"`
	Principal   string `json:"principal"`
	Roles       []Role `json:"roles"`
	Hash        string `json:"-"`
	SlackUserID string `json:"slackUserId,omitempty"`
	// OnBehalfOf is the human principal an agent key acts for, set by an
	// admin at creation and kept by rotation: that human counts as the
	// requester of the key's approvals, so they cannot decide them.
	OnBehalfOf string     `json:"onBehalfOf,omitempty"`
	CreatedAt  time.Time  `json:"createdAt"`
	CreatedBy  string     `json:"createdBy,omitempty"`
	RevokedAt  *time.Time `json:"revokedAt,omitempty"`
	ExpiresAt  *time.Time `json:"expiresAt,omitempty"`
	// LastUsedAt is when the key last authenticated, to within
	// KeyUseInterval: recording every use would add a write to every
	// request.
	LastUsedAt *time.Time `json:"lastUsedAt,omitempty"`
	// RotatedFrom is the key this one replaced (POST .../rotate).
	RotatedFrom string `json:"rotatedFrom,omitempty"`
	// Version increases by one on every change of the record (revoke,
	// update, rotation), so that a change built on a stale read loses
	// instead of undoing a concurrent one. LastUsedAt takes no part: a
	// recorded use never conflicts with a change. Keys stored before
	// versions existed read as 0.
	Version int `json:"version"`
}

// KeyUseInterval is the resolution of Key.LastUsedAt: a key's last use is
// written at most once per interval.
const KeyUseInterval = time.Minute

// Active reports whether the key authenticates at now.
func (k *Key) Active(now time.Time) bool {
	return k.RevokedAt == nil && (k.ExpiresAt == nil || now.Before(*k.ExpiresAt))
}
