package gate

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// Anonymous refusals (a bad, unknown, revoked or missing credential, an
// unsigned or stale Slack post, the per-address throttle that follows them)
// cost the sender nothing, and each used to cost one fsync'd audit entry —
// in AWS a DynamoDB write with all its indexes. So they are aggregated per
// source address and reason over a short window:
//
//   - the first refusal of a window is written synchronously, as any
//     refusal is: if it cannot be written the caller sees
//     audit_unavailable and no window opens (fail closed);
//   - later refusals of the window are only counted, in memory;
//   - when the window has closed, one summary entry carrying the count and
//     the first and last time of the refusals not yet written is appended:
//     on the next refusal or FlushRefusals call after it (a ticker locally,
//     the next invocation in Lambda), and for every window on CloseRefusals.
//
// A summary's metadata has "count", "firstAt" and "lastAt" (RFC 3339) and
// the source address; the request ids and user agents of the counted
// refusals are in the request log only. Its timestamp is when it is
// written, never in the past, so that it cannot land in an audit window
// already sealed by a digest.
//
// A process that dies inside a window loses at most the count of that
// window beyond its first entry, which is written. Authenticated refusals,
// and any refusal that carries more than the source's address, user agent
// and request id, are never aggregated: one entry each.

// Defaults of Config.RefusalWindow and Config.RefusalWindows.
const (
	DefaultRefusalWindow = 10 * time.Second
	// DefaultRefusalWindows caps the open windows (a few hundred bytes
	// each). When full, refusals of new sources are written one by one,
	// as if aggregation were off.
	DefaultRefusalWindows = 10_000
)

// refusalKey is what makes refusals the same: the source and the reason.
type refusalKey struct{ ip, op, code string }

type refusalWindow struct {
	until time.Time
	// count refusals since the window's first entry, not yet written.
	count       int
	first, last time.Time
	// entry is the latest counted refusal, the summary's template.
	entry vsecure.Entry
}

type refusals struct {
	window time.Duration
	max    int
	mu     sync.Mutex
	open   map[refusalKey]*refusalWindow
	// due is when the earliest open window closes (unix ns; 0: none), read
	// without the lock so that the calls that find nothing due cost one
	// atomic load.
	due atomic.Int64
}

func newRefusals(window time.Duration, max int) *refusals {
	if window < 0 {
		return nil
	}
	if window == 0 {
		window = DefaultRefusalWindow
	}
	if max <= 0 {
		max = DefaultRefusalWindows
	}
	return &refusals{window: window, max: max, open: map[refusalKey]*refusalWindow{}}
}

// aggregatable says whether a refusal may be counted instead of written:
// an anonymous caller refused for who it is (not for what it asked), whose
// entry carries nothing an aggregate would lose.
func aggregatable(e vsecure.Entry, err error) (refusalKey, bool) {
	if e.Actor != vsecure.Anonymous || e.Resource != "" || e.ApprovalID != "" {
		return refusalKey{}, false
	}
	code := vsecure.ErrorCode(err)
	switch code {
	case vsecure.EUnauthenticated, vsecure.ERateLimited, vsecure.ETooLarge:
	default:
		return refusalKey{}, false
	}
	for k := range e.Metadata {
		switch k {
		case "ipAddress", "userAgent", "requestId":
		default:
			return refusalKey{}, false
		}
	}
	return refusalKey{ip: e.Metadata["ipAddress"], op: e.Operation, code: string(code)}, true
}

// refuse is fail for the refusals that may be aggregated.
func (g *Gate) refuse(ctx context.Context, e vsecure.Entry, err error) error {
	k, ok := aggregatable(e, err)
	if !ok || g.refusals == nil {
		return g.fail(ctx, e, err)
	}
	e.Success, e.Error = false, k.code // as fail sets them, for the summary
	now := g.clock()
	_ = g.flushRefusals(ctx, now, false) // logged; the counts stay for the next try
	if g.refusals.count(k, e, now) {
		return err
	}
	ferr := g.fail(ctx, e, err)
	if !vsecure.IsCode(ferr, vsecure.EAuditUnavailable) {
		g.refusals.start(k, now)
	}
	return ferr
}

// FlushRefusals writes the summaries of the refusal windows that have
// closed. It is cheap when none has (one atomic load), so it can run on
// every invocation.
func (g *Gate) FlushRefusals(ctx context.Context) error {
	return g.flushRefusals(ctx, g.clock(), false)
}

// CloseRefusals closes every open refusal window and writes its summary
// (shutdown). Refusals after it open new windows.
func (g *Gate) CloseRefusals(ctx context.Context) error {
	return g.flushRefusals(ctx, g.clock(), true)
}

func (g *Gate) flushRefusals(ctx context.Context, now time.Time, all bool) error {
	r := g.refusals
	if r == nil {
		return nil
	}
	if !all {
		if d := r.due.Load(); d == 0 || now.UnixNano() < d {
			return nil
		}
	}
	var errs []error
	for k, w := range r.take(now, all) {
		s := g.summary(w, now)
		if err := g.store.AppendAudit(ctx, s); err != nil {
			g.log.ErrorContext(ctx, "audit append of refusal summary failed; kept for the next try",
				"op", k.op, "ipAddress", k.ip, "code", k.code, "count", w.count, "err", err)
			r.restore(k, w, now)
			errs = append(errs, err)
			continue
		}
		g.log.InfoContext(ctx, "refusals aggregated", "op", k.op, "ipAddress", k.ip, "code", k.code, "count", w.count, "logId", s.ID)
	}
	return errors.Join(errs...)
}

// summary is the one entry standing for the counted refusals of w.
func (g *Gate) summary(w *refusalWindow, now time.Time) vsecure.Entry {
	s := w.entry
	s.ID = g.newID("log_", now)
	s.Timestamp = now.UTC().Truncate(time.Second)
	s.Metadata = map[string]string{
		"count":   strconv.Itoa(w.count),
		"firstAt": w.first.UTC().Format(time.RFC3339),
		"lastAt":  w.last.UTC().Format(time.RFC3339),
	}
	if ip := w.entry.Metadata["ipAddress"]; ip != "" {
		s.Metadata["ipAddress"] = ip
	}
	return s
}

// count counts e into k's window if one is open at now.
func (r *refusals) count(k refusalKey, e vsecure.Entry, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.open[k]
	if w == nil || !now.Before(w.until) {
		return false
	}
	if w.count == 0 {
		w.first = now
	}
	w.count++
	w.last = now
	w.entry = e
	return true
}

// start opens k's window after its first entry was written. Concurrent
// first refusals each wrote their own entry; one of them opens the window.
// With the cap reached, refusals of new sources are written one by one.
func (r *refusals) start(k refusalKey, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.open[k]; ok || len(r.open) >= r.max {
		return
	}
	w := &refusalWindow{until: now.Add(r.window)}
	r.open[k] = w
	r.dueAt(w.until.UnixNano())
}

// dueAt lowers due to t (under mu).
func (r *refusals) dueAt(t int64) {
	if d := r.due.Load(); d == 0 || t < d {
		r.due.Store(t)
	}
}

// take removes the windows closed at now (all of them if all) and returns
// those with refusals to summarise.
func (r *refusals) take(now time.Time, all bool) map[refusalKey]*refusalWindow {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[refusalKey]*refusalWindow{}
	var next int64
	for k, w := range r.open {
		if all || !now.Before(w.until) {
			delete(r.open, k)
			if w.count > 0 {
				out[k] = w
			}
			continue
		}
		if t := w.until.UnixNano(); next == 0 || t < next {
			next = t
		}
	}
	// Many sources' windows close at nearly the same time; looking again
	// a tenth of a window later keeps a flood from many addresses from
	// rescanning the map on every request.
	if min := now.Add(r.window / 10).UnixNano(); next != 0 && next < min {
		next = min
	}
	r.due.Store(next)
	return out
}

// restore puts back a window whose summary could not be written, to be
// tried again a window later; if k has a new window meanwhile, the counts
// merge into it. Either way no refusal is forgotten.
func (r *refusals) restore(k refusalKey, w *refusalWindow, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cur, ok := r.open[k]; ok {
		if cur.count == 0 || w.first.Before(cur.first) {
			cur.first = w.first
		}
		if cur.count == 0 || w.last.After(cur.last) {
			cur.last, cur.entry = w.last, w.entry
		}
		cur.count += w.count
		return
	}
	w.until = now.Add(r.window)
	r.open[k] = w
	r.dueAt(w.until.UnixNano())
}
