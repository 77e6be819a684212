package api

import (
	"time"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// ResourceView is a policy as listed to callers (the seed's resource).
type ResourceView struct {
	URI               string               `json:"uri"`
	Name              string               `json:"name,omitempty"`
	Description       string               `json:"description,omitempty"`
	Type              string               `json:"type"`
	Permissions       []vsecure.Operation  `json:"permissions"`
	RequiresApproval  bool                 `json:"requiresApproval"`
	StepUp            bool                 `json:"stepUp,omitempty"`
	Approvers         []string             `json:"approvers,omitempty"`
	RequiredApprovals int                  `json:"requiredApprovals,omitempty"`
	MaxTTL            int                  `json:"maxTtl,omitempty"`
	MaxUses           int                  `json:"maxUses,omitempty"`
	AutoApprove       *vsecure.AutoApprove `json:"autoApprove,omitempty"`
	SlackChannel      string               `json:"slackChannel,omitempty"`
	UpdatedAt         *time.Time           `json:"updatedAt,omitempty"`
}

// ResourceList is the answer of GET /v1/security/mcp/resources.
type ResourceList struct {
	Resources []ResourceView `json:"resources"`
}

// ResourceConfig is the body of POST /v1/security/mcp/resources.
type ResourceConfig struct {
	URI               string               `json:"uri"`
	Name              string               `json:"name,omitempty"`
	Description       string               `json:"description,omitempty"`
	Permissions       []vsecure.Operation  `json:"permissions"`
	RequiresApproval  bool                 `json:"requiresApproval"`
	StepUp            bool                 `json:"stepUp,omitempty"`
	Approvers         []string             `json:"approvers,omitempty"`
	RequiredApprovals int                  `json:"requiredApprovals,omitempty"`
	MaxTTL            int                  `json:"maxTtl,omitempty"`
	MaxUses           int                  `json:"maxUses,omitempty"`
	AutoApprove       *vsecure.AutoApprove `json:"autoApprove,omitempty"`
	SlackChannel      string               `json:"slackChannel,omitempty"`
	Metadata          map[string]string    `json:"metadata,omitempty"`
}

// Policy is the policy c configures.
func (c ResourceConfig) Policy() vsecure.Policy {
	return vsecure.Policy{
		URI: c.URI, Name: c.Name, Description: c.Description, Permissions: c.Permissions,
		RequiresApproval: c.RequiresApproval, StepUp: c.StepUp, Approvers: c.Approvers, RequiredApprovals: c.RequiredApprovals,
		MaxTTL: c.MaxTTL, MaxUses: c.MaxUses, AutoApprove: c.AutoApprove, SlackChannel: c.SlackChannel, Metadata: c.Metadata,
	}
}

// SecretRead is a secret with its value, as returned by a read.
type SecretRead struct {
	URI         string            `json:"uri"`
	Name        string            `json:"name,omitempty"`
	Description string            `json:"description,omitempty"`
	Type        string            `json:"type"`
	Value       string            `json:"value"`
	Version     int               `json:"version"`
	Metadata    map[string]string `json:"metadata"`
	AccessedAt  *time.Time        `json:"accessedAt"`
	AccessCount int64             `json:"accessCount"`
	ApprovalID  string            `json:"approvalId,omitempty"`
}

// SecretWrite is the body of a secret write.
type SecretWrite struct {
	Value       *string           `json:"value"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Metadata    map[string]string `json:"metadata"`
}

// SecretInfo describes a secret without its value.
type SecretInfo struct {
	URI         string            `json:"uri"`
	Name        string            `json:"name,omitempty"`
	Description string            `json:"description,omitempty"`
	Type        string            `json:"type"`
	Version     int               `json:"version"`
	Metadata    map[string]string `json:"metadata"`
	CreatedAt   time.Time         `json:"createdAt"`
	UpdatedAt   time.Time         `json:"updatedAt"`
	UpdatedBy   string            `json:"updatedBy,omitempty"`
	AccessCount int64             `json:"accessCount"`
	AccessedAt  *time.Time        `json:"accessedAt"`
}

// SecretList is a page of GET /v1/security/mcp/secrets.
type SecretList struct {
	Secrets    []SecretInfo `json:"secrets"`
	Pagination Pagination   `json:"pagination"`
}

// SecretsQuery filters GET /v1/security/mcp/secrets.
type SecretsQuery struct {
	// Pattern is a URI pattern ending in /* (empty: every visible secret).
	Pattern string
	Limit   int
	Cursor  string
}
