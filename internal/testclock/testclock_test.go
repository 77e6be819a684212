package testclock_test

import (
	"testing"
	"time"

	"github.com/vsecure/vsecure/internal/testclock"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func fired(tm *testclock.Timer) bool {
	select {
	case <-tm.C():
		return true
	default:
		return false
	}
}

func TestTimerFiresWhenTheClockReachesItsDeadline(t *testing.T) {
	c := testclock.New(t0)
	tm := c.NewTimer()
	tm.ResetAt(t0.Add(time.Minute))
	c.Advance(59 * time.Second)
	if fired(tm) {
		t.Fatal("fired before its deadline")
	}
	c.Set(t0.Add(time.Minute))
	if !fired(tm) {
		t.Fatal("did not fire at its deadline")
	}
	c.Advance(time.Hour)
	if fired(tm) {
		t.Fatal("fired twice")
	}
}

func TestTimerArmedInThePastFiresAtOnce(t *testing.T) {
	c := testclock.New(t0)
	tm := c.NewTimer()
	tm.ResetAt(t0.Add(-time.Second))
	if !fired(tm) {
		t.Fatal("a past deadline did not fire")
	}
}

func TestStopDiscardsAnUnreadFiring(t *testing.T) {
	c := testclock.New(t0)
	tm := c.NewTimer()
	tm.ResetAt(t0)
	tm.Stop()
	c.Advance(time.Hour)
	if fired(tm) {
		t.Fatal("a stopped timer delivered")
	}
}

func TestConcurrentReadersAndWriters(t *testing.T) {
	c := testclock.New(t0)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 1000 {
			c.Advance(time.Millisecond)
		}
	}()
	for range 1000 {
		_ = c.Now()
	}
	<-done
	if got := c.Now(); !got.Equal(t0.Add(time.Second)) {
		t.Fatalf("Now = %v after 1000 advances of 1ms", got)
	}
}
