package local

import "time"

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
