package vsecure

import (
	"slices"
	"time"
)

// Audited operation names. Every API call records one of these.
const (
	AuditRead            = "read"
	AuditUse             = "use"
	AuditWrite           = "write"
	AuditListResources   = "list_resources"
	AuditGetResource     = "get_resource"
	AuditConfigure       = "configure"
	AuditRequestApproval = "request_approval"
	AuditApprove         = "approve"
	AuditDeny            = "deny"
	AuditRespond         = "respond"
	AuditRevoke          = "revoke"
	AuditCancel          = "cancel"
	AuditExpire          = "expire"
	AuditGetApproval     = "get_approval"
	AuditListApprovals   = "list_approvals"
	AuditQuery           = "audit_query"
	AuditKeyCreate       = "key_create"
	AuditKeyList         = "key_list"
	AuditKeyRevoke       = "key_revoke"
	AuditKeyRotate       = "key_rotate"
	AuditReplay          = "idempotent_replay"
	AuditAuthenticate    = "authenticate"
	AuditListSecrets     = "list_secrets"
	AuditMCP             = "mcp"
	AuditSlack           = "slack_interaction"
	AuditVerify          = "audit_verify"
	AuditExport          = "audit_export"
	// AuditKeySlack is what PATCH of a key was audited as before it could
	// change roles; entries written since say AuditKeyUpdate.
	AuditKeySlack  = "key_slack"
	AuditKeyUpdate = "key_update"
	AuditWhoami    = "whoami"
	// AuditKeyBootstrap is an admin key minted by the admin-bootstrap
	// function, outside the API (first key of a stack, or break-glass).
	AuditKeyBootstrap = "key_bootstrap"
	// A principal registered or deleted a passkey (its step-up factor).
	AuditPasskeyRegister = "passkey:register"
	AuditPasskeyDelete   = "passkey:delete"
)

// AuditOperations lists every name an entry's operation can take, for
// validating filters.
var AuditOperations = []string{
	AuditRead, AuditUse, AuditWrite, AuditListResources, AuditGetResource, AuditConfigure,
	AuditRequestApproval, AuditApprove, AuditDeny, AuditRespond, AuditRevoke, AuditCancel, AuditExpire,
	AuditGetApproval, AuditListApprovals, AuditQuery, AuditKeyCreate, AuditKeyList,
	AuditKeyRevoke, AuditKeyRotate, AuditReplay, AuditAuthenticate, AuditListSecrets, AuditMCP, AuditSlack, AuditVerify,
	AuditExport, AuditKeySlack, AuditKeyUpdate, AuditWhoami, AuditKeyBootstrap,
	AuditPasskeyRegister, AuditPasskeyDelete,
}

// Anonymous is the actor of calls that presented no valid credential.
const Anonymous = "anonymous"

// Entry is one immutable audit record. It never holds a secret value, an
// API key or an access token.
type Entry struct {
	ID         string            `json:"id"`
	Timestamp  time.Time         `json:"timestamp"`
	Resource   string            `json:"resource,omitempty"`
	Operation  string            `json:"operation"`
	Actor      string            `json:"actor"`
	ApprovalID string            `json:"approvalId,omitempty"`
	Success    bool              `json:"success"`
	Error      string            `json:"error,omitempty"`
	Metadata   map[string]string `json:"metadata"`
}

// AuditFilter selects entries; zero fields do not restrict. Resource is an
// exact URI or a pattern covering the entries' resources.
type AuditFilter struct {
	Resource  string
	Actor     string
	Operation string
	Success   *bool
	From, To  time.Time
}

// Matches reports whether e passes f.
func (f AuditFilter) Matches(e *Entry) bool {
	if f.Actor != "" && e.Actor != f.Actor {
		return false
	}
	if f.Operation != "" && e.Operation != f.Operation {
		return false
	}
	if f.Success != nil && e.Success != *f.Success {
		return false
	}
	if !f.From.IsZero() && e.Timestamp.Before(f.From) {
		return false
	}
	if !f.To.IsZero() && e.Timestamp.After(f.To) {
		return false
	}
	if f.Resource != "" {
		if e.Resource == f.Resource {
			return true
		}
		p, err := ParseURI(f.Resource)
		if err != nil {
			return false
		}
		u, err := ParseURI(e.Resource)
		if err != nil || !p.Covers(u) {
			return false
		}
	}
	return true
}

// ApprovalFilter selects approvals; zero fields do not restrict.
type ApprovalFilter struct {
	// Visible limits results to approvals this principal requested, had
	// requested on their behalf, or may decide. Empty for admins.
	Visible   string
	Status    Status
	Resource  string
	Operation Operation
	// Now evaluates status: a pending request past expiresAt is expired.
	Now time.Time
}

// Matches reports whether a passes f.
func (f ApprovalFilter) Matches(a *Approval) bool {
	if f.Visible != "" && !a.Requester(f.Visible) && !slices.Contains(a.Approvers, f.Visible) {
		return false
	}
	if f.Status != "" && a.StatusAt(f.Now) != f.Status {
		return false
	}
	if f.Resource != "" && a.Resource != f.Resource {
		return false
	}
	if f.Operation != "" && a.Operation != f.Operation {
		return false
	}
	return true
}

// CountsAccess reports whether an entry of operation op that succeeded is
// one access to its secret (its accessCount and accessedAt).
func CountsAccess(op string) bool { return op == AuditRead || op == AuditUse }
