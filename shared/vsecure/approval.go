package vsecure

import (
	"slices"
	"time"
)

// Status is the state of an approval request.
type Status string

// Approval states: pending → approved | denied | expired | cancelled;
// approved → revoked | expired. Cancelled is the requester (or the human
// it acts for) withdrawing a request nobody decided yet.
const (
	StatusPending   Status = "pending"
	StatusApproved  Status = "approved"
	StatusDenied    Status = "denied"
	StatusExpired   Status = "expired"
	StatusRevoked   Status = "revoked"
	StatusCancelled Status = "cancelled"
)

// ParseStatus validates a status filter.
func ParseStatus(s string) (Status, error) {
	switch Status(s) {
	case StatusPending, StatusApproved, StatusDenied, StatusExpired, StatusRevoked, StatusCancelled:
		return Status(s), nil
	}
	return "", Errorf(EInvalid, "unknown status %q (want pending, approved, denied, expired, revoked or cancelled)", s)
}

// Action is an approver's decision.
type Action string

// Decisions an approver can make.
const (
	ActionApprove Action = "approve"
	ActionDeny    Action = "deny"
)

// AutoApprover is the approvedBy of requests granted by an autoApprove rule.
const AutoApprover = "auto"

// Decision is one approver's vote.
type Decision struct {
	By     string    `json:"by"`
	Action Action    `json:"action"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

// Approval is a request for one operation on one concrete resource. The
// governing policy's approvers and quorum are copied in at request time, so
// a later policy edit cannot change who decides a request already made.
type Approval struct {
	ID          string    `json:"approvalId"`
	Resource    string    `json:"resource"`
	Operation   Operation `json:"operation"`
	Reason      string    `json:"reason,omitempty"`
	RequestedBy string    `json:"requestedBy"`
	// OnBehalfOf is the human the requesting key acts for (Key.OnBehalfOf
	// at request time): separation of duties counts them as the requester.
	OnBehalfOf        string     `json:"onBehalfOf,omitempty"`
	RequestedAt       time.Time  `json:"requestedAt"`
	ExpiresAt         time.Time  `json:"expiresAt"`
	TTL               int        `json:"ttl"`
	Status            Status     `json:"status"`
	Approvers         []string   `json:"approvers"`
	RequiredApprovals int        `json:"requiredApprovals"`
	Decisions         []Decision `json:"decisions,omitempty"`
	ApprovedBy        string     `json:"approvedBy,omitempty"`
	ApprovedAt        *time.Time `json:"approvedAt,omitempty"`
	DeniedBy          string     `json:"deniedBy,omitempty"`
	DeniedAt          *time.Time `json:"deniedAt,omitempty"`
	RevokedBy         string     `json:"revokedBy,omitempty"`
	RevokedAt         *time.Time `json:"revokedAt,omitempty"`
	CancelledBy       string     `json:"cancelledBy,omitempty"`
	CancelledAt       *time.Time `json:"cancelledAt,omitempty"`
	SlackChannel      string     `json:"slackChannel,omitempty"`
	// MaxUses is how many reads or uses the approval allows (0: no cap)
	// and UsesLeft how many remain; the last one ends the grant and the
	// access token as expiry would.
	MaxUses  int `json:"maxUses,omitempty"`
	UsesLeft int `json:"usesLeft,omitempty"`
	// StepUp is the policy's stepUp, copied like its approvers: deciding
	// or revoking this approval needs a fresh passkey step-up.
	StepUp bool `json:"stepUp,omitempty"`
	// TokenHash is the SHA-256 of the access token issued on approval.
	TokenHash string `json:"tokenHash,omitempty"`
	// RequestedByKey is the key the request came with: the access token
	// lives only as long as that key does. Approvals made before tokens
	// were bound have none, and their tokens are refused.
	RequestedByKey string `json:"requestedByKey,omitempty"`
	// TaskToken is the workflow's callback token, stored by Notify.
	TaskToken string `json:"taskToken,omitempty"`
	// Notice references the message that announced the request (for
	// example a Slack channel and timestamp) so it can be updated.
	Notice map[string]string `json:"notice,omitempty"`
	// Version increases by one on every write; stores accept a write only
	// if the stored version is Version-1.
	Version int `json:"version"`
}

// StatusAt is the status as of now: a pending or approved request whose
// expiresAt has passed is expired even before the store is tidied.
func (a *Approval) StatusAt(now time.Time) Status {
	if (a.Status == StatusPending || a.Status == StatusApproved) && !now.Before(a.ExpiresAt) {
		return StatusExpired
	}
	return a.Status
}

// Grants reports whether the approval lets principal perform op on
// resource at now.
func (a *Approval) Grants(principal, resource string, op Operation, now time.Time) bool {
	return a.StatusAt(now) == StatusApproved && !a.Spent() && a.RequestedBy == principal &&
		a.Resource == resource && a.Covers(op)
}

// Covers reports whether the approval's operation includes op: itself,
// or use under an approved read (read implies use).
func (a *Approval) Covers(op Operation) bool { return a.Operation.Covers(op) }

// Spent reports whether a capped approval has no use left.
func (a *Approval) Spent() bool { return a.MaxUses > 0 && a.UsesLeft <= 0 }

// Spend takes one use of a capped approval: the next version, which the
// store writes conditionally, so of racing readers exactly one gets each use.
func (a Approval) Spend() (Approval, error) {
	if a.MaxUses == 0 {
		return a, Errorf(EInvalid, "approval %s has no use cap", a.ID)
	}
	if a.Spent() {
		return a, Errorf(EApprovalRequired, "approval %s has no use left", a.ID)
	}
	a.UsesLeft--
	a.Version++
	return a, nil
}

// Decide applies approver by's action at now and returns the next state.
// It enforces every rule of a decision; stores only make it atomic.
func (a Approval) Decide(by string, action Action, reason string, now time.Time) (Approval, error) {
	if by == a.RequestedBy {
		return a, Errorf(ESelfApproval, "requesters cannot decide their own request")
	}
	if a.OnBehalfOf != "" && by == a.OnBehalfOf {
		return a, Errorf(ESelfApproval, "%s cannot decide a request their agent %s made for them", by, a.RequestedBy)
	}
	if !slices.Contains(a.Approvers, by) {
		return a, Errorf(ENotApprover, "%s is not an approver of this request", by)
	}
	switch a.StatusAt(now) {
	case StatusExpired:
		return a, Errorf(EExpired, "approval %s expired at %s", a.ID, a.ExpiresAt.Format(time.RFC3339))
	case StatusPending:
	default:
		return a, Errorf(EAlreadyDecided, "approval %s is already %s", a.ID, a.Status)
	}
	for _, d := range a.Decisions {
		if d.By == by {
			return a, Errorf(EAlreadyDecided, "%s already decided approval %s", by, a.ID)
		}
	}
	at := now.UTC().Truncate(time.Second)
	a.Decisions = append(slices.Clone(a.Decisions), Decision{By: by, Action: action, Reason: reason, At: at})
	switch action {
	case ActionDeny:
		a.Status, a.DeniedBy, a.DeniedAt = StatusDenied, by, &at
	case ActionApprove:
		if a.approvals() >= a.RequiredApprovals {
			a.Status, a.ApprovedBy, a.ApprovedAt = StatusApproved, by, &at
		}
	default:
		return a, Errorf(EInvalid, "unknown action %q (want approve or deny)", action)
	}
	a.Version++
	return a, nil
}

func (a *Approval) approvals() int {
	n := 0
	for _, d := range a.Decisions {
		if d.Action == ActionApprove {
			n++
		}
	}
	return n
}

// Approvals counts the approve votes so far.
func (a *Approval) Approvals() int { return a.approvals() }

// AutoApprove marks a new request granted by policy.
func (a Approval) AutoApprove() Approval {
	at := a.RequestedAt
	a.Status, a.ApprovedBy, a.ApprovedAt = StatusApproved, AutoApprover, &at
	return a
}

// Revoke ends granted access at once.
func (a Approval) Revoke(by string, now time.Time) (Approval, error) {
	switch a.StatusAt(now) {
	case StatusApproved:
	case StatusExpired:
		return a, Errorf(EExpired, "approval %s already expired", a.ID)
	case StatusPending:
		return a, Errorf(EAlreadyDecided, "approval %s is pending; deny it instead", a.ID)
	default:
		return a, Errorf(EAlreadyDecided, "approval %s is already %s", a.ID, a.Status)
	}
	at := now.UTC().Truncate(time.Second)
	a.Status, a.RevokedBy, a.RevokedAt = StatusRevoked, by, &at
	a.Version++
	return a, nil
}

// Cancel withdraws a pending request, or ends an approved one's access as
// Revoke does. Who may cancel is the caller's business (CanCancel).
func (a Approval) Cancel(by string, now time.Time) (Approval, error) {
	switch a.StatusAt(now) {
	case StatusPending:
	case StatusApproved:
		return a.Revoke(by, now)
	case StatusExpired:
		return a, Errorf(EExpired, "approval %s already expired", a.ID)
	default:
		return a, Errorf(EAlreadyDecided, "approval %s is already %s", a.ID, a.Status)
	}
	at := now.UTC().Truncate(time.Second)
	a.Status, a.CancelledBy, a.CancelledAt = StatusCancelled, by, &at
	a.Version++
	return a, nil
}

// Requester reports whether principal id counts as the requester: the
// requesting key's principal or the human it acts for.
func (a *Approval) Requester(id string) bool {
	return id == a.RequestedBy || a.OnBehalfOf != "" && id == a.OnBehalfOf
}

// ActsForRequester reports whether p counts as the requester for
// separation of duties: p is the requester or its human, or p is another
// agent of the same human (or of the requester itself).
func (a *Approval) ActsForRequester(p Principal) bool {
	return a.Requester(p.ID) || p.OnBehalfOf != "" && a.Requester(p.OnBehalfOf)
}

// RequesterLabel is how a requester reads to humans: "ai-agent-123 for
// alice" for an agent acting on behalf of alice, else the principal.
func RequesterLabel(requestedBy, onBehalfOf string) string {
	if onBehalfOf == "" {
		return requestedBy
	}
	return requestedBy + " for " + onBehalfOf
}

// CanCancel reports whether p may cancel the approval: its requester, the
// human the requester acts for, or an admin.
func (a *Approval) CanCancel(p Principal) bool {
	return p.Scope == nil && (p.Has(RoleAdmin) || a.Requester(p.ID))
}

// Expire records that a pending or approved request reached expiresAt.
func (a Approval) Expire(now time.Time) (Approval, error) {
	if a.Status != StatusPending && a.Status != StatusApproved {
		return a, Errorf(EAlreadyDecided, "approval %s is already %s", a.ID, a.Status)
	}
	if now.Before(a.ExpiresAt) {
		return a, Errorf(EInvalid, "approval %s expires at %s", a.ID, a.ExpiresAt.Format(time.RFC3339))
	}
	a.Status = StatusExpired
	a.Version++
	return a, nil
}

// CanView reports whether principal p may see the approval.
func (a *Approval) CanView(p Principal) bool {
	return p.Has(RoleAdmin) || a.Requester(p.ID) || slices.Contains(a.Approvers, p.ID)
}
