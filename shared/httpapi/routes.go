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
)

// Route is one entry of THE route table: the local server mounts every
// entry, and the CDK stack creates one Lambda function and one API Gateway
// route per entry from the same list.
type Route struct {
	Method string
	// Path uses net/http pattern syntax; {name...} matches the rest.
	Path string
	// Function is the Lambda function (and functions/<name>) serving it.
	Function string
	Auth     Auth
	handle   func(*API, http.ResponseWriter, *http.Request) error
}

// APIGatewayPath renders Path in API Gateway syntax ({name...} → {name+}).
func (r Route) APIGatewayPath() string { return strings.ReplaceAll(r.Path, "...}", "+}") }

// Pattern is the net/http ServeMux pattern.
func (r Route) Pattern() string { return r.Method + " " + r.Path }

// Idempotent reports whether a function honours the Idempotency-Key
// header, and which top-level response fields are one-time secrets that an
// idempotency record must never hold (see gate/idempotency.go).
func Idempotent(function string) (ok bool, oneTime []string) {
	switch function {
	case "approvals-request", "approvals-respond":
		return true, []string{"accessToken"}
	case "resources-put":
		return true, nil
	case "keys-create", "keys-rotate":
		return true, []string{"key"}
	}
	return false, nil
}

// FallbackFunction is the Lambda function behind API Gateway's $default
// route: the gateway answers a request that matches no route itself (a
// bare {"message":"Not Found"} 404), so the stack sends those here and the
// function answers them as the local server does: 405 with Allow for a
// known path, the JSON 404 for an unknown one, the audited 400 for an
// unclean one. It serves no route of the table, and like those answers
// locally it runs before and without authentication.
const FallbackFunction = "fallback"

// JudgesKey reports whether every route of a function judges the caller's
// key as stored now within a read it makes anyway (the secret read and
// write, and the policy read beside it: gate.authorize, gate.GetPattern).
// Behind a cached authorizer answer the other functions re-read the key
// first (lambdafn.AuthorizerContext); these need not pay that round trip.
func JudgesKey(function string) bool {
	return function == "resources-get" || function == "resources-put"
}

// Routes returns the route table.
func Routes() []Route {
	return []Route{
		{"GET", "/healthz", "health", AuthNone, (*API).health},
		// The API's OpenAPI document, a constant like the health check,
		// served by the same function (no Lambda of its own).
		{"GET", "/openapi.json", "health", AuthNone, (*API).openapi},
		{"GET", "/v1/security/mcp/resources", "resources-list", AuthKey, (*API).listResources},
		{"POST", "/v1/security/mcp/resources", "resources-configure", AuthKey, (*API).configure},
		{"GET", "/v1/security/mcp/resources/{uri...}", "resources-get", AuthKey, (*API).getResource},
		{"PUT", "/v1/security/mcp/resources/{uri...}", "resources-put", AuthKey, (*API).putSecret},
		{"GET", "/v1/security/mcp/secrets", "secrets-list", AuthKey, (*API).listSecrets},
		{"POST", "/v1/security/mcp/approve", "approvals-request", AuthKey, (*API).requestApproval},
		{"GET", "/v1/security/mcp/approvals", "approvals-list", AuthKey, (*API).listApprovals},
		{"GET", "/v1/security/mcp/approvals/{id}", "approvals-get", AuthKey, (*API).getApproval},
		{"POST", "/v1/security/mcp/approvals/{id}/respond", "approvals-respond", AuthKey, (*API).respond},
		{"POST", "/v1/security/mcp/approvals/{id}/revoke", "approvals-revoke", AuthKey, (*API).revoke},
		{"GET", "/v1/security/mcp/audit", "audit-list", AuthKey, (*API).audit},
		{"GET", "/v1/security/mcp/audit/verify", "audit-verify", AuthKey, (*API).verifyAudit},
		{"GET", "/v1/security/mcp/audit/export", "audit-export", AuthKey, (*API).exportAudit},
		{"POST", "/v1/security/keys", "keys-create", AuthKey, (*API).createKey},
		{"GET", "/v1/security/keys", "keys-list", AuthKey, (*API).listKeys},
		{"DELETE", "/v1/security/keys/{id}", "keys-delete", AuthKey, (*API).deleteKey},
		{"POST", "/v1/security/keys/{id}/rotate", "keys-rotate", AuthKey, (*API).rotateKey},
		{"PATCH", "/v1/security/keys/{id}", "keys-update", AuthKey, (*API).updateKey},
		{"GET", "/v1/security/whoami", "whoami", AuthKey, (*API).whoami},
		// Slack's interactivity webhook (Approve/Deny buttons), served by
		// API.Extra["slack-interactions"] (package slack), which verifies
		// Slack's request signature instead of an API key.
		{"POST", "/v1/integrations/slack/interactions", "slack-interactions", AuthSlack, nil},
		// Remote MCP (Streamable HTTP, stateless), served by API.Extra["mcp"]
		// as the authenticated caller. GET and DELETE are routed so the MCP
		// handler answers them (405 in stateless mode) as clients expect.
		{"POST", "/mcp", "mcp", AuthKey, nil},
		{"GET", "/mcp", "mcp", AuthKey, nil},
		{"DELETE", "/mcp", "mcp", AuthKey, nil},
	}
}

// ApprovalURL links approvals under base, the server's public URL, to
// GET /v1/security/mcp/approvals/{id}: the gate's Config.ApprovalURL.
func ApprovalURL(base string) func(id string) string {
	base = strings.TrimRight(base, "/")
	return func(id string) string { return base + "/v1/security/mcp/approvals/" + url.PathEscape(id) }
}
