package httpapi

import (
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// The response envelopes of the list routes and of the health check. They
// are named so that the OpenAPI document (openapi.go) describes the very
// types the handlers write.

// Health is the answer of GET /healthz.
type Health struct {
	Status string `json:"status"`
}

// ResourceList is the answer of GET /v1/security/mcp/resources.
type ResourceList struct {
	Resources []gate.ResourceView `json:"resources"`
}

// SecretList is a page of GET /v1/security/mcp/secrets.
type SecretList struct {
	Secrets    []gate.SecretInfo `json:"secrets"`
	Pagination gate.Pagination   `json:"pagination"`
}

// ApprovalList is a page of GET /v1/security/mcp/approvals.
type ApprovalList struct {
	Data       []gate.ApprovalView `json:"data"`
	Pagination gate.Pagination     `json:"pagination"`
}

// AuditLog is a page of GET /v1/security/mcp/audit.
type AuditLog struct {
	Logs       []vsecure.Entry `json:"logs"`
	Pagination gate.Pagination `json:"pagination"`
}

// KeyList is a page of GET /v1/security/keys.
type KeyList struct {
	Keys       []vsecure.Key   `json:"keys"`
	Pagination gate.Pagination `json:"pagination"`
}
