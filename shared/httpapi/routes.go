package httpapi

import (
	"net/http"
	"net/url"
	"strings"
)

// Auth says how a route authenticates its caller.
type Auth int

// Route authentication kinds.
const (
	// AuthKey routes need an API key or access token (the API Gateway
	// authorizer in AWS, middleware locally).
	AuthKey Auth = iota
	// AuthNone routes are public (health, the OpenAPI document).
	AuthNone
	// AuthSlack routes verify Slack's request signature themselves.
	AuthSlack
	// AuthSession routes are the console's pages: Mounts.Console checks
	// its own sealed session cookie (package console). In AWS, with
	// people signing in, the gateway's JWT authorizer checks the ID token
	// the console edge presents first (infra/edge.go).
	AuthSession
	// AuthSignIn routes are the console's sign-in steps, which come
	// before any session or token: public at the gateway, like the
	// stylesheet.
	AuthSignIn
)

// Route is one entry of THE route table: the local server mounts every
// entry, and the CDK stack creates one Lambda function and one API Gateway
// route per entry from the same list. Every fact about a route lives in
// its entry, so a new route is one keyed literal here.
type Route struct {
	Method string
	// Path uses net/http pattern syntax; {name...} matches the rest.
	Path string
	// Function is the Lambda function (and functions/<name>) serving it.
	Function string
	Auth     Auth
	// Idempotent routes honour the Idempotency-Key header; OneTime names
	// their top-level response fields that are one-time secrets, which an
	// idempotency record must never hold (see gate/idempotency.go).
	Idempotent bool
	OneTime    []string
	// JudgesKey: the route judges the caller's key as stored now within a
	// read it makes anyway (the secret read and write, and the policy read
	// beside it: gate.authorize, gate.GetPattern). Behind a cached
	// authorizer answer the other functions re-read the key first
	// (lambdafn.AuthorizerContext); these need not pay that round trip.
	JudgesKey bool
	// Mount names the field of Mounts that serves the route when another
	// package owns its handler (MCP, Slack); handle is nil for those.
	Mount  Mount
	handle func(*API, http.ResponseWriter, *http.Request) error
}

// Mount names one field of Mounts.
type Mount int

// The mountable routes' handlers.
const (
	// NotMounted routes are served by the API's own handlers.
	NotMounted Mount = iota
	// MountMCP is Mounts.MCP.
	MountMCP
	// MountSlack is Mounts.Slack.
	MountSlack
	// MountConsole is Mounts.Console.
	MountConsole
)

func (m Mount) String() string {
	switch m {
	case MountMCP:
		return "Mounts.MCP"
	case MountSlack:
		return "Mounts.Slack"
	case MountConsole:
		return "Mounts.Console"
	}
	return "not mounted"
}

// Mounts are the handlers other packages serve routes of the table with.
// A mounted route whose field is nil is an error when the handler is
// built (Handler, FunctionHandler), not a 404 at request time; a runtime
// that leaves one off on purpose sets it to Disabled.
type Mounts struct {
	// MCP serves remote MCP (package remotemcp).
	MCP http.Handler
	// Slack serves Slack's interactivity webhook (package slack).
	Slack http.Handler
	// Console serves the people's web console (package console).
	Console http.Handler
}

func (m Mounts) handler(k Mount) http.Handler {
	switch k {
	case MountMCP:
		return m.MCP
	case MountSlack:
		return m.Slack
	case MountConsole:
		return m.Console
	}
	return nil
}

// Disabled is the mount of a route the operator chose to leave off (Slack
// without a signing secret): the route answers 404 "endpoint not enabled".
var Disabled http.Handler = disabled{}

type disabled struct{}

// ServeHTTP is only reached outside an API; inside one the route writes
// the JSON error envelope instead (API.route).
func (disabled) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	http.Error(w, "endpoint not enabled", http.StatusNotFound)
}

// APIGatewayPath renders Path in API Gateway syntax ({name...} → {name+}).
func (r Route) APIGatewayPath() string { return strings.ReplaceAll(r.Path, "...}", "+}") }

// Pattern is the net/http ServeMux pattern.
func (r Route) Pattern() string { return r.Method + " " + r.Path }

// FallbackFunction is the Lambda function behind API Gateway's $default
// route: the gateway answers a request that matches no route itself (a
// bare {"message":"Not Found"} 404), so the stack sends those here and the
// function answers them as the local server does: 405 with Allow for a
// known path, the JSON 404 for an unknown one, the audited 400 for an
// unclean one. It serves no route of the table, and like those answers
// locally it runs before and without authentication.
const FallbackFunction = "fallback"

// RoutesOf returns the routes served by one function.
func RoutesOf(function string) []Route {
	var rs []Route
	for _, r := range Routes() {
		if r.Function == function {
			rs = append(rs, r)
		}
	}
	return rs
}

// Routes returns the route table: the JSON API's routes, then the
// console's pages.
func Routes() []Route { return append(apiRoutes(), consoleRoutes()...) }

func apiRoutes() []Route {
	return []Route{
		{Method: "GET", Path: "/healthz", Function: "health", Auth: AuthNone, handle: (*API).health},
		// The API's OpenAPI document, a constant like the health check,
		// served by the same function (no Lambda of its own).
		{Method: "GET", Path: "/openapi.json", Function: "health", Auth: AuthNone, handle: (*API).openapi},
		{Method: "GET", Path: "/v1/security/mcp/resources", Function: "resources-list", Auth: AuthKey, handle: (*API).listResources},
		{Method: "POST", Path: "/v1/security/mcp/resources", Function: "resources-configure", Auth: AuthKey, handle: (*API).configure},
		{Method: "GET", Path: "/v1/security/mcp/resources/{uri...}", Function: "resources-get", Auth: AuthKey, JudgesKey: true, handle: (*API).getResource},
		{Method: "PUT", Path: "/v1/security/mcp/resources/{uri...}", Function: "resources-put", Auth: AuthKey, Idempotent: true, JudgesKey: true, handle: (*API).putSecret},
		{Method: "POST", Path: "/v1/security/mcp/secrets/use", Function: "secrets-use", Auth: AuthKey, JudgesKey: true, handle: (*API).useSecret},
		{Method: "GET", Path: "/v1/security/mcp/secrets", Function: "secrets-list", Auth: AuthKey, handle: (*API).listSecrets},
		{Method: "POST", Path: "/v1/security/mcp/approve", Function: "approvals-request", Auth: AuthKey, Idempotent: true, OneTime: []string{"accessToken"}, handle: (*API).requestApproval},
		{Method: "GET", Path: "/v1/security/mcp/approvals", Function: "approvals-list", Auth: AuthKey, handle: (*API).listApprovals},
		{Method: "GET", Path: "/v1/security/mcp/approvals/{id}", Function: "approvals-get", Auth: AuthKey, handle: (*API).getApproval},
		{Method: "POST", Path: "/v1/security/mcp/approvals/{id}/respond", Function: "approvals-respond", Auth: AuthKey, Idempotent: true, OneTime: []string{"accessToken"}, handle: (*API).respond},
		{Method: "POST", Path: "/v1/security/mcp/approvals/{id}/revoke", Function: "approvals-revoke", Auth: AuthKey, handle: (*API).revoke},
		{Method: "POST", Path: "/v1/security/mcp/approvals/{id}/cancel", Function: "approvals-cancel", Auth: AuthKey, handle: (*API).cancel},
		{Method: "GET", Path: "/v1/security/mcp/audit", Function: "audit-list", Auth: AuthKey, handle: (*API).audit},
		{Method: "GET", Path: "/v1/security/mcp/audit/verify", Function: "audit-verify", Auth: AuthKey, handle: (*API).verifyAudit},
		{Method: "GET", Path: "/v1/security/mcp/audit/export", Function: "audit-export", Auth: AuthKey, handle: (*API).exportAudit},
		{Method: "POST", Path: "/v1/security/keys", Function: "keys-create", Auth: AuthKey, Idempotent: true, OneTime: []string{"key"}, handle: (*API).createKey},
		{Method: "GET", Path: "/v1/security/keys", Function: "keys-list", Auth: AuthKey, handle: (*API).listKeys},
		{Method: "DELETE", Path: "/v1/security/keys/{id}", Function: "keys-delete", Auth: AuthKey, handle: (*API).deleteKey},
		{Method: "POST", Path: "/v1/security/keys/{id}/rotate", Function: "keys-rotate", Auth: AuthKey, Idempotent: true, OneTime: []string{"key"}, handle: (*API).rotateKey},
		{Method: "PATCH", Path: "/v1/security/keys/{id}", Function: "keys-update", Auth: AuthKey, handle: (*API).updateKey},
		{Method: "GET", Path: "/v1/security/whoami", Function: "whoami", Auth: AuthKey, handle: (*API).whoami},
		// Slack's interactivity webhook (Approve/Deny buttons), served by
		// Mounts.Slack (package slack), which verifies Slack's request
		// signature instead of an API key.
		{Method: "POST", Path: "/v1/integrations/slack/interactions", Function: "slack-interactions", Auth: AuthSlack, Mount: MountSlack},
		// Remote MCP (Streamable HTTP, stateless), served by Mounts.MCP as
		// the authenticated caller. GET and DELETE are routed so the MCP
		// handler answers them (405 in stateless mode) as clients expect.
		{Method: "POST", Path: "/mcp", Function: "mcp", Auth: AuthKey, Mount: MountMCP},
		{Method: "GET", Path: "/mcp", Function: "mcp", Auth: AuthKey, Mount: MountMCP},
		{Method: "DELETE", Path: "/mcp", Function: "mcp", Auth: AuthKey, Mount: MountMCP},
	}
}

// consoleRoutes are the console's pages (package console), served by
// Mounts.Console: one Lambda function per page, with the page's own form
// posts only where they are its steps (sign-in, passkeys, step-up).
// AuthSession makes the console check its sealed session cookie itself,
// failing closed; in AWS the gateway's JWT authorizer checks the person's
// ID token before that (infra/edge.go). The sign-in steps, the stylesheet
// and the script are public.
func consoleRoutes() []Route {
	page := func(method, path, function string) Route {
		return Route{Method: method, Path: path, Function: function, Auth: AuthSession, Mount: MountConsole}
	}
	signIn := func(method, path string) Route {
		return Route{Method: method, Path: path, Function: "console-signin", Auth: AuthSignIn, Mount: MountConsole}
	}
	return []Route{
		signIn("GET", "/console/signin"),
		signIn("POST", "/console/signin/dev"),
		signIn("POST", "/console/signout"),
		signIn("GET", "/console/oidc/start"),
		signIn("GET", "/console/oidc/callback"),
		page("GET", "/console", "console-inbox"),
		page("GET", "/console/approvals/{id}", "console-approval"),
		page("POST", "/console/approvals/{id}/decide", "console-decide"),
		page("POST", "/console/approvals/{id}/revoke", "console-revoke"),
		page("POST", "/console/approvals/{id}/cancel", "console-cancel"),
		page("GET", "/console/audit", "console-audit"),
		page("GET", "/console/keys", "console-keys"),
		page("GET", "/console/policies", "console-policies"),
		page("GET", "/console/passkeys", "console-passkeys"),
		page("POST", "/console/passkeys/begin", "console-passkeys"),
		page("POST", "/console/passkeys/finish", "console-passkeys"),
		page("POST", "/console/stepup/begin", "console-stepup"),
		page("POST", "/console/stepup/finish", "console-stepup"),
		{Method: "GET", Path: "/console/static/{file...}", Function: "console-static", Auth: AuthNone, Mount: MountConsole},
	}
}

// ApprovalURL links approvals under base, the server's public URL, to
// their console page GET /console/approvals/{id}: the gate's
// Config.ApprovalURL. A person who follows it signs in and decides there.
func ApprovalURL(base string) func(id string) string {
	base = strings.TrimRight(base, "/")
	return func(id string) string { return base + "/console/approvals/" + url.PathEscape(id) }
}
