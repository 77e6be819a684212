package local

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/store/embedded"
	"github.com/vsecure/vsecure/shared/vsecure"
	"github.com/vsecure/vsecure/shared/workflow/workflowtest"
)

// lateExpirer records how late each tidy ran against expiresAt.
type lateExpirer struct {
	expiresAt map[string]time.Time // read-only once the run starts
	mu        sync.Mutex
	late      []time.Duration
	done      chan struct{}
	// inner does the real work when set (a gate over a store).
	inner Expirer
}

func (e *lateExpirer) Expire(ctx context.Context, id string) (vsecure.Approval, error) {
	late := time.Since(e.expiresAt[id])
	var a vsecure.Approval
	var err error
	if e.inner != nil {
		a, err = e.inner.Expire(ctx, id)
	}
	e.mu.Lock()
	e.late = append(e.late, late)
	n := len(e.late)
	e.mu.Unlock()
	if n == len(e.expiresAt) {
		close(e.done)
	}
	return a, err
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestExpiryLateness10k schedules 10,000 approvals on the real clock,
// expiring over a window of spread, and reports how late the tidies ran
// (the budget is 1 s at p99) and the memory the schedule holds.
func TestExpiryLateness10k(t *testing.T) {
	for _, tc := range []struct {
		name   string
		spread time.Duration
		gate   bool
	}{
		{"timer_only_over_3s", 3 * time.Second, false},
		{"timer_only_all_at_once", 0, false},
		{"through_the_gate_over_3s", 3 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 10_000
			store := workflowtest.NewStore()
			exp := &lateExpirer{expiresAt: make(map[string]time.Time, n), done: make(chan struct{})}
			approvals := make([]vsecure.Approval, n)
			for i := range approvals {
				approvals[i] = workflowtest.Pending(fmt.Sprintf("appr_%05d", i), 60).AutoApprove()
			}
			// Deadlines start after setup so setup time is not counted as lateness.
			start := time.Now().Add(1500 * time.Millisecond)
			for i, a := range approvals {
				if tc.spread > 0 {
					a.ExpiresAt = start.Add(time.Duration(i) * tc.spread / n)
				} else {
					a.ExpiresAt = start
				}
				exp.expiresAt[a.ID] = a.ExpiresAt
				approvals[i] = a
				store.Put(a)
			}
			if tc.gate {
				exp.inner = workflowtest.Gate(t, store, time.Now)
			}
			wf, err := New(Config{Expirer: exp, Store: store, Notifier: workflowtest.NewNotifier(n)})
			if err != nil {
				t.Fatal(err)
			}
			goroutines := runtime.NumGoroutine()
			before := heapInUse()
			for _, a := range approvals {
				if err := wf.Started(t.Context(), a); err != nil {
					t.Fatal(err)
				}
			}
			held := int64(heapInUse()) - int64(before)
			runtime.KeepAlive(approvals)
			if got := wf.Scheduled(); got != n {
				t.Fatalf("scheduled %d, want %d", got, n)
			}
			if time.Now().After(start) {
				t.Logf("setup overran the first deadline by %s (a loaded machine); lateness includes it", time.Since(start))
			}
			if err := wf.Start(t.Context()); err != nil { // also reschedules the same ids: no duplicates
				t.Fatal(err)
			}
			defer wf.Close()
			added := runtime.NumGoroutine() - goroutines
			select {
			case <-exp.done:
			case <-time.After(time.Minute):
				t.Fatal("not every approval was tidied within a minute")
			}
			exp.mu.Lock()
			late := slices.Clone(exp.late)
			exp.mu.Unlock()
			slices.Sort(late)
			p := func(q float64) time.Duration { return late[int(q*float64(len(late)-1))] }
			t.Logf("n=%d spread=%s: lateness p50=%s p99=%s max=%s; schedule holds %.2f MiB (%d B/approval); goroutines added %d",
				n, tc.spread, p(0.50).Round(time.Microsecond), p(0.99).Round(time.Microsecond), late[len(late)-1].Round(time.Microsecond),
				float64(held)/(1<<20), held/n, added)
			if p(0.99) > time.Second && !raceEnabled {
				t.Fatalf("p99 lateness %s over the 1 s budget", p(0.99))
			}
			if late[0] < 0 {
				t.Fatalf("an approval was tidied %s early", -late[0])
			}
		})
	}
}

// BenchmarkSchedule measures scheduling and cancelling against a heap of
// 10,000 approvals.
func BenchmarkSchedule(b *testing.B) {
	wf, err := New(Config{Expirer: &lateExpirer{}, Store: workflowtest.NewStore(), Notifier: workflowtest.NewNotifier(1)})
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now().Add(time.Hour)
	for i := range 10_000 {
		wf.schedule(fmt.Sprintf("appr_%05d", i), t0.Add(time.Duration(i)*time.Millisecond), 0)
	}
	ids := make([]string, 1024)
	for i := range ids {
		ids[i] = fmt.Sprintf("appr_x%04d", i)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		id := ids[i%len(ids)]
		wf.schedule(id, t0.Add(time.Duration(i%10_000)*time.Millisecond), 0)
		wf.unschedule(id)
	}
}

// TestExpiryLateness10kOnBbolt is the same run through the gate over the
// local server's real store: every tidy is a conditional, audited bbolt
// write, and concurrent tidies share group commits.
func TestExpiryLateness10kOnBbolt(t *testing.T) {
	const n, spread = 10_000, 10 * time.Second
	st, err := embedded.Open(filepath.Join(t.TempDir(), "vsecure.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	exp := &lateExpirer{expiresAt: make(map[string]time.Time, n), done: make(chan struct{})}
	start := time.Now().Add(20 * time.Second) // room for creating 10k approvals
	approvals := make([]vsecure.Approval, n)
	for i := range approvals {
		a := workflowtest.Pending(fmt.Sprintf("appr_%05d", i), 60).AutoApprove()
		a.ExpiresAt = start.Add(time.Duration(i) * spread / n)
		exp.expiresAt[a.ID] = a.ExpiresAt
		approvals[i] = a
	}
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for w := range 32 {
		wg.Go(func() {
			for i := w; i < n; i += 32 {
				if err := st.CreateApproval(t.Context(), approvals[i], vsecure.Entry{}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if time.Now().After(start) {
		t.Logf("setup overran the first deadline by %s; lateness includes it", time.Since(start))
	}
	exp.inner = workflowtest.Gate(t, st, time.Now)
	wf, err := New(Config{Expirer: exp, Store: st, Notifier: workflowtest.NewNotifier(n)})
	if err != nil {
		t.Fatal(err)
	}
	if err := wf.Start(t.Context()); err != nil { // reschedules every live approval from bbolt
		t.Fatal(err)
	}
	defer wf.Close()
	select {
	case <-exp.done:
	case <-time.After(2 * time.Minute):
		t.Fatal("not every approval was tidied within two minutes")
	}
	exp.mu.Lock()
	late := slices.Clone(exp.late)
	exp.mu.Unlock()
	slices.Sort(late)
	p := func(q float64) time.Duration { return late[int(q*float64(len(late)-1))] }
	t.Logf("bbolt n=%d spread=%s: lateness p50=%s p99=%s max=%s", n, spread,
		p(0.50).Round(time.Microsecond), p(0.99).Round(time.Microsecond), late[len(late)-1].Round(time.Microsecond))
	live, err := st.ListLiveApprovals(t.Context())
	if err != nil || len(live) != 0 {
		t.Fatalf("%d approvals still live after every tidy (%v)", len(live), err)
	}
}
