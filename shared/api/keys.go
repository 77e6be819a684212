package api

import "github.com/vsecure/vsecure/shared/vsecure"

// KeyRequest is the body of POST /v1/security/keys.
type KeyRequest struct {
	Principal   string   `json:"principal"`
	Roles       []string `json:"roles"`
	SlackUserID string   `json:"slackUserId"`
	// OnBehalfOf names the human principal an agent key acts for; it
	// cannot be changed later (rotation keeps it).
	OnBehalfOf string `json:"onBehalfOf,omitempty"`
}

// CreatedKey is shown once: Key is never retrievable again.
type CreatedKey struct {
	vsecure.Key
	Secret string `json:"key"`
}

// RotateRequest is the body of POST /v1/security/keys/:id/rotate.
type RotateRequest struct {
	// OverlapSeconds is how long the old key keeps working; nil means
	// the gate's default overlap, 0 ends it at once.
	OverlapSeconds *int `json:"overlapSeconds"`
}

// RotatedKey is the new key (its secret shown once) and the old key with
// the expiry the rotation gave it.
type RotatedKey struct {
	CreatedKey
	Replaces vsecure.Key `json:"replaces"`
}

// KeyUpdateRequest is the body of PATCH /v1/security/keys/:id: the fields
// present change, at least one must be.
type KeyUpdateRequest struct {
	// SlackUserID maps the key's principal to a Slack user for Slack
	// approvals; "" removes the mapping.
	SlackUserID *string `json:"slackUserId,omitempty"`
	// Roles replaces the key's roles (validated as at creation).
	Roles []string `json:"roles,omitempty"`
}

// KeyList is a page of GET /v1/security/keys.
type KeyList struct {
	Keys       []vsecure.Key `json:"keys"`
	Pagination Pagination    `json:"pagination"`
}

// BootstrapRequest is the admin-bootstrap function's event. RequestedBy is
// the caller's ARN as the CLI read it from STS: a direct Lambda invoke
// carries no identity the function can see, so it is recorded as claimed
// (CloudTrail's Invoke record names the real caller).
type BootstrapRequest struct {
	Principal   string `json:"principal"`
	BreakGlass  bool   `json:"breakGlass"`
	RequestedBy string `json:"requestedBy"`
}
