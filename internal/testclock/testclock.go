// Package testclock is the one settable clock of vsecure's tests. Code
// under test takes its time as a func() time.Time (pass c.Now) or, for the
// local workflow, as a clock with timers; a test moves the clock with Set
// or Advance instead of sleeping, so expiry, windows and races are decided
// by the test, not by the machine's speed.
package testclock

import (
	"sync"
	"time"
)

// Clock moves only when told. It is safe for concurrent use: servers
// under test read it from their own goroutines.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*Timer
}

// New returns a clock at t.
func New(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setLocked(c.now.Add(d))
}

// Set moves the clock to t and fires every timer whose deadline it reached.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setLocked(t)
}

func (c *Clock) setLocked(t time.Time) {
	c.now = t
	for _, mt := range c.timers {
		mt.fireIfDue(t)
	}
}

// NewTimer returns a stopped timer driven by c.
func (c *Clock) NewTimer() *Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	mt := &Timer{clock: c, c: make(chan time.Time, 1)}
	c.timers = append(c.timers, mt)
	return mt
}

// Timer delivers on C once the clock reaches its deadline. Deadlines are
// absolute, so a clock that moves between reading Now and arming the timer
// cannot make it miss.
type Timer struct {
	clock *Clock
	c     chan time.Time
	armed bool      // guarded by clock.mu
	at    time.Time // guarded by clock.mu
}

// C is the channel the timer fires on.
func (t *Timer) C() <-chan time.Time { return t.c }

// ResetAt arms the timer for at, replacing any earlier deadline; it fires
// at once if the clock is already there.
func (t *Timer) ResetAt(at time.Time) {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	t.drain()
	t.armed, t.at = true, at
	t.fireIfDue(t.clock.now)
}

// Stop disarms the timer and discards a value nobody read.
func (t *Timer) Stop() {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	t.armed = false
	t.drain()
}

// drain discards a fired value nobody read, like Go 1.23 timers do.
func (t *Timer) drain() {
	select {
	case <-t.c:
	default:
	}
}

func (t *Timer) fireIfDue(now time.Time) {
	if t.armed && !now.Before(t.at) {
		t.armed = false
		t.c <- now // buffered 1 and drained on every re-arm: never blocks
	}
}
