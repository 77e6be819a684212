package local

import (
	"sync"
	"time"
)

// Clock is the workflow's time source. Timers take absolute deadlines so a
// clock that moves between reading Now and arming a timer cannot make the
// timer miss its deadline.
type Clock interface {
	Now() time.Time
	// NewTimer returns a stopped timer.
	NewTimer() Timer
}

// Timer delivers on C once its deadline is reached.
type Timer interface {
	C() <-chan time.Time
	// ResetAt arms the timer for at, replacing any earlier deadline.
	ResetAt(at time.Time)
	Stop()
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// NewTimer returns a stopped time.Timer.
func (SystemClock) NewTimer() Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return sysTimer{t}
}

type sysTimer struct{ t *time.Timer }

func (s sysTimer) C() <-chan time.Time { return s.t.C }

// ResetAt relies on Go 1.23 timer semantics: Reset discards a stale value.
func (s sysTimer) ResetAt(at time.Time) { s.t.Reset(time.Until(at)) }
func (s sysTimer) Stop()                { s.t.Stop() }

// ManualClock is a clock that moves only when told, for tests: timers fire
// when Set or Advance reaches their deadline.
type ManualClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*manualTimer
}

// NewManualClock returns a manual clock at t.
func NewManualClock(t time.Time) *ManualClock { return &ManualClock{now: t} }

// Now returns the clock's time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *ManualClock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// Set moves the clock to t and fires every timer whose deadline passed.
func (c *ManualClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
	for _, mt := range c.timers {
		mt.fireIfDue(t)
	}
}

// NewTimer returns a stopped timer driven by c.
func (c *ManualClock) NewTimer() Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	mt := &manualTimer{clock: c, c: make(chan time.Time, 1)}
	c.timers = append(c.timers, mt)
	return mt
}

type manualTimer struct {
	clock *ManualClock
	c     chan time.Time
	armed bool
	at    time.Time // guarded by clock.mu
}

func (t *manualTimer) C() <-chan time.Time { return t.c }

func (t *manualTimer) ResetAt(at time.Time) {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	t.drain()
	t.armed, t.at = true, at
	t.fireIfDue(t.clock.now)
}

func (t *manualTimer) Stop() {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	t.armed = false
	t.drain()
}

// drain discards a fired value nobody read, like Go 1.23 timers do.
func (t *manualTimer) drain() {
	select {
	case <-t.c:
	default:
	}
}

func (t *manualTimer) fireIfDue(now time.Time) {
	if t.armed && !now.Before(t.at) {
		t.armed = false
		t.c <- now // buffered 1 and drained on every re-arm: never blocks
	}
}
