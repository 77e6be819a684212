package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/crypto/local"
	"github.com/vsecure/vsecure/shared/gate"
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

// The gate over this store: approval requests per requester follow the
// product's rule, counted in the store, so every process sharing it
// (every Lambda container) draws on the same bucket.

// approvalGate is a gate over s (the product's default limit) whose clock
// the test moves, and an agent's call.
func (e *env) approvalGate(s vsecure.Store, clock *atomic.Int64) (*gate.Gate, func(who string) gate.Call) {
	e.t.Helper()
	sealer, err := local.New(bytes.Repeat([]byte{7}, 32))
	e.ok(err, "local sealer")
	g, err := gate.New(gate.Config{
		Store: s, Sealer: sealer, CursorKey: bytes.Repeat([]byte("c"), 32),
		Now: func() time.Time { return time.Unix(0, clock.Load()) },
	})
	e.ok(err, "gate.New")
	e.ok(e.s.PutPolicy(e.ctx, e.policy("vsecure://secrets/production/*"), e.entry(vsecure.AuditConfigure, "vsecure://secrets/production/*", "admin")), "PutPolicy")
	return g, func(who string) gate.Call {
		return gate.Call{Principal: vsecure.Principal{ID: who, Roles: []vsecure.Role{vsecure.RoleAgent}}, RequestID: "limit-" + who}
	}
}

var limitedRequest = api.ApprovalRequest{Resource: "vsecure://secrets/production/DATABASE_URL", Operation: "read"}

func testGateApprovalLimit(e *env) {
	var clock atomic.Int64
	t0 := raceClock
	clock.Store(t0.UnixNano())
	// Two gates over one store, as two Lambda containers are: the
	// requester's bucket is the store's, not either gate's.
	g, as := e.approvalGate(e.s, &clock)
	other, _ := e.approvalGate(e.s, &clock)
	rule := vsecure.ApprovalRequestLimit
	for i := range rule.Burst {
		_, err := []*gate.Gate{g, other}[i%2].RequestApproval(e.ctx, as("agent-1"), limitedRequest)
		e.ok(err, "approval request %d of the burst", i+1)
	}
	_, err := other.RequestApproval(e.ctx, as("agent-1"), limitedRequest)
	e.code(err, vsecure.ERateLimited, "request past the burst, in the other gate")
	_, err = g.RequestApproval(e.ctx, as("agent-1"), limitedRequest)
	e.code(err, vsecure.ERateLimited, "request past the burst")
	var de *vsecure.Error
	if !errors.As(err, &de) || de.Detail["retryAfter"] != "30" {
		e.t.Fatalf("refusal %v: want retryAfter 30 (one request every 30 s)", err)
	}
	failed := false
	refusals := e.auditAll(vsecure.AuditFilter{Actor: "agent-1", Success: &failed})
	if len(refusals) != 2 || refusals[0].Error != string(vsecure.ERateLimited) || refusals[0].Operation != vsecure.AuditRequestApproval {
		e.t.Fatalf("audited refusals of agent-1: %+v, want two rate_limited approval requests", refusals)
	}
	_, err = g.RequestApproval(e.ctx, as("agent-2"), limitedRequest)
	e.ok(err, "another requester")
	clock.Store(t0.Add(rule.Every).UnixNano())
	_, err = g.RequestApproval(e.ctx, as("agent-1"), limitedRequest)
	e.ok(err, "a request once the interval has passed")
	_, err = g.RequestApproval(e.ctx, as("agent-1"), limitedRequest)
	e.code(err, vsecure.ERateLimited, "and only one")
}

// noRates is the store with its rate buckets out of reach.
type noRates struct{ vsecure.Store }

func (noRates) TakeToken(context.Context, string, vsecure.RateLimit, time.Time) (bool, time.Duration, error) {
	return false, 0, vsecure.Wrap(vsecure.EInternal, errors.New("rate buckets unreachable"), "the store refused the request")
}

// testGateApprovalLimitFailsClosed: a limit the store cannot check
// refuses the request (audited), never lets it through unlimited.
func testGateApprovalLimitFailsClosed(e *env) {
	var clock atomic.Int64
	clock.Store(raceClock.UnixNano())
	g, as := e.approvalGate(noRates{e.s}, &clock)
	_, err := g.RequestApproval(e.ctx, as("agent-1"), limitedRequest)
	e.code(err, vsecure.EUnavailable, "request while the buckets are unreachable")
	got, _, err := e.s.ListApprovals(e.ctx, vsecure.ApprovalFilter{Now: raceClock}, "", 10)
	e.ok(err, "ListApprovals")
	if len(got) != 0 {
		e.t.Fatalf("%d approvals created while the limit could not be checked", len(got))
	}
	failed := false
	refusals := e.auditAll(vsecure.AuditFilter{Actor: "agent-1", Success: &failed})
	if len(refusals) != 1 || refusals[0].Error != string(vsecure.EUnavailable) {
		e.t.Fatalf("audited refusals: %+v, want one unavailable", refusals)
	}
	// Turned off, the gate does not ask the store at all.
	sealer, err := local.New(bytes.Repeat([]byte{7}, 32))
	e.ok(err, "local sealer")
	off, err := gate.New(gate.Config{
		Store: noRates{e.s}, Sealer: sealer, CursorKey: bytes.Repeat([]byte("c"), 32), ApprovalRate: gate.NoApprovalRate,
		Now: func() time.Time { return raceClock },
	})
	e.ok(err, "gate.New")
	_, err = off.RequestApproval(e.ctx, as("agent-1"), limitedRequest)
	e.ok(err, "request with the limit off")
}
