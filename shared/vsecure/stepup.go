package vsecure

import "time"

// StepUp is a fresh proof of presence the caller gave for this call (a
// passkey assertion in the console). The console sets Call.StepUp after a
// successful assertion; no credential carries one, so API keys, MCP and
// Slack presses never do.
type StepUp struct {
	Method       string // StepUpPasskey
	CredentialID string
	At           time.Time
}

// StepUpPasskey is the one step-up method there is.
const StepUpPasskey = "passkey"

// Step-up freshness: an assertion counts for StepUpMaxAge after it was
// made, so a console session left open cannot decide with an old one.
// StepUpSkew tolerates an At slightly ahead of this process's clock (the
// assertion may be verified by another Lambda).
const (
	StepUpMaxAge = 5 * time.Minute
	StepUpSkew   = 30 * time.Second
)

// RequireStepUp refuses s unless it is a passkey step-up made within
// StepUpMaxAge of now. url is where the approval is decided in the
// console; the refusal names it (message and detail "approvalUrl").
func RequireStepUp(s *StepUp, now time.Time, url string) error {
	why := StaleStepUp(s, now)
	if why == "" {
		return nil
	}
	e := Errorf(EStepUpRequired, "the policy of this approval requires step-up: deciding or revoking it %s", why)
	if url != "" {
		e.Message += "; decide it in the console at " + url
		e.Detail = map[string]string{"approvalUrl": url}
	} else {
		e.Message += "; decide it in the console"
	}
	return e
}

// StaleStepUp says what s lacks to be a fresh passkey step-up at now ("needs
// ..."), or "" when it is one.
func StaleStepUp(s *StepUp, now time.Time) string {
	switch {
	case s == nil:
		return "needs a passkey step-up"
	case s.Method != StepUpPasskey || s.CredentialID == "":
		return "needs a passkey step-up, not " + quoteMethod(s.Method)
	case s.At.IsZero() || now.Sub(s.At) > StepUpMaxAge || s.At.Sub(now) > StepUpSkew:
		return "needs a fresh passkey step-up (at most " + StepUpMaxAge.String() + " old)"
	}
	return ""
}

func quoteMethod(m string) string {
	if m == "" {
		return "none"
	}
	if len(m) > 32 {
		m = m[:32]
	}
	return `"` + m + `"`
}
