package vsecure

import (
	"context"
	"time"
)

// AuditDigests is the part of Store the audit digest step and its verifier
// use. Reading a window is an ordered range read (the time index, or the
// id-ordered bucket), never a scan of the log; appends are not touched.
type AuditDigests interface {
	// AuditRange calls fn with every record whose entry's Timestamp is
	// in [from, to), oldest first (by timestamp, ties by id), until fn
	// returns false or an error. A record carries the key the store keeps
	// the entry under (normally its id; a difference means the record was
	// tampered with) and the entry's seal, if it has one.
	AuditRange(ctx context.Context, from, to time.Time, fn func(r AuditRecord) (bool, error)) error
	// OldestAudit returns the oldest entry (ENotFound if there is none).
	OldestAudit(ctx context.Context) (Entry, error)

	// PutDigest stores d; EConflict if a digest with the same From exists
	// (two digest steps racing have one winner).
	PutDigest(ctx context.Context, d Digest) error
	// DigestBefore returns the digest with the latest From before t
	// (ENotFound if there is none).
	DigestBefore(ctx context.Context, t time.Time) (Digest, error)
	// Digests returns the digests whose From is in [from, to), oldest
	// first.
	Digests(ctx context.Context, from, to time.Time) ([]Digest, error)
}
