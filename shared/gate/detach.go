package gate

import (
	"context"
	"time"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// AuditWriteTimeout bounds every write that carries an audit entry or
// records an outcome the gate has decided. Such writes run detached from the
// caller's cancellation: net/http cancels a request's context as soon as
// the client half-closes or drops its connection, and a refusal must not go
// unaudited (nor a decided change be left half-known) because the client
// walked away. Values of the context (the request id) still flow; only the
// cancellation is cut, and this deadline replaces it.
const AuditWriteTimeout = 5 * time.Second

// detached returns ctx without its cancellation, bounded by
// AuditWriteTimeout.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), AuditWriteTimeout)
}

// detachedStore runs the store's audited writes (and the idempotency
// writes that record a decided outcome) on a detached context. Reads keep
// the caller's context: nothing is owed to a client that left before the
// gate decided. Wrapping the store once, where the gate is built, covers
// every write of every service method.
type detachedStore struct{ vsecure.Store }

func (s detachedStore) AppendAudit(ctx context.Context, e vsecure.Entry) error {
	ctx, cancel := detached(ctx)
	defer cancel()
	return s.Store.AppendAudit(ctx, e)
}

func (s detachedStore) PutPolicy(ctx context.Context, p vsecure.Policy, e vsecure.Entry) error {
	ctx, cancel := detached(ctx)
	defer cancel()
	return s.Store.PutPolicy(ctx, p, e)
}

func (s detachedStore) RecordRead(ctx context.Context, uri string, at time.Time, e vsecure.Entry) error {
	ctx, cancel := detached(ctx)
	defer cancel()
	return s.Store.RecordRead(ctx, uri, at, e)
}

func (s detachedStore) SpendUse(ctx context.Context, a vsecure.Approval, uri string, at time.Time, e vsecure.Entry) error {
	ctx, cancel := detached(ctx)
	defer cancel()
	return s.Store.SpendUse(ctx, a, uri, at, e)
}

func (s detachedStore) PutSecret(ctx context.Context, h vsecure.Secret, v vsecure.SecretVersion, e vsecure.Entry) error {
	ctx, cancel := detached(ctx)
	defer cancel()
	return s.Store.PutSecret(ctx, h, v, e)
}

func (s detachedStore) CreateApproval(ctx context.Context, a vsecure.Approval, e vsecure.Entry) error {
	ctx, cancel := detached(ctx)
	defer cancel()
	return s.Store.CreateApproval(ctx, a, e)
}

func (s detachedStore) UpdateApproval(ctx context.Context, a vsecure.Approval, e vsecure.Entry) error {
	ctx, cancel := detached(ctx)
	defer cancel()
	return s.Store.UpdateApproval(ctx, a, e)
}

func (s detachedStore) CreateKey(ctx context.Context, k vsecure.Key, e vsecure.Entry) error {
	ctx, cancel := detached(ctx)
	defer cancel()
	return s.Store.CreateKey(ctx, k, e)
}

func (s detachedStore) BootstrapKey(ctx context.Context, k vsecure.Key, e vsecure.Entry, breakGlass bool) error {
	ctx, cancel := detached(ctx)
	defer cancel()
	return s.Store.BootstrapKey(ctx, k, e, breakGlass)
}

func (s detachedStore) UpdateKey(ctx context.Context, k vsecure.Key, e vsecure.Entry) error {
	ctx, cancel := detached(ctx)
	defer cancel()
	return s.Store.UpdateKey(ctx, k, e)
}

func (s detachedStore) RotateKey(ctx context.Context, old, next vsecure.Key, e vsecure.Entry) error {
	ctx, cancel := detached(ctx)
	defer cancel()
	return s.Store.RotateKey(ctx, old, next, e)
}

func (s detachedStore) CompleteIdempotency(ctx context.Context, r vsecure.IdempotencyRecord) error {
	ctx, cancel := detached(ctx)
	defer cancel()
	return s.Store.CompleteIdempotency(ctx, r)
}

func (s detachedStore) ReleaseIdempotency(ctx context.Context, principal, key, token string) error {
	ctx, cancel := detached(ctx)
	defer cancel()
	return s.Store.ReleaseIdempotency(ctx, principal, key, token)
}
