package vsecure

import (
	"context"
	"time"
)

// Store holds all state. Methods that change state take the audit entry
// describing the change and write both atomically: if the entry cannot be
// written, neither is the change (fail closed). State transitions are
// conditional writes that report EConflict when they lose a race.
//
// Errors are domain errors: ENotFound, EConflict, or EUnavailable when the
// backing system cannot be reached (callers answer 503).
type Store interface {
	IdempotencyStore

	PutPolicy(ctx context.Context, p Policy, e Entry) error
	// ListPolicies returns every policy ordered by URI.
	ListPolicies(ctx context.Context) ([]Policy, error)

	// LoadAccess reads, in one round trip, everything a secret read or
	// write decision needs.
	LoadAccess(ctx context.Context, q AccessQuery) (AccessView, error)
	// RecordRead atomically adds one to a secret's access count, sets its
	// accessedAt, and appends e. It is a blind increment (no read of the
	// head), so concurrent reads in any number of processes never conflict
	// and the count is exact.
	RecordRead(ctx context.Context, uri string, at time.Time, e Entry) error
	// SpendUse is RecordRead under a capped approval: it stores a (one
	// use fewer, see Approval.Spend) as UpdateApproval does, conditional on
	// the stored version being a.Version-1 (else EConflict), in the same
	// atomic write as the read and e. Of racing readers exactly one spends
	// each use.
	SpendUse(ctx context.Context, a Approval, uri string, at time.Time, e Entry) error
	// PutSecret writes head and its new version v (v.Version must be
	// head's previous version + 1, else EConflict) together with e.
	PutSecret(ctx context.Context, head Secret, v SecretVersion, e Entry) error
	// ListSecrets lists heads covered by pattern (a URI pattern string),
	// ordered by URI.
	ListSecrets(ctx context.Context, pattern string, cursor string, limit int) ([]Secret, string, error)

	// CreateApproval stores a new request (EConflict if the id exists).
	CreateApproval(ctx context.Context, a Approval, e Entry) error
	GetApproval(ctx context.Context, id string) (Approval, error)
	// UpdateApproval stores a if the stored version is a.Version-1, keeps
	// the grant and access-token index in step with a's status, and
	// appends e (which may be zero to write no entry).
	UpdateApproval(ctx context.Context, a Approval, e Entry) error
	// ApprovalByToken finds the approval that issued an access token.
	ApprovalByToken(ctx context.Context, tokenHash string) (Approval, error)
	// ListApprovals returns approvals matching f, newest first.
	ListApprovals(ctx context.Context, f ApprovalFilter, cursor string, limit int) ([]Approval, string, error)
	// ListLiveApprovals returns every pending or approved approval (for
	// the workflow to reschedule timers on start).
	ListLiveApprovals(ctx context.Context) ([]Approval, error)

	AppendAudit(ctx context.Context, e Entry) error
	// QueryAudit returns entries matching f, newest first.
	QueryAudit(ctx context.Context, f AuditFilter, cursor string, limit int) ([]Entry, string, error)

	CreateKey(ctx context.Context, k Key, e Entry) error
	// BootstrapKey creates k as CreateKey does and, unless breakGlass,
	// also creates the store's one bootstrap marker in the same atomic
	// write: once any bootstrap has minted, every later one (however
	// concurrent) fails with EAlreadyDecided and writes nothing. A
	// break-glass key ignores the marker.
	BootstrapKey(ctx context.Context, k Key, e Entry, breakGlass bool) error
	KeyByHash(ctx context.Context, hash string) (Key, error)
	GetKey(ctx context.Context, id string) (Key, error)
	// UpdateKey stores k (revocation, roles, Slack id) with e if the
	// stored version is k.Version-1, else EConflict. A stored revoked key
	// is never written back without RevokedAt, whatever the versions say
	// (EConflict). LastUsedAt is written as given (best effort).
	UpdateKey(ctx context.Context, k Key, e Entry) error
	// RotateKey creates next (as CreateKey) and updates old (as UpdateKey)
	// with e in one atomic write: a rotation that loses a race leaves no
	// new key behind.
	RotateKey(ctx context.Context, old, next Key, e Entry) error
	ListKeys(ctx context.Context, cursor string, limit int) ([]Key, string, error)
	// MarkKeyUsed sets k's LastUsedAt to at unless the stored value is at
	// or after since (another request recorded a use recently), in which
	// case it writes nothing and reports nil. It writes no audit entry and
	// never creates a key. Callers treat it as best effort.
	MarkKeyUsed(ctx context.Context, k Key, at, since time.Time) error

	AuditDigests

	SlackDirectory
	ReplayGuard
	RateStore
	PasskeyStore
}

// AccessQuery names what a read or write decision needs.
type AccessQuery struct {
	Principal string
	Resource  URI
	Operation Operation
	// Version selects a secret version; 0 means the latest.
	Version int
	// KeyID is the caller's key (for an access token, the key that
	// requested it) and ApprovalID the approval behind an access token.
	// Their records are read with the rest, so the decision rests on
	// their state now, not on what a cached credential says.
	KeyID      string
	ApprovalID string
}

// AccessView is what LoadAccess found. Missing items are nil/empty.
type AccessView struct {
	// Policies found among Resource.Candidates().
	Policies []Policy
	Secret   *Secret
	Value    *SecretVersion
	// Grant is the principal's latest approved approval for the resource
	// and operation, if any (it may have expired since).
	Grant *Approval
	// Key is the record of AccessQuery.KeyID and Approval that of
	// AccessQuery.ApprovalID, whatever their state, if they were asked for
	// and exist.
	Key      *Key
	Approval *Approval
}
