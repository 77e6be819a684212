package auditindex

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vsecure/vsecure/internal/testclock"
)

// script is a hand-written indexer for this layer's tests: pass i answers
// passes[i]; past the end it cancels the run.
type script struct {
	passes []pass
	calls  int
	cancel context.CancelFunc
	nows   []time.Time
}

type pass struct {
	st  Stats
	err error
}

func (s *script) IndexAudit(ctx context.Context, now time.Time) (Stats, error) {
	s.nows = append(s.nows, now)
	i := s.calls
	s.calls++
	if i >= len(s.passes) {
		s.cancel()
		return Stats{}, ctx.Err()
	}
	return s.passes[i].st, s.passes[i].err
}

// clock is a settable clock that the loop's waits advance.
type clock struct {
	*testclock.Clock
	waits []time.Duration
}

func (c *clock) wait(ctx context.Context, d time.Duration) bool {
	c.waits = append(c.waits, d)
	c.Advance(d)
	return ctx.Err() == nil
}

func run(t *testing.T, passes []pass, stop func(t0 time.Time) time.Time, opts ...func(*Loop)) (Result, *script, *clock, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	s := &script{passes: passes, cancel: cancel}
	c := &clock{Clock: testclock.New(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))}
	var buf bytes.Buffer
	l := &Loop{Indexer: s, Log: slog.New(slog.NewJSONHandler(&buf, nil)), Now: c.Now, wait: c.wait}
	for _, o := range opts {
		o(l)
	}
	var until time.Time
	if stop != nil {
		until = stop(c.Now())
	}
	return l.Run(ctx, until), s, c, buf.String()
}

var errThrottled = errors.New("ProvisionedThroughputExceededException")

func TestFailedPassesBackOffAndASuccessResetsThePace(t *testing.T) {
	ok := pass{st: Stats{}}
	r, s, c, _ := run(t, []pass{{err: errThrottled}, {err: errThrottled}, {err: errThrottled}, ok, {err: errThrottled}, ok}, nil)
	if want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, time.Second, time.Second, time.Second}; !slices.Equal(c.waits, want) {
		t.Errorf("pauses %v, want %v", c.waits, want)
	}
	// The seventh call is cut short by the cancelled run: not a failure.
	if s.calls != 7 || r.Passes != 6 || r.Failed != 4 || !errors.Is(r.Err, errThrottled) {
		t.Errorf("%d calls, result %+v; want 6 passes, 4 failed", s.calls, r)
	}
	for i, n := range s.nows[1:] {
		if d := n.Sub(s.nows[i]); d != c.waits[i] {
			t.Errorf("pass %d ran %v after the previous, want the pause %v", i+1, d, c.waits[i])
		}
	}
}

func TestBackoffIsCapped(t *testing.T) {
	passes := make([]pass, 8)
	for i := range passes {
		passes[i].err = errThrottled
	}
	_, _, c, _ := run(t, passes, nil)
	if got := slices.Max(c.waits); got != MaxBackoff || c.waits[len(c.waits)-1] != MaxBackoff {
		t.Errorf("pauses %v, want them capped at %v", c.waits, MaxBackoff)
	}
}

func TestNoPassStartsAfterStop(t *testing.T) {
	passes := make([]pass, 100)
	r, s, _, _ := run(t, passes, func(t0 time.Time) time.Time { return t0.Add(3500 * time.Millisecond) })
	if r.Passes != 4 || s.calls != 4 {
		t.Errorf("%d passes, want 4 (at 0, 1, 2 and 3 s before a stop at 3.5 s)", r.Passes)
	}
	for _, n := range s.nows {
		if !n.Before(s.nows[0].Add(3500 * time.Millisecond)) {
			t.Errorf("a pass started at %v, after the stop", n)
		}
	}
	// A stop already past still runs one pass: a short deadline does work.
	r, _, _, _ = run(t, passes, func(t0 time.Time) time.Time { return t0.Add(-time.Second) })
	if r.Passes != 1 {
		t.Errorf("%d passes with the stop past, want 1", r.Passes)
	}
}

// One line per pass that did work, with its counts and lag; quiet passes
// log nothing; a failure logs its error.
func TestPassesThatDidWorkAreLogged(t *testing.T) {
	through := time.Date(2026, 12, 1, 11, 59, 30, 0, time.UTC)
	r, _, _, out := run(t, []pass{
		{st: Stats{}},
		{st: Stats{Entries: 250, Segments: 12, Through: through, Lag: 30 * time.Second}},
		{err: errThrottled},
		{st: Stats{Through: through, Lag: 31 * time.Second}},
	}, nil)
	var worked, failed int
	for line := range strings.Lines(out) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %s", line)
		}
		switch m["msg"] {
		case "audit index pass":
			worked++
			if m["entries"] != float64(250) || m["segments"] != float64(12) || m["lagSeconds"] != float64(30) || m["through"] != "2026-12-01T11:59:30Z" {
				t.Errorf("pass line %s", line)
			}
		case "audit index pass failed":
			failed++
			if m["level"] != "WARN" || !strings.Contains(m["err"].(string), "Throughput") {
				t.Errorf("failure line %s", line)
			}
		default:
			t.Errorf("unexpected line %s", line)
		}
	}
	if worked != 1 || failed != 1 {
		t.Errorf("%d pass lines, %d failure lines, want 1 and 1:\n%s", worked, failed, out)
	}
	if r.Entries != 250 || r.Segments != 12 || r.Lag != 31*time.Second || !r.Through.Equal(through) {
		t.Errorf("result %+v, want the totals and the newest pass's lag", r)
	}
}

// The real pause ends with the run's context, so a stopped server's loop
// returns at once.
func TestRunEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	calls := make(chan struct{}, 1)
	l := &Loop{Indexer: indexerFunc(func(context.Context, time.Time) (Stats, error) {
		select {
		case calls <- struct{}{}:
		default:
		}
		return Stats{}, nil
	}), Every: time.Hour}
	done := make(chan Result)
	go func() { done <- l.Run(ctx, time.Time{}) }()
	<-calls
	cancel()
	if r := <-done; r.Passes != 1 || r.Failed != 0 {
		t.Errorf("result %+v, want the one pass before the hour's pause", r)
	}
}

type indexerFunc func(context.Context, time.Time) (Stats, error)

func (f indexerFunc) IndexAudit(ctx context.Context, now time.Time) (Stats, error) {
	return f(ctx, now)
}

// The scheduled run ends once it has caught up: busy passes go on a second
// apart, the first one that indexes nothing ends it; a failure does not.
func TestUntilIdleEndsAtTheFirstEmptyPass(t *testing.T) {
	busy := pass{st: Stats{Entries: 500, Segments: 40}}
	passes := []pass{busy, {err: errThrottled}, busy, {}, busy, busy}
	r, s, _, _ := run(t, passes, nil, func(l *Loop) { l.UntilIdle = true })
	if s.calls != 4 || r.Passes != 4 || r.Failed != 1 || r.Entries != 1000 {
		t.Errorf("ran %d passes (%d failed, %d entries), want 4 ending at the empty one (1 failed, 1000 entries)", s.calls, r.Failed, r.Entries)
	}
	// Without it (vsecure dev), empty passes do not end the loop.
	_, s, _, _ = run(t, passes, nil)
	if s.calls != len(passes)+1 {
		t.Errorf("dev loop ran %d passes, want all %d then the cancel", s.calls, len(passes)+1)
	}
}
