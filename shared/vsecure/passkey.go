package vsecure

import (
	"context"
	"time"
)

// Passkey is a WebAuthn credential a principal registered: what a later
// assertion is verified against. Nothing in it is secret (the private key
// never leaves the authenticator), but it is the principal's second factor,
// so only the principal and admins see it.
type Passkey struct {
	// ID is the credential id, base64url without padding.
	ID        string `json:"id"`
	Principal string `json:"principal"`
	// Name is the user's label ("work laptop").
	Name string `json:"name"`
	// PublicKey is the credential's COSE public key.
	PublicKey []byte `json:"publicKey"`
	// SignCount is the authenticator's signature counter at the last
	// accepted assertion; it only ever grows (UsePasskey).
	SignCount  uint32   `json:"signCount"`
	AAGUID     []byte   `json:"aaguid,omitempty"`
	Transports []string `json:"transports,omitempty"`
	// AttestationType and AttestationFormat are what the authenticator
	// conveyed at registration ("none" for a passkey without attestation).
	AttestationType   string `json:"attestationType,omitempty"`
	AttestationFormat string `json:"attestationFormat,omitempty"`
	// BackupEligible is fixed for the life of a credential: an assertion
	// that reports otherwise is refused.
	BackupEligible bool       `json:"backupEligible"`
	BackupState    bool       `json:"backupState"`
	CreatedAt      time.Time  `json:"createdAt"`
	LastUsedAt     *time.Time `json:"lastUsedAt,omitempty"`
}

// Kinds of PasskeyCeremony.
const (
	CeremonyRegister = "register"
	CeremonyAssert   = "assert"
)

// PasskeyCeremony is the server-side state of one WebAuthn ceremony in
// flight: the challenge lives here, not in the browser, so it can be used
// once only and by the principal it was issued to.
type PasskeyCeremony struct {
	ID        string
	Principal string
	Kind      string
	// Session is the WebAuthn adapter's own state, opaque to the store.
	Session   []byte
	ExpiresAt time.Time
}

// PasskeyStore keeps principals' passkeys and their ceremonies in flight.
type PasskeyStore interface {
	// CreatePasskey stores p with e in one atomic write. A credential id
	// that is registered already, to any principal, is EConflict.
	CreatePasskey(ctx context.Context, p Passkey, e Entry) error
	// ListPasskeys returns the principal's passkeys ordered by id.
	ListPasskeys(ctx context.Context, principal string) ([]Passkey, error)
	// UsePasskey records an accepted assertion: it sets the passkey's
	// SignCount to count and LastUsedAt to at, on the condition that the
	// stored count is below count, or that both are 0 (an authenticator
	// that keeps no counter). Otherwise it writes nothing and reports
	// EConflict: a counter that did not grow means a cloned authenticator
	// or a replay. ENotFound if the principal has no such passkey.
	UsePasskey(ctx context.Context, principal, id string, count uint32, at time.Time) error
	// DeletePasskey removes the principal's passkey id with e in one
	// atomic write; ENotFound if there is none.
	DeletePasskey(ctx context.Context, principal, id string, e Entry) error

	// PutPasskeyCeremony stores c (EConflict if its id exists).
	PutPasskeyCeremony(ctx context.Context, c PasskeyCeremony) error
	// TakePasskeyCeremony deletes and returns ceremony id if it belongs to
	// principal and has not expired at now; otherwise it reports
	// ENotFound and, for another principal's ceremony, leaves it alone.
	// Of concurrent takers exactly one wins.
	TakePasskeyCeremony(ctx context.Context, id, principal string, now time.Time) (PasskeyCeremony, error)
}
