package oidc

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// Environment variables of the OIDC configuration, read the same way by
// `vsecure dev` and the Lambda functions.
const (
	EnvIssuer         = "VSECURE_OIDC_ISSUER"
	EnvClientID       = "VSECURE_OIDC_CLIENT_ID"
	EnvClientSecret   = "VSECURE_OIDC_CLIENT_SECRET"
	EnvRedirectURL    = "VSECURE_OIDC_REDIRECT_URL"
	EnvScopes         = "VSECURE_OIDC_SCOPES"
	EnvPrincipalClaim = "VSECURE_OIDC_PRINCIPAL_CLAIM"
	EnvGroupsClaim    = "VSECURE_OIDC_GROUPS_CLAIM"
	EnvRoleMap        = "VSECURE_OIDC_ROLE_MAP"
	EnvAudiences      = "VSECURE_OIDC_AUDIENCES"
	EnvCookieKey      = "VSECURE_OIDC_COOKIE_KEY"
)

// ConfigFromEnv reads the configuration; with no issuer set it returns
// nil (OIDC off) and no error.
func ConfigFromEnv(getenv func(string) string) (*Config, error) {
	get := func(k string) string { return strings.TrimSpace(getenv(k)) }
	if get(EnvIssuer) == "" {
		return nil, nil
	}
	c := &Config{
		Issuer: get(EnvIssuer), ClientID: get(EnvClientID), ClientSecret: get(EnvClientSecret),
		RedirectURL: get(EnvRedirectURL), PrincipalClaim: get(EnvPrincipalClaim), GroupsClaim: get(EnvGroupsClaim),
		Scopes: list(get(EnvScopes)), Audiences: list(get(EnvAudiences)),
	}
	roles, err := ParseRoleMap(get(EnvRoleMap))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvRoleMap, err)
	}
	c.Roles = roles
	if k := get(EnvCookieKey); k != "" {
		if c.CookieKey, err = base64.StdEncoding.DecodeString(k); err != nil {
			return nil, fmt.Errorf("%s must be base64: %w", EnvCookieKey, err)
		}
	}
	return c, c.Validate()
}

// ParseRoleMap reads "group=role,group=role".
func ParseRoleMap(s string) (map[string]vsecure.Role, error) {
	m := map[string]vsecure.Role{}
	for _, pair := range list(s) {
		group, role, ok := strings.Cut(pair, "=")
		group, role = strings.TrimSpace(group), strings.TrimSpace(role)
		if !ok || group == "" {
			return nil, fmt.Errorf("%q is not group=role", pair)
		}
		r, err := vsecure.ParseRole(role)
		if err != nil {
			return nil, err
		}
		m[group] = r
	}
	return m, nil
}

// list splits a comma-separated value; empty is nil.
func list(s string) []string {
	var out []string
	for v := range strings.SplitSeq(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
