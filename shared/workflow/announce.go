package workflow

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// Lifecycle is what the gate tells its workflow (gate.Workflow).
type Lifecycle interface {
	Started(ctx context.Context, a vsecure.Approval) error
	Decided(ctx context.Context, a vsecure.Approval) error
	Revoked(ctx context.Context, a vsecure.Approval) error
}

// Expirer tidies an approval whose expiresAt passed (gate.Gate.Expire).
type Expirer interface {
	Expire(ctx context.Context, id string) (vsecure.Approval, error)
}

// Announcer is the one place an approval's announcement is rewritten when
// it closes, whichever way it closes: a decision or a revocation the gate
// reports to its workflow, or an expiry the workflow's tasks make. Both
// runtimes wrap their workflow and expirer with the same Announcer, so a
// Slack message shows the outcome on `vsecure dev` exactly as on Lambda.
//
// The approval stands whatever happens to its announcement: a failed
// Closed is logged, never returned.
type Announcer struct {
	Notifier Notifier
	Log      *slog.Logger
	// Async announces off the caller's path (the local server, whose
	// process outlives the answer; Wait waits for them). False announces
	// before returning: a Lambda is frozen once it has answered.
	Async bool

	mu      sync.Mutex
	closing bool
	wg      sync.WaitGroup
}

// asyncTimeout bounds an announcement that no caller waits for.
const asyncTimeout = 10 * time.Second

// Workflow returns w announcing every decision and revocation.
func (an *Announcer) Workflow(w Lifecycle) Lifecycle { return announcing{Lifecycle: w, an: an} }

// Expirer returns e announcing every expiry it makes.
func (an *Announcer) Expirer(e Expirer) Expirer { return expiring{Expirer: e, an: an} }

// Wait stops further asynchronous announcements and waits for those in
// flight (shutdown).
func (an *Announcer) Wait() {
	an.mu.Lock()
	an.closing = true
	an.mu.Unlock()
	an.wg.Wait()
}

func (an *Announcer) closed(ctx context.Context, a vsecure.Approval) {
	announce := func(ctx context.Context) {
		if err := an.Notifier.Closed(ctx, a); err != nil {
			an.log().WarnContext(ctx, "updating the approval's announcement failed", "approvalId", a.ID, "status", string(a.Status), "err", err)
		}
	}
	if !an.Async {
		announce(ctx)
		return
	}
	an.mu.Lock()
	defer an.mu.Unlock()
	if an.closing {
		return
	}
	an.wg.Go(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), asyncTimeout)
		defer cancel()
		announce(ctx)
	})
}

func (an *Announcer) log() *slog.Logger {
	if an.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return an.Log
}

// announcing tells the workflow first (the store already holds the
// outcome), then rewrites the announcement.
type announcing struct {
	Lifecycle
	an *Announcer
}

func (w announcing) Decided(ctx context.Context, a vsecure.Approval) error {
	err := w.Lifecycle.Decided(ctx, a)
	if a.Status != vsecure.StatusPending {
		w.an.closed(ctx, a)
	}
	return err
}

func (w announcing) Revoked(ctx context.Context, a vsecure.Approval) error {
	err := w.Lifecycle.Revoked(ctx, a)
	w.an.closed(ctx, a)
	return err
}

type expiring struct {
	Expirer
	an *Announcer
}

func (e expiring) Expire(ctx context.Context, id string) (vsecure.Approval, error) {
	a, err := e.Expirer.Expire(ctx, id)
	if err == nil {
		e.an.closed(ctx, a)
	}
	return a, err
}
