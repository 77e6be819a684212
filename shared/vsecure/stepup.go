package vsecure

import "time"

// StepUp records that the caller proved presence with a second factor just
// before the call (a passkey assertion), so that a decision which needs it
// can say so in its audit entry.
type StepUp struct {
	Method       string // "passkey"
	CredentialID string
	At           time.Time
}
