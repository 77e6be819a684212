// Package ceremony holds what a passkey ceremony shows its caller, apart
// from package passkey so that the console can name it without linking
// the WebAuthn library (only the functions that run ceremonies do).
package ceremony

import "encoding/json"

// MaxResponse bounds the authenticator response a Finish accepts.
const MaxResponse = 64 << 10

// Begun is a ceremony's start: the id to finish it with, and the options
// for navigator.credentials.create or .get (JSON with the binary fields in
// base64url, as the WebAuthn JSON serialization has them).
type Begun struct {
	CeremonyID string
	Options    json.RawMessage
}
