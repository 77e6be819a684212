package vsecure

import "context"

// Call describes who is calling and from where. Metadata lands in every
// audit entry the call writes.
type Call struct {
	Principal Principal
	IP        string
	UserAgent string
	RequestID string
	// Metadata is copied into every audit entry of the call (for example
	// the Slack user and team behind a button press). Keys the gate sets
	// itself take precedence.
	Metadata map[string]string
	// StepUp is the fresh step-up of this call, if the caller made one
	// (the console, after a passkey assertion); nil otherwise.
	StepUp *StepUp
}

// Actor is the audit actor of the call.
func (c Call) Actor() string {
	if c.Principal.ID == "" {
		return Anonymous
	}
	return c.Principal.ID
}

type callKey struct{}

// WithCall returns ctx carrying c: the HTTP layer builds the call once per
// request (source IP, request id, the authenticated principal) and the
// handlers it mounts (Slack, MCP) read it back with CallFrom.
func WithCall(ctx context.Context, c Call) context.Context {
	return context.WithValue(ctx, callKey{}, c)
}

// CallFrom returns the call in ctx, or the zero call.
func CallFrom(ctx context.Context) Call {
	c, _ := ctx.Value(callKey{}).(Call)
	return c
}
