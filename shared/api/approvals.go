package api

import (
	"time"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// ApprovalRequest is the body of POST /v1/security/mcp/approve.
type ApprovalRequest struct {
	Resource    string `json:"resource"`
	Operation   string `json:"operation"`
	Reason      string `json:"reason"`
	RequestedBy string `json:"requestedBy"`
	TTL         *int   `json:"ttl"`
	// MaxUses asks for at most this many reads or uses (never more than
	// the policy's maxUses).
	MaxUses *int `json:"maxUses,omitempty"`
}

// ApprovalView is an approval as callers see it: never the token hash or
// workflow internals. AccessToken is set only in the one response that
// issued it. StepUp says deciding or revoking needs a passkey step-up, so
// only the console at ApprovalURL can (the API, MCP and Slack are refused).
type ApprovalView struct {
	ID                string             `json:"approvalId"`
	Status            vsecure.Status     `json:"status"`
	Resource          string             `json:"resource"`
	Operation         vsecure.Operation  `json:"operation"`
	Reason            string             `json:"reason,omitempty"`
	RequestedBy       string             `json:"requestedBy"`
	OnBehalfOf        string             `json:"onBehalfOf,omitempty"`
	RequestedAt       time.Time          `json:"requestedAt"`
	ExpiresAt         time.Time          `json:"expiresAt"`
	TTL               int                `json:"ttl"`
	Approvers         []string           `json:"approvers"`
	RequiredApprovals int                `json:"requiredApprovals"`
	StepUp            bool               `json:"stepUp,omitempty"`
	MaxUses           int                `json:"maxUses,omitempty"`
	UsesLeft          int                `json:"usesLeft,omitempty"`
	Approvals         int                `json:"approvals"`
	Decisions         []vsecure.Decision `json:"decisions,omitempty"`
	ApprovedBy        string             `json:"approvedBy,omitempty"`
	ApprovedAt        *time.Time         `json:"approvedAt,omitempty"`
	DeniedBy          string             `json:"deniedBy,omitempty"`
	DeniedAt          *time.Time         `json:"deniedAt,omitempty"`
	RevokedBy         string             `json:"revokedBy,omitempty"`
	RevokedAt         *time.Time         `json:"revokedAt,omitempty"`
	CancelledBy       string             `json:"cancelledBy,omitempty"`
	CancelledAt       *time.Time         `json:"cancelledAt,omitempty"`
	AccessToken       string             `json:"accessToken,omitempty"`
	ApprovalURL       string             `json:"approvalUrl"`
}

// Requester is how a request's origin reads to humans: the requesting
// principal, and the human it acts for ("ai-agent-123 for alice").
func (v ApprovalView) Requester() string { return vsecure.RequesterLabel(v.RequestedBy, v.OnBehalfOf) }

// Respond is the body of POST /v1/security/mcp/approvals/:id/respond.
type Respond struct {
	Action     string `json:"action"`
	Reason     string `json:"reason"`
	ApprovedBy string `json:"approvedBy"`
}

// ApprovalList is a page of GET /v1/security/mcp/approvals.
type ApprovalList struct {
	Data       []ApprovalView `json:"data"`
	Pagination Pagination     `json:"pagination"`
}

// ApprovalsQuery filters GET /v1/security/mcp/approvals.
type ApprovalsQuery struct {
	Status   string // pending, approved, denied, expired, revoked, cancelled
	Resource string // exact resource URI
	Limit    int
	Cursor   string
}

// ScopeView is an access token's scope as callers see it.
type ScopeView struct {
	ApprovalID string            `json:"approvalId"`
	Resource   string            `json:"resource"`
	Operation  vsecure.Operation `json:"operation"`
	ExpiresAt  time.Time         `json:"expiresAt"`
}
