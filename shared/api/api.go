// Package api is the wire contract of the vsecure HTTP API: every request
// body, response body and list envelope, the error envelope, and the one
// table from error codes to HTTP statuses. The server (httpapi), the Go
// client, the MCP server and the Slack adapter all speak these types, so
// the contract is written once.
//
// It imports only the standard library and the domain (shared/vsecure):
// nothing here knows how a request is served.
package api

import "github.com/vsecure/vsecure/shared/vsecure"

// Page limits of the list routes.
const (
	DefaultLimit = 50
	MaxLimit     = 200
)

// Pagination is the page metadata of list responses.
type Pagination struct {
	Cursor  string `json:"cursor"`
	HasMore bool   `json:"hasMore"`
}

// Health is the answer of GET /healthz.
type Health struct {
	Status string `json:"status"`
}

// Credential kinds a caller can present (Identity.Credential).
const (
	CredentialAPIKey      = "api_key"
	CredentialAccessToken = "access_token"
	// CredentialOIDC is a person's JWT from the configured OpenID issuer.
	CredentialOIDC = "oidc"
)

// Identity is the body of GET /v1/security/whoami: who the credential
// makes the caller. Tools (the MCP server) use it to tell the caller's own
// approvals from the ones it merely sees as an approver.
type Identity struct {
	Principal string         `json:"principal"`
	Roles     []vsecure.Role `json:"roles"`
	KeyID     string         `json:"keyId,omitempty"`
	// OnBehalfOf is the human the key acts for (Key.OnBehalfOf).
	OnBehalfOf string `json:"onBehalfOf,omitempty"`
	// Credential is api_key, access_token or oidc.
	Credential string `json:"credential"`
	// Scope is set for an access token: the one operation it allows.
	Scope *ScopeView `json:"scope,omitempty"`
}
