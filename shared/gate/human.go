package gate

import (
	"context"
	"strings"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// HumanVerifier verifies a person's bearer JWT from the configured
// identity provider (package oidc) and maps its claims to a principal.
// A token it refuses is vsecure.EUnauthenticated; an issuer it cannot reach
// is vsecure.EUnavailable.
type HumanVerifier interface {
	VerifyHuman(ctx context.Context, token string) (vsecure.Principal, error)
}

// maxJWT bounds a bearer JWT: ID tokens with a few groups are ~1–2 KB;
// anything far larger is refused before any parsing.
const maxJWT = 8 << 10

// LooksLikeJWT reports whether cred is shaped like a compact JWS (three
// non-empty base64url parts) rather than one of the gate's own
// credentials, which carry a prefix and no dot.
func LooksLikeJWT(cred string) bool {
	if strings.HasPrefix(cred, KeyPrefix) || strings.HasPrefix(cred, TokenPrefix) {
		return false
	}
	parts := 0
	for part := range strings.SplitSeq(cred, ".") {
		if part == "" || strings.IndexFunc(part, notBase64URL) >= 0 {
			return false
		}
		parts++
	}
	return parts == 3
}

func notBase64URL(r rune) bool {
	return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_')
}

// resolveHuman resolves a JWT through the configured verifier. Identity
// comes from the verified claims only; the principal is marked Human and
// holds no key whatever the verifier returned.
func (g *Gate) resolveHuman(ctx context.Context, token string) (vsecure.Principal, error) {
	if g.humans == nil {
		return vsecure.Principal{}, vsecure.Errorf(vsecure.EUnauthenticated, "this server accepts no identity-provider tokens (no OIDC issuer is configured)")
	}
	if len(token) > maxJWT {
		return vsecure.Principal{}, vsecure.Errorf(vsecure.EUnauthenticated, "the bearer token is too large")
	}
	p, err := g.humans.VerifyHuman(ctx, token)
	if err != nil {
		return vsecure.Principal{}, err
	}
	if p.ID == "" || len(p.Roles) == 0 {
		return vsecure.Principal{}, vsecure.Errorf(vsecure.EUnauthenticated, "the identity-provider token maps to no principal with a role")
	}
	return vsecure.Principal{ID: p.ID, Roles: p.Roles, Human: true}, nil
}
