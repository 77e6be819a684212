package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/httpapi"
)

// edgeURL is the template's value of the console edge's URL plus suffix.
func edgeURL(t *testing.T, s *synthesized, suffix string) any {
	t.Helper()
	ds := s.ofType("AWS::CloudFront::Distribution")
	if len(ds) != 1 {
		t.Fatalf("%d CloudFront distributions, want the console edge", len(ds))
	}
	parts := []any{"https://", map[string]any{"Fn::GetAtt": []any{firstID(ds), "DomainName"}}}
	if suffix != "" {
		parts = append(parts, suffix)
	}
	return map[string]any{"Fn::Join": []any{"", parts}}
}

// The managed CloudFront policies the edge's behaviours use.
const (
	cachingDisabled          = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
	allViewerExceptHost      = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
	consoleJWTAuthorizerName = "vsecure-console-id-token"
)

// TestConsoleEdge: with people signing in, every signed-in console page is
// behind the HTTP API's native JWT authorizer (the issuer's ID tokens for
// the console's client, from the Authorization header), the sign-in steps
// and the stylesheet stay public, API routes keep the key authorizer, and
// a CloudFront distribution in front of the API runs the edge function on
// every request, with nothing cached and every viewer header but Host
// passed on. The distribution is the public URL: approvalUrls, the OIDC redirect
// and the console functions' gateway mode.
func TestConsoleEdge(t *testing.T) {
	for mode, o := range map[string]OIDCConfig{"cognito": cognitoOIDC, "external": externalOIDC} {
		t.Run(mode, func(t *testing.T) {
			s := synthConfig(t, Config{Env: "prod", AuthCacheSeconds: 30, OIDC: o})
			var jwtID, keyID string
			var jwt resource
			for id, a := range s.ofType("AWS::ApiGatewayV2::Authorizer") {
				switch a.Properties["AuthorizerType"] {
				case "JWT":
					jwtID, jwt = id, a
				case "REQUEST":
					keyID = id
				}
			}
			if jwtID == "" || keyID == "" {
				t.Fatalf("authorizers: JWT %q, REQUEST %q; want both", jwtID, keyID)
			}
			issuer, audience := any(o.Issuer), any(o.ClientID)
			if o.Cognito {
				issuer = map[string]any{"Fn::GetAtt": []any{firstID(s.ofType("AWS::Cognito::UserPool")), "ProviderURL"}}
				audience = map[string]any{"Ref": firstID(s.ofType("AWS::Cognito::UserPoolClient"))}
			}
			wantJWT := map[string]any{"Issuer": issuer, "Audience": []any{audience}}
			if got := jwt.Properties["JwtConfiguration"]; !reflect.DeepEqual(got, wantJWT) {
				t.Errorf("JWT authorizer configuration %s, want %s", mustJSON(t, got), mustJSON(t, wantJWT))
			}
			if got := fmt.Sprint(jwt.Properties["IdentitySource"]); got != "[$request.header.Authorization]" || jwt.Properties["Name"] != consoleJWTAuthorizerName {
				t.Errorf("JWT authorizer %s reads %s", jwt.Properties["Name"], got)
			}

			routes := map[string]resource{}
			for _, r := range s.ofType("AWS::ApiGatewayV2::Route") {
				routes[r.Properties["RouteKey"].(string)] = r
			}
			pages, public := 0, 0
			for _, rt := range httpapi.Routes() {
				r := routes[rt.Method+" "+rt.APIGatewayPath()]
				auth, by := r.Properties["AuthorizationType"], r.Properties["AuthorizerId"]
				switch rt.Auth {
				case httpapi.AuthSession:
					pages++
					if auth != "JWT" || !reflect.DeepEqual(by, map[string]any{"Ref": jwtID}) {
						t.Errorf("console page %s: authorization %v by %v, want JWT by %s", rt.Pattern(), auth, by, jwtID)
					}
				case httpapi.AuthSignIn:
					public++
					if auth != "NONE" || by != nil {
						t.Errorf("sign-in step %s: authorization %v by %v, want none", rt.Pattern(), auth, by)
					}
				case httpapi.AuthKey:
					if auth != "CUSTOM" || !reflect.DeepEqual(by, map[string]any{"Ref": keyID}) {
						t.Errorf("%s: authorization %v by %v, want the key authorizer", rt.Pattern(), auth, by)
					}
				}
			}
			if pages == 0 || public == 0 {
				t.Fatalf("%d console pages and %d sign-in steps in the route table", pages, public)
			}

			ds := s.ofType("AWS::CloudFront::Distribution")
			if len(ds) != 1 {
				t.Fatalf("%d distributions", len(ds))
			}
			cfg := ds[firstID(ds)].Properties["DistributionConfig"].(map[string]any)
			api := firstID(s.ofType("AWS::ApiGatewayV2::Api"))
			origins := cfg["Origins"].([]any)
			if len(origins) != 1 {
				t.Fatalf("%d origins, want the API", len(origins))
			}
			origin := origins[0].(map[string]any)
			wantDomain := map[string]any{"Fn::Select": []any{2.0, map[string]any{"Fn::Split": []any{"/", map[string]any{"Fn::GetAtt": []any{api, "ApiEndpoint"}}}}}}
			if !reflect.DeepEqual(origin["DomainName"], wantDomain) {
				t.Errorf("origin %s, want the API's domain", mustJSON(t, origin["DomainName"]))
			}
			co := origin["CustomOriginConfig"].(map[string]any)
			if co["OriginProtocolPolicy"] != "https-only" || fmt.Sprint(co["OriginSSLProtocols"]) != "[TLSv1.2]" {
				t.Errorf("origin protocol %v %v, want https-only over TLSv1.2", co["OriginProtocolPolicy"], co["OriginSSLProtocols"])
			}
			if cfg["CacheBehaviors"] != nil {
				t.Errorf("behaviours beyond the default: %s", mustJSON(t, cfg["CacheBehaviors"]))
			}
			b := cfg["DefaultCacheBehavior"].(map[string]any)
			if b["CachePolicyId"] != cachingDisabled || b["OriginRequestPolicyId"] != allViewerExceptHost || b["ViewerProtocolPolicy"] != "https-only" || len(b["AllowedMethods"].([]any)) != 7 {
				t.Errorf("cache %v, origin request %v, viewer %v, methods %v; want no caching, all viewer headers but Host, https only, all methods",
					b["CachePolicyId"], b["OriginRequestPolicyId"], b["ViewerProtocolPolicy"], b["AllowedMethods"])
			}
			fns := s.ofType("AWS::CloudFront::Function")
			if len(fns) != 1 {
				t.Fatalf("%d CloudFront functions", len(fns))
			}
			fnID := firstID(fns)
			assoc := b["FunctionAssociations"].([]any)
			if len(assoc) != 1 || assoc[0].(map[string]any)["EventType"] != "viewer-request" || getAtt(assoc[0].(map[string]any)["FunctionARN"]) != fnID {
				t.Errorf("console behaviour associations %s, want %s on viewer-request", mustJSON(t, assoc), fnID)
			}
			fn := fns[fnID].Properties
			if fn["FunctionCode"] != edgeCode() || fn["FunctionConfig"].(map[string]any)["Runtime"] != "cloudfront-js-2.0" || fn["AutoPublish"] != true {
				t.Errorf("edge function: runtime %v, published %v, code the embedded edge/console-request.js: %v",
					fn["FunctionConfig"], fn["AutoPublish"], fn["FunctionCode"] == edgeCode())
			}
			if n := len(edgeCode()); n > 10240 {
				t.Errorf("edge function is %d bytes; CloudFront Functions take at most 10 KB", n)
			}

			// The edge is the public URL, and the console functions
			// serve pages in gateway mode.
			public2 := edgeURL(t, s, "")
			for name, id := range s.functionIDs(t) {
				vars, _ := s.resources[id].Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
				if u, ok := vars["VSECURE_PUBLIC_URL"]; ok && !reflect.DeepEqual(u, public2) {
					t.Errorf("%s: VSECURE_PUBLIC_URL %s, want the console edge", name, mustJSON(t, u))
				}
				if got, want := vars["VSECURE_CONSOLE_GATEWAY_JWT"], functionSpecs[name].Console; (got == "1") != want {
					t.Errorf("%s: VSECURE_CONSOLE_GATEWAY_JWT %v, console function %v", name, got, want)
				}
			}
			out := s.raw["Outputs"].(map[string]any)["ConsoleUrl"].(map[string]any)
			if !reflect.DeepEqual(out["Value"], public2) {
				t.Errorf("ConsoleUrl %s", mustJSON(t, out["Value"]))
			}
			checkNag(t, s)
		})
	}
}

// TestEdgePublicPathsAreTheRouteTable: the edge passes exactly the console
// routes public at the gateway without a token.
func TestEdgePublicPathsAreTheRouteTable(t *testing.T) {
	want := []string{"/console/oidc/callback", "/console/oidc/start", "/console/signin", "/console/signin/dev", "/console/signout", "/console/static/"}
	if got := edgePublicPaths(); !reflect.DeepEqual(got, want) {
		t.Fatalf("edge public paths %v, want %v", got, want)
	}
	if strings.Contains(edgeCode(), "__PUBLIC_PATHS__") {
		t.Fatal("the edge code still holds its placeholder")
	}
}

// edgeResult is what the edge function returned: the request it passed
// on, or the response it answered with.
type edgeResult struct {
	Error      string                       `json:"error"`
	StatusCode int                          `json:"statusCode"`
	Headers    map[string]map[string]string `json:"headers"`
	Body       map[string]string            `json:"body"`
	URI        string                       `json:"uri"`
	Cookies    map[string]map[string]string `json:"cookies"`
}

// runEdge runs the synthesized edge code under Node on CloudFront's event
// shape (cloudfront-js-2.0 has Buffer, as Node does) and returns the
// function's answer to each event.
func runEdge(t *testing.T, events []map[string]any) []edgeResult {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not on PATH: the CDK tests need it (make test-deps)")
	}
	dir := t.TempDir()
	code := filepath.Join(dir, "edge.js")
	harness := `
const fs = require('fs');
const handler = new Function(fs.readFileSync(process.argv[1], 'utf8') + '\nreturn handler;')();
const events = JSON.parse(fs.readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(events.map(e => {
  try { const r = handler(e); return r.uri !== undefined && r.statusCode === undefined ? {uri: r.uri, headers: r.headers, cookies: r.cookies} : r; }
  catch (err) { return {error: String(err)}; }
})));`
	if err := os.WriteFile(code, []byte(edgeCode()), 0o600); err != nil {
		t.Fatal(err)
	}
	in, err := json.Marshal(events)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "-e", harness, code)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v: %s", err, stderr.String())
	}
	var res []edgeResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("edge output %s: %v", out, err)
	}
	return res
}

// viewerRequest is a CloudFront Functions viewer-request event.
func viewerRequest(method, uri string, query map[string]any, headers map[string]string, cookies map[string]string) map[string]any {
	h := map[string]any{"host": map[string]string{"value": "d111111abcdef8.cloudfront.net"}}
	for k, v := range headers {
		h[k] = map[string]string{"value": v}
	}
	c := map[string]any{}
	for k, v := range cookies {
		c[k] = map[string]string{"value": v}
	}
	if query == nil {
		query = map[string]any{}
	}
	return map[string]any{"version": "1.0", "context": map[string]string{"eventType": "viewer-request"},
		"viewer":  map[string]string{"ip": "198.51.100.7"},
		"request": map[string]any{"method": method, "uri": uri, "querystring": query, "headers": h, "cookies": c}}
}

// token is a JWT-shaped string expiring at exp (the edge reads "exp" and
// verifies nothing: the gateway does).
func token(exp time.Time) string {
	enc := base64.RawURLEncoding.EncodeToString
	claims, _ := json.Marshal(map[string]any{"sub": "sub-jane", "exp": exp.Unix(), "name": "Jäne ✓ ~~~??>>"})
	return enc([]byte(`{"alg":"RS256","kid":"k"}`)) + "." + enc(claims) + ".c2ln"
}

// edgeCase is an event for the edge function and what its answer must be
// (check returns what is wrong, or "").
type edgeCase struct {
	name  string
	event map[string]any
	check func(r edgeResult) string
}

// TestConsoleEdgeFunction: the edge presents the ID token cookie as the
// bearer token, and only it; a click without a live token goes to sign in
// and back (straight to the issuer when a session is open); a post
// without one is a 401; the public routes pass untouched.
func TestConsoleEdgeFunction(t *testing.T) {
	live, soon, old := token(time.Now().Add(time.Hour)), token(time.Now().Add(10*time.Second)), token(time.Now().Add(-time.Minute))
	// The console's cookie names (shared/console TestEdgeReadsTheConsoleCookies
	// holds the edge's source to them).
	idt, sess := "__Host-vsecure-idt", "__Host-vsecure-session"
	q := map[string]any{"operation": map[string]string{"value": "read"}, "resource": map[string]any{"value": "vsecure://a b", "multiValue": []any{map[string]string{"value": "vsecure://a b"}, map[string]string{"value": "x%2Fy"}}}}
	cases := []edgeCase{
		{"live token", viewerRequest("GET", "/console/approvals/apr_1", nil, nil, map[string]string{idt: live, sess: "s"}), func(r edgeResult) string {
			if r.StatusCode != 0 || r.URI != "/console/approvals/apr_1" || r.Headers["authorization"]["value"] != "Bearer "+live {
				return "want the request passed on with Authorization: Bearer <cookie>"
			}
			if _, ok := r.Cookies[idt]; ok || r.Cookies[sess]["value"] != "s" {
				return "want the token sent once (its cookie dropped), the session kept"
			}
			return ""
		}},
		{"the viewer's own header is not presented", viewerRequest("POST", "/console/approvals/apr_1/decide", nil, map[string]string{"authorization": "Bearer forged"}, map[string]string{idt: live}), func(r edgeResult) string {
			if r.Headers["authorization"]["value"] != "Bearer "+live {
				return "want the cookie's token, not the viewer's header"
			}
			return ""
		}},
		{"no token, no session: the sign-in page", viewerRequest("GET", "/console/audit", q, map[string]string{"authorization": "Bearer forged"}, nil), func(r edgeResult) string {
			want := "/console/signin?returnTo=" + urlQueryEscape("/console/audit?operation=read&resource=vsecure%3A%2F%2Fa%20b&resource=x%2Fy")
			if r.StatusCode != 302 || r.Headers["location"]["value"] != want || r.Headers["cache-control"]["value"] != "no-store" {
				return "want 302 to " + want
			}
			return ""
		}},
		{"expired token, open session: straight to the issuer", viewerRequest("GET", "/console", nil, nil, map[string]string{idt: old, sess: "s"}), func(r edgeResult) string {
			if r.StatusCode != 302 || r.Headers["location"]["value"] != "/console/oidc/start?returnTo=%2Fconsole" {
				return "want 302 to /console/oidc/start?returnTo=%2Fconsole"
			}
			return ""
		}},
		{"a token about to expire is not presented", viewerRequest("GET", "/console", nil, nil, map[string]string{idt: soon}), func(r edgeResult) string {
			if r.StatusCode != 302 {
				return "want a new sign-in"
			}
			return ""
		}},
		{"not a JWT", viewerRequest("GET", "/console", nil, nil, map[string]string{idt: "garbage.!!!.x"}), func(r edgeResult) string {
			if r.StatusCode != 302 {
				return "want a new sign-in"
			}
			return ""
		}},
		{"a post without a token", viewerRequest("POST", "/console/approvals/apr_1/decide", nil, nil, map[string]string{sess: "s"}), func(r edgeResult) string {
			if r.StatusCode != 401 || r.Headers["cache-control"]["value"] != "no-store" || !strings.Contains(r.Body["data"], "sign in again") {
				return "want 401 telling the person to sign in again"
			}
			return ""
		}},
	}
	for _, p := range []string{"/console/signin", "/console/oidc/callback", "/console/oidc/start", "/console/signout", "/console/static/console.css"} {
		cases = append(cases, edgeCase{"public " + p, viewerRequest("GET", p, nil, map[string]string{"authorization": "Bearer x"}, nil), func(r edgeResult) string {
			if r.StatusCode != 0 || r.URI != p || r.Headers["authorization"]["value"] != "Bearer x" {
				return "want it passed on untouched"
			}
			return ""
		}})
	}
	for _, p := range []string{"/v1/secrets/db", "/consolex", "/", "/mcp"} {
		cases = append(cases, edgeCase{"not the console: " + p, viewerRequest("GET", p, nil, map[string]string{"authorization": "Bearer vsk_x"}, map[string]string{idt: live}), func(r edgeResult) string {
			if r.StatusCode != 404 || !strings.Contains(r.Body["data"], "ApiUrl") {
				return "want 404 pointing at ApiUrl"
			}
			return ""
		}})
	}
	// A page whose path only starts like a public one is not public.
	cases = append(cases, edgeCase{"/console/signinx is a page", viewerRequest("GET", "/console/signinx", nil, nil, nil), func(r edgeResult) string {
		if r.StatusCode != 302 {
			return "want a sign-in"
		}
		return ""
	}})
	events := make([]map[string]any, len(cases))
	for i, c := range cases {
		events[i] = c.event
	}
	for i, r := range runEdge(t, events) {
		if r.Error != "" {
			t.Errorf("%s: the function threw %s", cases[i].name, r.Error)
			continue
		}
		if msg := cases[i].check(r); msg != "" {
			t.Errorf("%s: %s; got %+v", cases[i].name, msg, r)
		}
	}
}

// urlQueryEscape is JavaScript's encodeURIComponent for the paths above.
func urlQueryEscape(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.IndexByte("-_.!~*'()", c) >= 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
