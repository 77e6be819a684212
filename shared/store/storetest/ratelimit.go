package storetest

import (
	"fmt"
	"sync"
	"time"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// rateLimit is small enough to drain in a test and slow enough that the
// suite's clock, not the wall clock, decides every refill.
var rateLimit = vsecure.RateLimit{Every: 30 * time.Second, Burst: 3}

// take takes a token from bucket at at and fails the test on an error.
func (e *env) take(bucket string, at time.Time) (bool, time.Duration) {
	e.t.Helper()
	ok, wait, err := e.s.TakeToken(e.ctx, bucket, rateLimit, at)
	if err != nil {
		e.t.Fatalf("TakeToken(%s, %s): %v", bucket, at.Format(time.RFC3339), err)
	}
	return ok, wait
}

// wantTake asserts the outcome of one take.
func (e *env) wantTake(bucket string, at time.Time, wantOK bool, wantWait time.Duration, what string) {
	e.t.Helper()
	if ok, wait := e.take(bucket, at); ok != wantOK || wait != wantWait {
		e.t.Fatalf("%s: TakeToken = (%v, %v), want (%v, %v)", what, ok, wait, wantOK, wantWait)
	}
}

func testRateBurstThenRefill(e *env) {
	t0 := e.now()
	for i := range rateLimit.Burst {
		e.wantTake("approvals#agent-1", t0, true, 0, fmt.Sprintf("take %d of the burst", i+1))
	}
	e.wantTake("approvals#agent-1", t0, false, 30*time.Second, "take past the burst")
	e.wantTake("approvals#agent-1", t0.Add(10*time.Second), false, 20*time.Second, "a refusal takes nothing, the wait shrinks")
	e.wantTake("approvals#agent-1", t0.Add(30*time.Second), true, 0, "one token after Every")
	e.wantTake("approvals#agent-1", t0.Add(30*time.Second), false, 30*time.Second, "and only one")
	// Idle for longer than the bucket takes to fill: a full burst, no more.
	t1 := t0.Add(time.Hour)
	for range rateLimit.Burst {
		e.wantTake("approvals#agent-1", t1, true, 0, "take after an idle hour")
	}
	e.wantTake("approvals#agent-1", t1, false, 30*time.Second, "an idle bucket holds Burst, not more")
}

func testRateKeysIndependent(e *env) {
	t0 := e.now()
	for range rateLimit.Burst {
		e.take("approvals#agent-1", t0)
	}
	e.wantTake("approvals#agent-1", t0, false, 30*time.Second, "drained bucket")
	e.wantTake("approvals#agent-2", t0, true, 0, "another principal's bucket")
	e.wantTake("other#agent-1", t0, true, 0, "another bucket of the same principal")
}

// testRateConcurrent: takers racing on one bucket (in one process here,
// as Lambda containers would across processes) get exactly the burst.
func testRateConcurrent(e *env) {
	const takers = 24
	limit := vsecure.RateLimit{Every: time.Minute, Burst: 10}
	t0 := e.now()
	race := func(at time.Time) (allowed, refused int, errs []error) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range takers {
			wg.Go(func() {
				<-start
				ok, wait, err := e.s.TakeToken(e.ctx, "approvals#racer", limit, at)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					errs = append(errs, err)
				case ok:
					allowed++
				case wait <= 0 || wait > limit.Every:
					errs = append(errs, vsecure.Errorf(vsecure.EInternal, "refused with wait %v", wait))
				default:
					refused++
				}
			})
		}
		close(start)
		wg.Wait()
		return allowed, refused, errs
	}
	if allowed, refused, errs := race(t0); len(errs) > 0 || allowed != limit.Burst || refused != takers-limit.Burst {
		e.t.Fatalf("%d concurrent takers of a burst of %d: %d allowed, %d refused, errors %v; want exactly the burst",
			takers, limit.Burst, allowed, refused, errs)
	}
	if allowed, _, errs := race(t0.Add(limit.Every)); len(errs) > 0 || allowed != 1 {
		e.t.Fatalf("%d concurrent takers one interval later: %d allowed, errors %v; want exactly 1", takers, allowed, errs)
	}
}
