// Package local is the in-process twin of the Step Functions workflow, used
// by `vsecure dev`: it announces pending requests through a Notifier (the
// closing announcements are workflow.Announcer's, as on Lambda) and
// tidies approvals when their expiresAt passes (pending → expired,
// approved → expired), with the same gate.Expire the Step Functions task
// handlers call.
//
// All deadlines live in one min-heap served by one timer goroutine, so ten
// thousand scheduled approvals cost ten thousand small heap items, not ten
// thousand goroutines. Due approvals go to a few workers so a slow store
// write does not hold up the timer. Nothing here is on the read path:
// expiry is enforced at read time, timers only tidy state and notify, and
// on Start every pending or approved approval in the store is scheduled
// again, so a restart loses nothing.
package local

import (
	"container/heap"
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/vsecure/vsecure/shared/vsecure"
	"github.com/vsecure/vsecure/shared/workflow"
)

// Expirer tidies an approval whose expiresAt passed (gate.Gate.Expire). It
// returns an already_decided error when a decision or revocation won.
type Expirer interface {
	Expire(ctx context.Context, id string) (vsecure.Approval, error)
}

// Store is what the twin reads and writes directly.
type Store interface {
	workflow.ApprovalStore
	ListLiveApprovals(ctx context.Context) ([]vsecure.Approval, error)
}

// Config holds the twin's dependencies.
type Config struct {
	// Expirer is wrapped by workflow.Announcer where expiries are
	// announced: the twin itself only announces requests.
	Expirer  Expirer
	Store    Store
	Notifier workflow.Notifier
	Clock    Clock // default SystemClock
	Log      *slog.Logger
	// Workers tidy due approvals concurrently (default 4).
	Workers int
	// RetryBase and RetryMax bound the backoff after a failed tidy
	// (store unavailable); defaults 1 s and 1 min.
	RetryBase, RetryMax time.Duration
}

// Workflow is the local twin. Build it with New, then Start it.
type Workflow struct {
	cfg Config
	log *slog.Logger

	mu    sync.Mutex
	queue deadlines
	byID  map[string]*deadline
	wake  chan struct{}

	work   chan deadline
	ctx    context.Context
	cancel context.CancelFunc
	// closing (under bgMu) stops new background work before Close waits.
	bgMu    sync.Mutex
	closing bool
	wg      sync.WaitGroup
	once    sync.Once
}

// New validates cfg and returns a stopped twin.
func New(cfg Config) (*Workflow, error) {
	if cfg.Expirer == nil || cfg.Store == nil || cfg.Notifier == nil {
		return nil, errors.New("local workflow: expirer, store and notifier are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = time.Second
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = time.Minute
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Workflow{
		cfg: cfg, log: cfg.Log, byID: map[string]*deadline{}, wake: make(chan struct{}, 1),
		work: make(chan deadline), ctx: ctx, cancel: cancel,
	}, nil
}

// Start schedules every pending or approved approval in the store (those
// already past expiresAt are tidied at once) and starts the timer. ctx only
// bounds the initial listing; the twin runs until Close.
func (w *Workflow) Start(ctx context.Context) error {
	live, err := w.cfg.Store.ListLiveApprovals(ctx)
	if err != nil {
		return err
	}
	for _, a := range live {
		w.schedule(a.ID, a.ExpiresAt, 0)
	}
	w.log.InfoContext(ctx, "local workflow started", "rescheduled", len(live))
	for range w.cfg.Workers {
		w.background(func(context.Context) { w.worker() })
	}
	w.background(func(context.Context) { w.loop() })
	return nil
}

// Close stops the timer and waits for in-flight work.
func (w *Workflow) Close() error {
	w.once.Do(func() {
		w.bgMu.Lock()
		w.closing = true
		w.bgMu.Unlock()
		w.cancel()
		w.wg.Wait()
	})
	return nil
}

// Scheduled is the number of approvals waiting for their deadline.
func (w *Workflow) Scheduled() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.queue)
}

// Started schedules the request's expiry and announces a pending request.
// A repeated start of an approval already scheduled is a no-op, like a
// Step Functions execution named after the approval id.
func (w *Workflow) Started(ctx context.Context, a vsecure.Approval) error {
	if a.Status != vsecure.StatusPending && a.Status != vsecure.StatusApproved {
		return nil
	}
	if !w.schedule(a.ID, a.ExpiresAt, 0) {
		return nil
	}
	if a.Status == vsecure.StatusPending {
		w.background(func(ctx context.Context) {
			notice, err := w.cfg.Notifier.Requested(ctx, a)
			if err != nil {
				w.log.WarnContext(ctx, "notifying approvers failed", "approvalId", a.ID, "err", err)
				return
			}
			workflow.StoreNotice(ctx, w.cfg.Store, w.log, a.ID, notice)
		})
	}
	return nil
}

// Decided keeps an approved request scheduled (granted access is tidied at
// the same expiresAt) and drops a denied one.
func (w *Workflow) Decided(ctx context.Context, a vsecure.Approval) error {
	switch a.Status {
	case vsecure.StatusApproved:
		w.schedule(a.ID, a.ExpiresAt, 0)
	case vsecure.StatusPending:
		return nil
	default:
		w.unschedule(a.ID)
	}
	return nil
}

// Revoked drops the approval's timer: access already ended in the store.
func (w *Workflow) Revoked(ctx context.Context, a vsecure.Approval) error {
	w.unschedule(a.ID)
	return nil
}

// background runs fn on the twin's context so a notification outlives the
// API request that caused it, and Close waits for it.
func (w *Workflow) background(fn func(ctx context.Context)) {
	w.bgMu.Lock()
	defer w.bgMu.Unlock()
	if w.closing {
		return
	}
	w.wg.Go(func() { fn(w.ctx) })
}

// schedule sets id's deadline; it reports whether id was not scheduled yet.
func (w *Workflow) schedule(id string, at time.Time, attempt int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	d, exists := w.byID[id]
	if exists {
		d.at, d.attempt = at, attempt
		heap.Fix(&w.queue, d.index)
	} else {
		d = &deadline{id: id, at: at, attempt: attempt}
		heap.Push(&w.queue, d)
		w.byID[id] = d
	}
	if d.index == 0 {
		w.poke()
	}
	return !exists
}

func (w *Workflow) unschedule(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if d, ok := w.byID[id]; ok {
		heap.Remove(&w.queue, d.index)
		delete(w.byID, id)
	}
}

// poke wakes the loop to re-arm its timer for a new earliest deadline.
func (w *Workflow) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// loop is the one timer goroutine: it hands every due deadline to the
// workers and sleeps until the next one or a poke.
func (w *Workflow) loop() {
	timer := w.cfg.Clock.NewTimer()
	defer timer.Stop()
	for {
		due, next, ok := w.popDue()
		for _, d := range due {
			select {
			case w.work <- d:
			case <-w.ctx.Done():
				return
			}
		}
		if len(due) > 0 {
			continue // time passed while handing out work
		}
		if ok {
			timer.ResetAt(next)
		}
		select {
		case <-timer.C():
		case <-w.wake:
			timer.Stop()
		case <-w.ctx.Done():
			return
		}
	}
}

// maxBatch bounds how many due deadlines leave the heap at once, so a burst
// of expiries does not hold the lock for long.
const maxBatch = 256

func (w *Workflow) popDue() (due []deadline, next time.Time, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.cfg.Clock.Now()
	for len(w.queue) > 0 && !w.queue[0].at.After(now) && len(due) < maxBatch {
		d := heap.Pop(&w.queue).(*deadline)
		delete(w.byID, d.id)
		due = append(due, *d)
	}
	if len(w.queue) == 0 {
		return due, time.Time{}, false
	}
	return due, w.queue[0].at, true
}

func (w *Workflow) worker() {
	for {
		select {
		case d := <-w.work:
			w.tidy(w.ctx, d)
		case <-w.ctx.Done():
			return
		}
	}
}

// tidy expires one due approval. Losing to a decision or revocation is the
// normal end of a race, not an error.
func (w *Workflow) tidy(ctx context.Context, d deadline) {
	a, err := w.cfg.Expirer.Expire(ctx, d.id)
	switch {
	case err == nil:
		w.log.InfoContext(ctx, "approval expired", "approvalId", a.ID)
	case vsecure.IsCode(err, vsecure.EAlreadyDecided), vsecure.IsCode(err, vsecure.ENotFound):
	case vsecure.IsCode(err, vsecure.EInvalid) && !a.ExpiresAt.IsZero():
		// The gate's clock says not yet: come back at expiresAt.
		w.schedule(d.id, later(a.ExpiresAt, w.cfg.Clock.Now().Add(w.cfg.RetryBase)), d.attempt)
	default:
		if ctx.Err() != nil {
			return // shutting down; Start reschedules from the store
		}
		wait := min(w.cfg.RetryBase<<min(d.attempt, 16), w.cfg.RetryMax)
		w.log.WarnContext(ctx, "expiring an approval failed; will retry", "approvalId", d.id, "attempt", d.attempt+1, "retryIn", wait, "err", err)
		w.schedule(d.id, w.cfg.Clock.Now().Add(wait), d.attempt+1)
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// deadline is one scheduled approval in the heap.
type deadline struct {
	id      string
	at      time.Time
	attempt int
	index   int
}

// deadlines is a min-heap on at.
type deadlines []*deadline

func (q deadlines) Len() int           { return len(q) }
func (q deadlines) Less(i, j int) bool { return q[i].at.Before(q[j].at) }
func (q deadlines) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *deadlines) Push(x any) {
	d := x.(*deadline)
	d.index = len(*q)
	*q = append(*q, d)
}
func (q *deadlines) Pop() any {
	old := *q
	n := len(old)
	d := old[n-1]
	old[n-1] = nil
	*q = old[:n-1]
	return d
}
