package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"

	"github.com/vsecure/vsecure/shared/httpapi"
)

var (
	cognitoOIDC  = OIDCConfig{Cognito: true}
	externalOIDC = OIDCConfig{Issuer: "https://example.okta.com/oauth2/default", ClientID: "0oa1console"}
)

// verifiesPeople are the functions that must get the OIDC environment: the
// authorizer, and every function behind it (it verifies the token again).
func verifiesPeople() []string {
	out := []string{authorizerFunction}
	for _, r := range httpapi.Routes() {
		if r.Auth == httpapi.AuthKey && !slices.Contains(out, r.Function) {
			out = append(out, r.Function)
		}
	}
	return out
}

// oidcEnvs maps each function name to its VSECURE_OIDC_* variables.
func (s *synthesized) oidcEnvs(t *testing.T) map[string]map[string]any {
	out := map[string]map[string]any{}
	for name, id := range s.functionIDs(t) {
		vars, _ := s.resources[id].Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
		for k, v := range vars {
			if strings.HasPrefix(k, "VSECURE_OIDC_") {
				if out[name] == nil {
					out[name] = map[string]any{}
				}
				out[name][k] = v
			}
		}
	}
	return out
}

func checkOIDCFunctions(t *testing.T, s *synthesized, want map[string]any) {
	t.Helper()
	got := s.oidcEnvs(t)
	// The console's sign-in runs the code flow back to the callback under
	// the API: the same issuer, and the redirect URL.
	fns := append(verifiesPeople(), "console-signin")
	if names := slices.Collect(maps.Keys(got)); !sameSet(names, fns) {
		t.Errorf("functions with VSECURE_OIDC_*: %v, want %v", names, fns)
	}
	signIn := maps.Clone(want)
	signIn["VSECURE_OIDC_REDIRECT_URL"] = edgeURL(t, s, "/console/oidc/callback")
	for name, env := range got {
		if want := want; name == "console-signin" {
			want = signIn
			if !reflect.DeepEqual(env, want) {
				t.Errorf("%s: OIDC env %s, want %s", name, mustJSON(t, env), mustJSON(t, want))
			}
			continue
		}
		if !reflect.DeepEqual(env, want) {
			t.Errorf("%s: OIDC env %s, want %s", name, mustJSON(t, env), mustJSON(t, want))
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestCognitoCreatesThePoolAndItsClient: oidc=cognito creates a pool with
// MFA, threat protection and no sign-up, the three vsecure groups, and a
// public client doing the code flow (PKCE) back to the console's callback
// under the API; the functions that verify people get its issuer.
func TestCognitoCreatesThePoolAndItsClient(t *testing.T) {
	for _, env := range []string{"dev", "prod"} {
		t.Run(env, func(t *testing.T) {
			s := synthConfig(t, Config{Env: env, AuthCacheSeconds: 30, OIDC: cognitoOIDC})
			pools := s.ofType("AWS::Cognito::UserPool")
			if len(pools) != 1 {
				t.Fatalf("%d user pools", len(pools))
			}
			poolID := firstID(pools)
			pool := pools[poolID].Properties
			protection := map[string]string{"dev": "INACTIVE", "prod": "ACTIVE"}[env]
			for what, c := range map[string][2]any{
				"MFA":                 {pool["MfaConfiguration"], "ON"},
				"second factor":       {fmt.Sprint(pool["EnabledMfas"]), "[SOFTWARE_TOKEN_MFA]"},
				"feature plan":        {pool["UserPoolTier"], "PLUS"},
				"threat protection":   {fmt.Sprint(pool["UserPoolAddOns"]), "map[AdvancedSecurityMode:ENFORCED]"},
				"admin-only sign-up":  {fmt.Sprint(pool["AdminCreateUserConfig"]), "map[AllowAdminCreateUserOnly:true]"},
				"deletion protection": {pool["DeletionProtection"], protection},
			} {
				if c[0] != c[1] {
					t.Errorf("pool %s: %v, want %v", what, c[0], c[1])
				}
			}
			if want := map[string]string{"dev": "Delete", "prod": "Retain"}[env]; pools[poolID].DeletionPolicy != want {
				t.Errorf("pool DeletionPolicy %q, want %q", pools[poolID].DeletionPolicy, want)
			}
			var groups []string
			for _, g := range s.ofType("AWS::Cognito::UserPoolGroup") {
				groups = append(groups, g.Properties["GroupName"].(string))
			}
			if want := []string{"vsecure-admins", "vsecure-approvers", "vsecure-auditors"}; !sameSet(groups, want) {
				t.Errorf("groups %v, want %v", groups, want)
			}
			if n := len(s.ofType("AWS::Cognito::UserPoolDomain")); n != 1 {
				t.Errorf("%d hosted sign-in domains, want 1", n)
			}

			clients := s.ofType("AWS::Cognito::UserPoolClient")
			if len(clients) != 1 {
				t.Fatalf("%d user pool clients", len(clients))
			}
			clientID := firstID(clients)
			c := clients[clientID].Properties
			if c["GenerateSecret"] == true {
				t.Error("the console's client has a secret: a public client uses PKCE")
			}
			for what, got := range map[string][2]any{
				"flows":         {fmt.Sprint(c["AllowedOAuthFlows"]), "[code]"},
				"OAuth on":      {c["AllowedOAuthFlowsUserPoolClient"], true},
				"scopes":        {fmt.Sprint(c["AllowedOAuthScopes"]), "[openid email profile]"},
				"providers":     {fmt.Sprint(c["SupportedIdentityProviders"]), "[COGNITO]"},
				"pool":          {getAtt(c["UserPoolId"]), poolID},
				"callback URLs": {fmt.Sprint(len(c["CallbackURLs"].([]any))), "1"},
			} {
				if got[0] != got[1] {
					t.Errorf("client %s: %v, want %v", what, got[0], got[1])
				}
			}
			callback := edgeURL(t, s, "/console/oidc/callback")
			if got := c["CallbackURLs"].([]any)[0]; !reflect.DeepEqual(got, callback) {
				t.Errorf("callback URL %s, want the console edge's /console/oidc/callback", mustJSON(t, got))
			}
			if got, want := c["LogoutURLs"].([]any)[0], edgeURL(t, s, "/console"); !reflect.DeepEqual(got, want) {
				t.Errorf("logout URL %s, want the console edge's /console", mustJSON(t, got))
			}

			checkOIDCFunctions(t, s, map[string]any{
				"VSECURE_OIDC_ISSUER":          map[string]any{"Fn::GetAtt": []any{poolID, "ProviderURL"}},
				"VSECURE_OIDC_CLIENT_ID":       map[string]any{"Ref": clientID},
				"VSECURE_OIDC_PRINCIPAL_CLAIM": "email",
				"VSECURE_OIDC_GROUPS_CLAIM":    "cognito:groups",
				"VSECURE_OIDC_ROLE_MAP":        "vsecure-admins=admin,vsecure-approvers=approver,vsecure-auditors=auditor",
			})
			checkNag(t, s)
		})
	}
}

// TestExternalIssuerCreatesNoPool: oidcIssuer + oidcClientId hand the
// issuer to the same functions and create nothing at AWS.
func TestExternalIssuerCreatesNoPool(t *testing.T) {
	o := externalOIDC
	o.PrincipalClaim, o.GroupsClaim, o.RoleMap, o.Audiences = "sub", "roles", "vsecure-approvers=approver", "api://vsecure,0oa1console"
	s := synthConfig(t, Config{Env: "dev", AuthCacheSeconds: 30, OIDC: o})
	for id, r := range s.resources {
		if strings.HasPrefix(r.Type, "AWS::Cognito::") {
			t.Errorf("external issuer: the stack creates %s %s", r.Type, id)
		}
	}
	checkOIDCFunctions(t, s, map[string]any{
		"VSECURE_OIDC_ISSUER":          o.Issuer,
		"VSECURE_OIDC_CLIENT_ID":       o.ClientID,
		"VSECURE_OIDC_AUDIENCES":       o.Audiences,
		"VSECURE_OIDC_PRINCIPAL_CLAIM": "sub",
		"VSECURE_OIDC_GROUPS_CLAIM":    "roles",
		"VSECURE_OIDC_ROLE_MAP":        "vsecure-approvers=approver",
	})
	// Defaults: email, the standard groups claim, the three groups.
	d := synthConfig(t, Config{Env: "dev", AuthCacheSeconds: 30, OIDC: externalOIDC})
	checkOIDCFunctions(t, d, map[string]any{
		"VSECURE_OIDC_ISSUER":          externalOIDC.Issuer,
		"VSECURE_OIDC_CLIENT_ID":       externalOIDC.ClientID,
		"VSECURE_OIDC_PRINCIPAL_CLAIM": "email",
		"VSECURE_OIDC_GROUPS_CLAIM":    "groups",
		"VSECURE_OIDC_ROLE_MAP":        defaultRoleMap(),
	})
	checkNag(t, s)
}

// TestOIDCAddsOnlyTheIssuerAndTheEdge: without OIDC the template has no
// trace of it, and each OIDC mode's template is the API-keys-only template
// plus its Cognito resources, its Oidc* outputs, the VSECURE_OIDC_*
// variables and the console edge (edge.go: the distribution, its function,
// the JWT authorizer on the signed-in pages, the public URL and the
// ConsoleUrl output): nothing else (IAM included) changes.
func TestOIDCAddsOnlyTheIssuerAndTheEdge(t *testing.T) {
	plain := synth(t, "dev", 30)
	if envs := plain.oidcEnvs(t); len(envs) != 0 {
		t.Errorf("no OIDC, yet functions have VSECURE_OIDC_*: %v", envs)
	}
	stripped := func(s *synthesized) map[string]any {
		var doc map[string]any
		if err := json.Unmarshal([]byte(mustJSON(t, s.raw)), &doc); err != nil {
			t.Fatal(err)
		}
		res := doc["Resources"].(map[string]any)
		pages := map[string]bool{}
		for _, rt := range httpapi.Routes() {
			if rt.Auth == httpapi.AuthSession {
				pages[rt.Method+" "+rt.APIGatewayPath()] = true
			}
		}
		for id, r := range res {
			r := r.(map[string]any)
			typ, _ := r["Type"].(string)
			props, _ := r["Properties"].(map[string]any)
			switch {
			case strings.HasPrefix(typ, "AWS::Cognito::") || strings.HasPrefix(typ, "AWS::CloudFront::"):
				delete(res, id)
			case typ == "AWS::ApiGatewayV2::Authorizer" && props["AuthorizerType"] == "JWT":
				delete(res, id)
			case typ == "AWS::ApiGatewayV2::Route" && pages[props["RouteKey"].(string)]:
				// The page's authorizer (or, without one, why not, for
				// nag on the route and its integration's parts).
				delete(props, "AuthorizationType")
				delete(props, "AuthorizerId")
				delete(r, "Metadata")
			case typ == "AWS::ApiGatewayV2::Integration" || typ == "AWS::Lambda::Permission":
				delete(r, "Metadata")
			case typ == "AWS::Lambda::Function":
				vars := props["Environment"].(map[string]any)["Variables"].(map[string]any)
				maps.DeleteFunc(vars, func(k string, _ any) bool {
					return strings.HasPrefix(k, "VSECURE_OIDC_") || k == "VSECURE_PUBLIC_URL" || k == "VSECURE_CONSOLE_GATEWAY_JWT"
				})
			}
		}
		for _, r := range res {
			// The stage deploys after every route and authorizer.
			if deps, ok := r.(map[string]any)["DependsOn"].([]any); ok {
				r.(map[string]any)["DependsOn"] = slices.DeleteFunc(deps, func(d any) bool { _, kept := res[d.(string)]; return !kept })
			}
		}
		maps.DeleteFunc(doc["Outputs"].(map[string]any), func(k string, _ any) bool { return strings.HasPrefix(k, "Oidc") || k == "ConsoleUrl" })
		return doc
	}
	for id, r := range plain.resources {
		if strings.HasPrefix(r.Type, "AWS::Cognito::") || strings.HasPrefix(r.Type, "AWS::CloudFront::") || r.Properties["AuthorizerType"] == "JWT" {
			t.Errorf("the API-keys-only template has %s %s", r.Type, id)
		}
	}
	for k := range plain.raw["Outputs"].(map[string]any) {
		if strings.HasPrefix(k, "Oidc") || k == "ConsoleUrl" {
			t.Errorf("the API-keys-only template has output %s", k)
		}
	}
	want := stripped(plain)
	for mode, o := range map[string]OIDCConfig{"cognito": cognitoOIDC, "external": externalOIDC} {
		s := synthConfig(t, Config{Env: "dev", AuthCacheSeconds: 30, OIDC: o})
		if got := stripped(s); !reflect.DeepEqual(got, want) {
			for _, part := range []string{"Resources", "Outputs", "Parameters", "Conditions", "Rules"} {
				if !reflect.DeepEqual(got[part], want[part]) {
					g, w := got[part].(map[string]any), want[part].(map[string]any)
					var diff []string
					for k := range g {
						if !reflect.DeepEqual(g[k], w[k]) {
							diff = append(diff, k)
						}
					}
					for k := range w {
						if _, ok := g[k]; !ok {
							diff = append(diff, k)
						}
					}
					slices.Sort(diff)
					t.Errorf("%s: the template's %s differ from API keys only beyond OIDC's additions: %v", mode, part, diff)
				}
			}
		}
		for _, out := range []string{"OidcIssuer", "OidcClientId", "OidcCallbackUrl"} {
			if _, ok := s.raw["Outputs"].(map[string]any)[out]; !ok {
				t.Errorf("%s: no output %s", mode, out)
			}
		}
	}
}

func checkNag(t *testing.T, s *synthesized) {
	t.Helper()
	rule := assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))
	for _, m := range *s.annotations.FindError(jsii.String("*"), rule) {
		t.Errorf("nag error at %s: %v", *m.Id, m.Entry.Data)
	}
	for _, m := range *s.annotations.FindWarning(jsii.String("*"), rule) {
		t.Errorf("nag warning at %s: %v", *m.Id, m.Entry.Data)
	}
}

func TestConfigRefusesBadOIDCContext(t *testing.T) {
	code := func(string) (awslambda.Code, error) { return nil, nil }
	for name, o := range map[string]OIDCConfig{
		"cognito and an issuer":      {Cognito: true, Issuer: "https://idp.example.com", ClientID: "c"},
		"issuer without client":      {Issuer: "https://idp.example.com"},
		"client without issuer":      {ClientID: "c"},
		"http issuer":                {Issuer: "http://idp.example.com", ClientID: "c"},
		"not a URL":                  {Issuer: "idp.example.com", ClientID: "c"},
		"unknown principal claim":    {Cognito: true, PrincipalClaim: "name"},
		"role map without role":      {Cognito: true, RoleMap: "vsecure-admins"},
		"role map with unknown role": {Cognito: true, RoleMap: "vsecure-admins=root"},
		"claims without an issuer":   {GroupsClaim: "groups"},
	} {
		if err := (Config{Env: "dev", Code: code, OIDC: o}).validate(); err == nil {
			t.Errorf("%s: accepted %+v", name, o)
		}
	}
	for _, o := range []OIDCConfig{{}, cognitoOIDC, externalOIDC, {Issuer: "https://login.microsoftonline.com/t/v2.0", ClientID: "c", PrincipalClaim: "sub", RoleMap: "g1=approver, g2=admin"}} {
		if err := (Config{Env: "prod", Code: code, OIDC: o}).validate(); err != nil {
			t.Errorf("%+v refused: %v", o, err)
		}
	}
}

func TestOIDCContext(t *testing.T) {
	ctx := func(kv ...string) func(string, string) string {
		return func(k, def string) string {
			for i := 0; i < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return def
		}
	}
	if _, err := oidcFromContext(ctx("oidc", "okta")); err == nil {
		t.Error("oidc=okta accepted: an external issuer is named with oidcIssuer")
	}
	if o, err := oidcFromContext(ctx("oidc", "cognito")); err != nil || o != cognitoOIDC {
		t.Errorf("oidc=cognito: %+v, %v", o, err)
	}
	o, err := oidcFromContext(ctx("oidcIssuer", externalOIDC.Issuer, "oidcClientId", externalOIDC.ClientID))
	if err != nil || o != externalOIDC {
		t.Errorf("external issuer: %+v, %v", o, err)
	}
	if o, err := oidcFromContext(ctx()); err != nil || o.On() {
		t.Errorf("no context: %+v, %v", o, err)
	}
}
