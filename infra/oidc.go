package main

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/jsii-runtime-go"

	"github.com/vsecure/vsecure/shared/httpapi"
)

// OIDCConfig is where people sign in (issue 16): a Cognito user pool of
// the stack's own (context oidc=cognito), an external issuer (oidcIssuer +
// oidcClientId: Okta, Entra ID, Google), or neither (the zero value: API
// keys only, and the template is what it was before OIDC).
type OIDCConfig struct {
	// Cognito makes the stack create the user pool, its groups and the
	// console's app client.
	Cognito bool
	// Issuer and ClientID name an external issuer and the client
	// registered there for the console.
	Issuer, ClientID string
	// Audiences (context oidcAudiences, comma-separated) are the accepted
	// "aud" values; empty means the client id (oidc.Config.Audiences).
	Audiences string
	// PrincipalClaim (oidcPrincipalClaim) is "email" (default) or "sub".
	PrincipalClaim string
	// GroupsClaim (oidcGroupsClaim) holds the groups RoleMap maps; default
	// "cognito:groups" with Cognito, "groups" otherwise.
	GroupsClaim string
	// RoleMap (oidcRoleMap) is "group=role,...": default the three groups
	// the Cognito pool creates (cognitoGroups).
	RoleMap string
}

// On reports whether people sign in at all.
func (o OIDCConfig) On() bool { return o.Cognito || o.Issuer != "" }

// cognitoGroups are the pool's groups and the role each grants. Agents
// hold API keys, never a person's sign-in, so no group maps to agent.
var cognitoGroups = []struct{ Name, Role, Why string }{
	{"vsecure-admins", "admin", "vsecure admins: manage keys and policies"},
	{"vsecure-approvers", "approver", "vsecure approvers: decide and revoke approvals"},
	{"vsecure-auditors", "auditor", "vsecure auditors: read and verify the audit log"},
}

// consoleCallbackPath is the console's OIDC redirect path under the API
// (shared/console mounts oidc.Provider.CallbackHandler there).
const consoleCallbackPath = "/console/oidc/callback"

func defaultRoleMap() string {
	pairs := make([]string, len(cognitoGroups))
	for i, g := range cognitoGroups {
		pairs[i] = g.Name + "=" + g.Role
	}
	return strings.Join(pairs, ",")
}

// oidcFromContext reads the OIDC context values; validate checks them.
func oidcFromContext(get func(key, def string) string) (OIDCConfig, error) {
	o := OIDCConfig{
		Issuer: get("oidcIssuer", ""), ClientID: get("oidcClientId", ""), Audiences: get("oidcAudiences", ""),
		PrincipalClaim: get("oidcPrincipalClaim", ""), GroupsClaim: get("oidcGroupsClaim", ""), RoleMap: get("oidcRoleMap", ""),
	}
	switch mode := get("oidc", ""); mode {
	case "":
	case "cognito":
		o.Cognito = true
	default:
		return o, fmt.Errorf("context oidc must be cognito (or unset), not %q", mode)
	}
	return o, nil
}

func (o OIDCConfig) validate() error {
	switch {
	case o.Cognito && (o.Issuer != "" || o.ClientID != ""):
		return fmt.Errorf("context oidc=cognito creates its own issuer: drop oidcIssuer and oidcClientId")
	case (o.Issuer == "") != (o.ClientID == "") && !o.Cognito:
		return fmt.Errorf("context oidcIssuer and oidcClientId go together")
	case !o.On() && (o.Audiences != "" || o.PrincipalClaim != "" || o.GroupsClaim != "" || o.RoleMap != ""):
		return fmt.Errorf("context oidcAudiences, oidcPrincipalClaim, oidcGroupsClaim and oidcRoleMap need oidc=cognito or oidcIssuer")
	}
	if o.Issuer != "" {
		// The functions fetch discovery and keys from it; a token's iss
		// must equal it, so it is the exact URL, https only.
		if u, err := url.Parse(o.Issuer); err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("context oidcIssuer must be an https URL, not %q", o.Issuer)
		}
	}
	if c := o.PrincipalClaim; c != "" && c != "email" && c != "sub" {
		return fmt.Errorf("context oidcPrincipalClaim must be email or sub, not %q", c)
	}
	for pair := range strings.SplitSeq(o.RoleMap, ",") {
		if pair = strings.TrimSpace(pair); pair == "" {
			continue
		}
		group, role, ok := strings.Cut(pair, "=")
		switch strings.TrimSpace(role) {
		case "admin", "approver", "auditor", "agent":
		default:
			ok = false
		}
		if !ok || strings.TrimSpace(group) == "" {
			return fmt.Errorf("context oidcRoleMap: %q is not group=role (admin, approver, auditor or agent)", pair)
		}
	}
	return nil
}

// humanFunction reports whether a function receives people's JWTs: the
// authorizer verifies them, and every function behind it verifies them
// again (lambdafn.AuthorizerContext), so a cached answer cannot outlive
// the token.
func humanFunction(name string) bool {
	if name == authorizerFunction {
		return true
	}
	for _, r := range httpapi.Routes() {
		if r.Function == name && r.Auth == httpapi.AuthKey {
			return true
		}
	}
	return false
}

// oidcIssuer sets up the issuer people sign in with, the stack's user
// pool or an external one, and the VSECURE_OIDC_* environment of the
// functions that verify their tokens (nothing when OIDC is off). It runs
// before the functions exist, since their environment names it.
func (v *Vsecure) oidcIssuer() {
	o := v.Config.OIDC
	if !o.On() {
		return
	}
	v.consoleEdge()
	env := map[string]*string{
		"VSECURE_OIDC_PRINCIPAL_CLAIM": jsii.String(or(o.PrincipalClaim, "email")),
		"VSECURE_OIDC_ROLE_MAP":        jsii.String(or(o.RoleMap, defaultRoleMap())),
	}
	if o.Audiences != "" {
		env["VSECURE_OIDC_AUDIENCES"] = jsii.String(o.Audiences)
	}
	if o.Cognito {
		pool, client := v.userPool()
		env["VSECURE_OIDC_ISSUER"] = pool.UserPoolProviderUrl()
		env["VSECURE_OIDC_CLIENT_ID"] = client.UserPoolClientId()
		env["VSECURE_OIDC_GROUPS_CLAIM"] = jsii.String(or(o.GroupsClaim, "cognito:groups"))
	} else {
		env["VSECURE_OIDC_ISSUER"] = jsii.String(o.Issuer)
		env["VSECURE_OIDC_CLIENT_ID"] = jsii.String(o.ClientID)
		env["VSECURE_OIDC_GROUPS_CLAIM"] = jsii.String(or(o.GroupsClaim, "groups"))
	}
	v.oidcEnv = env
	out := func(id string, value *string, desc string) {
		awscdk.NewCfnOutput(v.Stack, jsii.String(id), &awscdk.CfnOutputProps{Value: value, Description: jsii.String(desc)})
	}
	out("OidcIssuer", env["VSECURE_OIDC_ISSUER"], "OIDC issuer people sign in with")
	out("OidcClientId", env["VSECURE_OIDC_CLIENT_ID"], "OIDC client of the console")
	out("OidcCallbackUrl", jsii.String(*v.publicURL()+consoleCallbackPath), "Redirect URL to register at the issuer")
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// userPool declares the Cognito user pool people sign in to, its groups
// and the console's app client.
func (v *Vsecure) userPool() (awscognito.UserPool, awscognito.UserPoolClient) {
	s := v.Stack
	pool := awscognito.NewUserPool(s, jsii.String("People"), &awscognito.UserPoolProps{
		UserPoolName: jsii.String("vsecure-" + v.Config.Env),
		// An admin invites each approver (README): an open sign-up would
		// let anyone hold a session, if no role.
		SelfSignUpEnabled: jsii.Bool(false),
		SignInAliases:     &awscognito.SignInAliases{Email: jsii.Bool(true)},
		AutoVerify:        &awscognito.AutoVerifiedAttrs{Email: jsii.Bool(true)},
		StandardAttributes: &awscognito.StandardAttributes{
			Email: &awscognito.StandardAttribute{Required: jsii.Bool(true), Mutable: jsii.Bool(false)},
		},
		// cdk-nag COG1/COG2/COG8: a strong password, a required second
		// factor (TOTP: SMS would need a role and is phishable), and the
		// Plus plan's threat protection blocking risky sign-ins.
		PasswordPolicy: &awscognito.PasswordPolicy{
			MinLength: jsii.Number(12), RequireDigits: jsii.Bool(true), RequireLowercase: jsii.Bool(true),
			RequireUppercase: jsii.Bool(true), RequireSymbols: jsii.Bool(true),
		},
		Mfa:                          awscognito.Mfa_REQUIRED,
		MfaSecondFactor:              &awscognito.MfaSecondFactor{Otp: jsii.Bool(true), Sms: jsii.Bool(false)},
		FeaturePlan:                  awscognito.FeaturePlan_PLUS,
		StandardThreatProtectionMode: awscognito.StandardThreatProtectionMode_FULL_FUNCTION,
		AccountRecovery:              awscognito.AccountRecovery_EMAIL_ONLY,
		DeletionProtection:           jsii.Bool(v.Config.Prod()),
		RemovalPolicy:                v.removal(),
	})
	for i, g := range cognitoGroups {
		pool.AddGroup(jsii.String("Group-"+g.Name), &awscognito.UserPoolGroupOptions{
			GroupName: jsii.String(g.Name), Description: jsii.String(g.Why), Precedence: jsii.Number(float64(i)),
		})
	}
	// The hosted sign-in pages serve the code flow; the prefix must be
	// unique in the region, hence the account.
	pool.AddDomain(jsii.String("SignIn"), &awscognito.UserPoolDomainOptions{
		CognitoDomain: &awscognito.CognitoDomainOptions{DomainPrefix: jsii.String("vsecure-" + v.Config.Env + "-" + *s.Account())},
	})
	console := *v.publicURL()
	client := pool.AddClient(jsii.String("Console"), &awscognito.UserPoolClientOptions{
		UserPoolClientName: jsii.String("vsecure-" + v.Config.Env + "-console"),
		// A public client: the console proves the code exchange with PKCE
		// (S256, always sent by shared/oidc), so there is no secret to keep.
		GenerateSecret: jsii.Bool(false),
		// Only the hosted pages sign people in (no password API calls).
		AuthFlows: &awscognito.AuthFlow{},
		OAuth: &awscognito.OAuthSettings{
			Flows:        &awscognito.OAuthFlows{AuthorizationCodeGrant: jsii.Bool(true)},
			Scopes:       &[]awscognito.OAuthScope{awscognito.OAuthScope_OPENID(), awscognito.OAuthScope_EMAIL(), awscognito.OAuthScope_PROFILE()},
			CallbackUrls: jsii.Strings(console + consoleCallbackPath),
			LogoutUrls:   jsii.Strings(console + "/console"),
		},
		SupportedIdentityProviders: &[]awscognito.UserPoolClientIdentityProvider{awscognito.UserPoolClientIdentityProvider_COGNITO()},
		PreventUserExistenceErrors: jsii.Bool(true),
		EnableTokenRevocation:      jsii.Bool(true),
		// A person's token is good for an hour: the console's session has
		// its own shorter idle timeout, and the JSON API re-verifies expiry.
		IdTokenValidity:     awscdk.Duration_Hours(jsii.Number(1)),
		AccessTokenValidity: awscdk.Duration_Hours(jsii.Number(1)),
	})
	return pool, client
}
