// Package auditindex paces the DynamoDB store's audit indexer
// (dynamo.Store.IndexAudit): the scheduled audit-index Lambda runs it until
// its deadline, `vsecure dev --store dynamodb` for the server's lifetime.
// A pass is resumable and two at once never double-count (its watermark
// write is conditional), so the loop only spaces passes, backs off after
// failures and reports.
package auditindex

import (
	"context"
	"log/slog"
	"time"
)

// Indexer runs at most one indexer pass per call.
type Indexer interface {
	IndexAudit(ctx context.Context, now time.Time) (Stats, error)
}

// Stats describes one IndexAudit call.
type Stats struct {
	// Entries indexed by this call's pass (0: nothing to do, or skipped).
	Entries int
	// Segments written.
	Segments int
	// Through is the time up to which every entry is indexed afterwards.
	Through time.Time
	// Lag is how long the oldest entry not yet indexed has waited: now −
	// Through after a pass, that entry's age when a small young window is
	// left for a bigger pass, 0 when nothing settled is unindexed (a quiet
	// table's watermark may be old: it only moves when a pass runs).
	Lag time.Duration
}

const (
	// Every is the pause between passes: a pass that finds too little to
	// index returns after a few reads, so a second is cheap and keeps
	// accessCount and the filter index close behind the hot path.
	Every = time.Second
	// MaxBackoff caps the pause after consecutive failed passes (doubling
	// from Every): a throttled table gets room, and a run still retries
	// several times before its deadline.
	MaxBackoff = 16 * time.Second
)

// Loop runs passes one after another.
type Loop struct {
	Indexer Indexer
	Log     *slog.Logger
	Every   time.Duration    // 0: Every
	Now     func() time.Time // nil: time.Now
	// UntilIdle ends the run after the first successful pass that indexed
	// nothing (caught up, or a window too small and young to be worth a
	// pass). The scheduled Lambda sets it: it is started again within a
	// minute, and an idle table then costs one short invocation a minute
	// instead of a 65-second loop of empty passes (≈ $15 a month).
	UntilIdle bool
	// wait pauses for d or until ctx is done (false); tests record it.
	wait func(ctx context.Context, d time.Duration) bool
}

// Result is what a Run did.
type Result struct {
	Passes, Failed    int // passes run, and how many of them failed
	Entries, Segments int // indexed by the successful passes
	// Lag and Through are the newest successful pass's: how far the
	// indexed watermark trails the clock.
	Lag     time.Duration
	Through time.Time
	Err     error // the newest failure
}

// Run runs a pass at once, then one every Every (after a failure, a
// doubling pause up to MaxBackoff) until ctx is done or the next pass would
// start after stop (zero: no bound). Passes get ctx, so one started before
// stop may finish after it. A pass cut short by ctx is not a failure.
func (l *Loop) Run(ctx context.Context, stop time.Time) Result {
	every, now, wait := l.Every, l.Now, l.wait
	if every <= 0 {
		every = Every
	}
	if now == nil {
		now = time.Now
	}
	if wait == nil {
		wait = sleep
	}
	log := l.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var r Result
	pause := every
	for ctx.Err() == nil {
		st, err := l.Indexer.IndexAudit(ctx, now())
		if err != nil && ctx.Err() != nil {
			break
		}
		r.Passes++
		if err != nil {
			r.Failed++
			r.Err = err
			log.WarnContext(ctx, "audit index pass failed", "err", err, "retryIn", pause)
		} else {
			r.Entries += st.Entries
			r.Segments += st.Segments
			r.Lag, r.Through = st.Lag, st.Through
			// Passes that found too little to index stay quiet: at a pass
			// a second, the log would be mostly them.
			if st.Entries > 0 || st.Segments > 0 {
				log.InfoContext(ctx, "audit index pass", "entries", st.Entries, "segments", st.Segments,
					"lagSeconds", st.Lag.Seconds(), "through", st.Through)
			}
			pause = every
			if l.UntilIdle && st.Entries == 0 {
				break
			}
		}
		if !stop.IsZero() && !now().Add(pause).Before(stop) {
			break
		}
		if !wait(ctx, pause) {
			break
		}
		if err != nil {
			pause = min(2*pause, MaxBackoff)
		}
	}
	return r
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
