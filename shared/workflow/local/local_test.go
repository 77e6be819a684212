package local

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vsecure/vsecure/internal/testclock"
	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/vsecure"
	"github.com/vsecure/vsecure/shared/workflow"
	"github.com/vsecure/vsecure/shared/workflow/workflowtest"
)

// rig is a started twin over an in-memory store and a gate, all on one
// manual clock.
type rig struct {
	clock manualClock
	store *workflowtest.Store
	gate  *gate.Gate
	note  *workflowtest.Notifier
	wf    *Workflow
}

// manualClock drives the twin's timers from the tests' settable clock.
type manualClock struct{ *testclock.Clock }

func (c manualClock) NewTimer() Timer { return c.Clock.NewTimer() }

func newRig(t *testing.T, live ...vsecure.Approval) *rig {
	t.Helper()
	r := &rig{clock: manualClock{testclock.New(workflowtest.T0())}, store: workflowtest.NewStore(), note: workflowtest.NewNotifier(1024)}
	for _, a := range live {
		r.store.Put(a)
	}
	r.gate = workflowtest.Gate(t, r.store, r.clock.Now)
	an := &workflow.Announcer{Notifier: r.note}
	wf, err := New(Config{Expirer: an.Expirer(r.gate), Store: r.store, Notifier: r.note, Clock: r.clock})
	if err != nil {
		t.Fatal(err)
	}
	r.gate.SetWorkflow(an.Workflow(wf))
	if err := wf.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wf.Close() })
	r.wf = wf
	return r
}

func (r *rig) status(t *testing.T, id string) vsecure.Status {
	t.Helper()
	a, err := r.store.GetApproval(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return a.Status
}

func (r *rig) start(t *testing.T, a vsecure.Approval) {
	t.Helper()
	r.store.Put(a)
	if err := r.wf.Started(t.Context(), a); err != nil {
		t.Fatal(err)
	}
}

func expireEntries(s *workflowtest.Store) []vsecure.Entry {
	var out []vsecure.Entry
	for _, e := range s.Audit() {
		if e.Operation == vsecure.AuditExpire {
			out = append(out, e)
		}
	}
	return out
}

func TestLocal(t *testing.T) {
	t.Run("pending_request_is_announced_and_expires_at_expiresAt", func(t *testing.T) {
		r := newRig(t)
		early, due := workflowtest.Pending("appr_a", 60), workflowtest.Pending("appr_b", 120)
		r.start(t, early)
		r.start(t, due)
		workflowtest.Wait(t, r.note.Requests, "request notice")
		workflowtest.Wait(t, r.note.Requests, "request notice")

		r.clock.Set(workflowtest.T0().Add(90 * time.Second))
		got := workflowtest.Wait(t, r.note.Closes, "expiry")
		if got.ID != early.ID || got.Status != vsecure.StatusExpired {
			t.Fatalf("closed %s as %s, want %s expired", got.ID, got.Status, early.ID)
		}
		if s := r.status(t, due.ID); s != vsecure.StatusPending {
			t.Fatalf("%s is %s before its expiresAt", due.ID, s)
		}
		r.clock.Set(due.ExpiresAt)
		if got := workflowtest.Wait(t, r.note.Closes, "expiry"); got.ID != due.ID {
			t.Fatalf("closed %s, want %s", got.ID, due.ID)
		}
		es := expireEntries(r.store)
		if len(es) != 2 || es[0].Metadata["from"] != "pending" || es[0].Actor != "workflow" {
			t.Fatalf("expire audit entries = %+v", es)
		}
		if n := r.wf.Scheduled(); n != 0 {
			t.Fatalf("%d still scheduled", n)
		}
	})

	t.Run("approved_access_is_tidied_at_the_same_expiresAt", func(t *testing.T) {
		r := newRig(t)
		a := workflowtest.Pending("appr_a", 60)
		r.start(t, a)
		if _, err := r.gate.Decide(t.Context(), workflowtest.Approver("alice"), a.ID, api.Respond{Action: "approve"}); err != nil {
			t.Fatal(err)
		}
		if got := workflowtest.Wait(t, r.note.Closes, "decision"); got.Status != vsecure.StatusApproved {
			t.Fatalf("decision notice says %s", got.Status)
		}
		r.clock.Set(a.ExpiresAt)
		if got := workflowtest.Wait(t, r.note.Closes, "tidy"); got.Status != vsecure.StatusExpired {
			t.Fatalf("tidy says %s", got.Status)
		}
		if es := expireEntries(r.store); len(es) != 1 || es[0].Metadata["from"] != "approved" {
			t.Fatalf("expire audit entries = %+v", es)
		}
	})

	t.Run("auto_approved_request_is_tidied_without_a_request_notice", func(t *testing.T) {
		r := newRig(t)
		a := workflowtest.Pending("appr_a", 60).AutoApprove()
		r.start(t, a)
		r.clock.Set(a.ExpiresAt)
		workflowtest.Wait(t, r.note.Closes, "tidy")
		workflowtest.None(t, r.note.Requests, "request notice")
	})

	t.Run("denial_and_revocation_cancel_the_timer", func(t *testing.T) {
		r := newRig(t)
		denied, revoked := workflowtest.Pending("appr_d", 60), workflowtest.Pending("appr_r", 60)
		r.start(t, denied)
		r.start(t, revoked)
		if _, err := r.gate.Decide(t.Context(), workflowtest.Approver("bob"), denied.ID, api.Respond{Action: "deny"}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.gate.Decide(t.Context(), workflowtest.Approver("bob"), revoked.ID, api.Respond{Action: "approve"}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.gate.Revoke(t.Context(), workflowtest.Approver("alice"), revoked.ID); err != nil {
			t.Fatal(err)
		}
		if n := r.wf.Scheduled(); n != 0 {
			t.Fatalf("%d still scheduled after deny and revoke", n)
		}
		r.clock.Set(revoked.ExpiresAt)
		r.wf.Close()
		if es := expireEntries(r.store); len(es) != 0 {
			t.Fatalf("expired after deny/revoke: %+v", es)
		}
		if r.status(t, denied.ID) != vsecure.StatusDenied || r.status(t, revoked.ID) != vsecure.StatusRevoked {
			t.Fatal("final states changed")
		}
	})

	t.Run("start_reschedules_every_live_approval_from_the_store", func(t *testing.T) {
		overdue := workflowtest.Pending("appr_1", 10)
		pending := workflowtest.Pending("appr_2", 600)
		approved := workflowtest.Pending("appr_3", 300).AutoApprove()
		denied := workflowtest.Pending("appr_4", 300)
		denied.Status = vsecure.StatusDenied
		// The process was down across overdue's expiresAt.
		r := newRigAt(t, workflowtest.T0().Add(60*time.Second), overdue, pending, approved, denied)
		if got := workflowtest.Wait(t, r.note.Closes, "overdue tidy"); got.ID != overdue.ID {
			t.Fatalf("tidied %s first, want the overdue one", got.ID)
		}
		if n := r.wf.Scheduled(); n != 2 {
			t.Fatalf("scheduled %d, want pending and approved", n)
		}
		r.clock.Set(pending.ExpiresAt)
		seen := map[string]bool{}
		for range 2 {
			seen[workflowtest.Wait(t, r.note.Closes, "tidy").ID] = true
		}
		if !seen[pending.ID] || !seen[approved.ID] {
			t.Fatalf("tidied %v", seen)
		}
		workflowtest.None(t, r.note.Requests, "re-announcement on restart")
	})

	t.Run("failed_tidy_is_retried_with_backoff", func(t *testing.T) {
		r := newRig(t)
		a := workflowtest.Pending("appr_a", 60)
		r.store.Put(a)
		r.clock.Set(a.ExpiresAt)
		r.store.SetFail(vsecure.Errorf(vsecure.EUnavailable, "store down"))
		r.wf.tidy(t.Context(), deadline{id: a.ID, at: a.ExpiresAt})
		r.wf.mu.Lock()
		d := r.wf.byID[a.ID]
		r.wf.mu.Unlock()
		if d == nil || d.attempt != 1 || !d.at.Equal(a.ExpiresAt.Add(time.Second)) {
			t.Fatalf("retry = %+v, want attempt 1 one second later", d)
		}
		r.store.SetFail(nil)
		r.clock.Advance(time.Second)
		if got := workflowtest.Wait(t, r.note.Closes, "retried tidy"); got.Status != vsecure.StatusExpired {
			t.Fatalf("retried tidy says %s", got.Status)
		}
	})

	t.Run("new_requires_its_dependencies", func(t *testing.T) {
		if _, err := New(Config{}); err == nil {
			t.Fatal("New accepted a config without dependencies")
		}
	})
}

func newRigAt(t *testing.T, now time.Time, live ...vsecure.Approval) *rig {
	t.Helper()
	r := &rig{clock: manualClock{testclock.New(now)}, store: workflowtest.NewStore(), note: workflowtest.NewNotifier(1024)}
	for _, a := range live {
		r.store.Put(a)
	}
	r.gate = workflowtest.Gate(t, r.store, r.clock.Now)
	an := &workflow.Announcer{Notifier: r.note}
	wf, err := New(Config{Expirer: an.Expirer(r.gate), Store: r.store, Notifier: r.note, Clock: r.clock})
	if err != nil {
		t.Fatal(err)
	}
	r.gate.SetWorkflow(an.Workflow(wf))
	if err := wf.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wf.Close() })
	r.wf = wf
	return r
}

// TestDuplicateStart: a request started twice (a retried call, two API
// instances) is scheduled and announced once.
func TestDuplicateStart(t *testing.T) {
	r := newRig(t)
	a := workflowtest.Pending("appr_a", 60)
	r.store.Put(a)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			if err := r.wf.Started(context.Background(), a); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	workflowtest.Wait(t, r.note.Requests, "request notice")
	if n := r.wf.Scheduled(); n != 1 {
		t.Fatalf("scheduled %d times", n)
	}
	r.clock.Set(a.ExpiresAt)
	workflowtest.Wait(t, r.note.Closes, "expiry")
	r.wf.Close()
	workflowtest.None(t, r.note.Requests, "second request notice")
	workflowtest.None(t, r.note.Closes, "second expiry")
	if es := expireEntries(r.store); len(es) != 1 {
		t.Fatalf("%d expire entries", len(es))
	}
}

// TestDecisionRacingExpiry: an approver deciding just before expiresAt (by
// the API's clock) races the twin's tidy just after it. The store's
// conditional write leaves exactly one winner, and the state, the audit
// log and the notifications all agree on which.
func TestDecisionRacingExpiry(t *testing.T) {
	wins := map[string]int{}
	defer func() { t.Logf("winners over 200 races: %v", wins) }()
	for i := range 200 {
		id := fmt.Sprintf("appr_%03d", i)
		a := workflowtest.Pending(id, 60)
		r := newRigAt(t, a.ExpiresAt, a)
		g2 := workflowtest.Gate(t, r.store, func() time.Time { return a.ExpiresAt.Add(-time.Millisecond) })
		g2.SetWorkflow(r.wf)
		action := []string{"approve", "deny"}[i%2]

		var decideErr error
		var wg sync.WaitGroup
		wg.Go(func() {
			_, decideErr = g2.Decide(context.Background(), workflowtest.Approver("alice"), id, api.Respond{Action: action})
		})
		wg.Go(func() { r.wf.tidy(context.Background(), deadline{id: id, at: a.ExpiresAt}) })
		wg.Wait()
		r.wf.Close()

		// Exactly one of them moved the request out of pending. If the
		// decision approved it, the tidy may then expire the grant (from
		// approved): access ends at the same expiresAt.
		final := r.status(t, id)
		var fromPending, fromApproved int
		for _, e := range expireEntries(r.store) {
			switch e.Metadata["from"] {
			case "pending":
				fromPending++
			case "approved":
				fromApproved++
			}
		}
		switch {
		case decideErr == nil && fromPending == 0:
			wins["decision"]++
			want := map[string]vsecure.Status{"deny": vsecure.StatusDenied, "approve": vsecure.StatusApproved}[action]
			if fromApproved == 1 {
				want = vsecure.StatusExpired
			}
			if final != want || (action == "deny" && fromApproved != 0) {
				t.Fatalf("run %d: decision %s won but final=%s, tidied approved %d times", i, action, final, fromApproved)
			}
		case decideErr != nil && fromPending == 1 && fromApproved == 0 && final == vsecure.StatusExpired:
			wins["expiry"]++
			if code := vsecure.ErrorCode(decideErr); code != vsecure.EExpired && code != vsecure.EAlreadyDecided {
				t.Fatalf("run %d: losing decision got %s", i, code)
			}
		default:
			t.Fatalf("run %d: decideErr=%v fromPending=%d final=%s: not exactly one winner", i, decideErr, fromPending, final)
		}
	}
}
