package task_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/vsecure/vsecure/internal/testclock"
	"github.com/vsecure/vsecure/shared/store/embedded"
	"github.com/vsecure/vsecure/shared/vsecure"
	"github.com/vsecure/vsecure/shared/workflow"
	"github.com/vsecure/vsecure/shared/workflow/sfn"
	"github.com/vsecure/vsecure/shared/workflow/sfn/sfntest"
	"github.com/vsecure/vsecure/shared/workflow/task"
	"github.com/vsecure/vsecure/shared/workflow/workflowtest"
)

// reconcileRig runs the reconciler over a real embedded store, the gate's
// expiry path and the Step Functions fake.
type reconcileRig struct {
	store *embedded.Store
	clock *testclock.Clock
	fake  *sfntest.Fake
	note  *workflowtest.Notifier
	r     *task.Reconciler
}

func newReconcileRig(t *testing.T) *reconcileRig {
	t.Helper()
	st, err := embedded.Open(filepath.Join(t.TempDir(), "vsecure.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rr := &reconcileRig{store: st, clock: testclock.New(workflowtest.T0().Add(10 * time.Minute)), fake: sfntest.New(t), note: workflowtest.NewNotifier(64)}
	wf, err := sfn.New(sfn.Config{Client: rr.fake.Client(), StateMachineARN: machine, Now: rr.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	g := workflowtest.Gate(t, st, rr.clock.Now)
	rr.r = &task.Reconciler{Live: st, Executions: wf, Tasks: &task.Handlers{Store: st, Expirer: (&workflow.Announcer{Notifier: rr.note}).Expirer(g), Notifier: rr.note, Now: rr.clock.Now}}
	return rr
}

// put stores a as the API would have before its StartExecution failed.
func (rr *reconcileRig) put(t *testing.T, a vsecure.Approval) {
	t.Helper()
	e := vsecure.Entry{ID: "aud_" + a.ID, Timestamp: a.RequestedAt, Operation: vsecure.AuditRequestApproval, Actor: a.RequestedBy, ApprovalID: a.ID, Resource: a.Resource, Success: true, Metadata: map[string]string{}}
	if err := rr.store.CreateApproval(t.Context(), a, e); err != nil {
		t.Fatal(err)
	}
}

func (rr *reconcileRig) run(t *testing.T, want task.Counts) {
	t.Helper()
	got, err := rr.r.Run(t.Context())
	if err != nil || got != want {
		t.Fatalf("Run = %+v, %v; want %+v", got, err, want)
	}
}

func (rr *reconcileRig) ops(t *testing.T, op string) []sfntest.Call {
	t.Helper()
	var out []sfntest.Call
	for _, c := range rr.fake.Calls() {
		if c.Op == op {
			out = append(out, c)
		}
	}
	return out
}

func approved(id string, ttl int) vsecure.Approval {
	a := workflowtest.Pending(id, ttl)
	a.Status = vsecure.StatusApproved
	at := a.RequestedAt
	a.ApprovedAt = &at
	return a
}

func TestReconcile(t *testing.T) {
	t.Run("an_approval_whose_start_failed_gets_its_execution", func(t *testing.T) {
		rr := newReconcileRig(t)
		rr.put(t, workflowtest.Pending("appr_p", 3600))
		rr.put(t, approved("appr_a", 3600))
		rr.run(t, task.Counts{Checked: 2, Started: 2})
		starts := rr.ops(t, "StartExecution")
		if len(starts) != 2 {
			t.Fatalf("starts %+v", starts)
		}
		for _, c := range starts {
			if c.Body["stateMachineArn"] != machine || (c.Body["name"] != "appr_p" && c.Body["name"] != "appr_a") {
				t.Errorf("start %+v", c)
			}
		}
		// Now both run: the next run only looks.
		rr.run(t, task.Counts{Checked: 2})
		if n := len(rr.ops(t, "StartExecution")); n != 2 {
			t.Fatalf("%d starts after the second run, want 2", n)
		}
	})
	t.Run("a_due_approval_without_an_execution_is_expired_and_audited", func(t *testing.T) {
		rr := newReconcileRig(t)
		rr.put(t, workflowtest.Pending("appr_p", 60))
		rr.put(t, approved("appr_a", 60))
		rr.run(t, task.Counts{Checked: 2, Expired: 2})
		if n := len(rr.ops(t, "StartExecution")); n != 0 {
			t.Fatalf("%d starts for due approvals", n)
		}
		for _, id := range []string{"appr_p", "appr_a"} {
			a, err := rr.store.GetApproval(t.Context(), id)
			if err != nil || a.Status != vsecure.StatusExpired {
				t.Fatalf("%s = %+v, %v; want expired", id, a.Status, err)
			}
		}
		entries, _, err := rr.store.QueryAudit(t.Context(), vsecure.AuditFilter{Operation: vsecure.AuditExpire}, "", 10)
		if err != nil || len(entries) != 2 {
			t.Fatalf("expire audit entries %+v, %v; want 2", entries, err)
		}
		from := map[string]string{}
		for _, e := range entries {
			from[e.ApprovalID] = e.Metadata["from"]
		}
		if from["appr_p"] != "pending" || from["appr_a"] != "approved" {
			t.Errorf("audited %v", from)
		}
		workflowtest.Wait(t, rr.note.Closes, "expiry notice")
		workflowtest.Wait(t, rr.note.Closes, "expiry notice")
		rr.run(t, task.Counts{})
	})
	t.Run("a_running_execution_is_left_alone", func(t *testing.T) {
		rr := newReconcileRig(t)
		rr.put(t, workflowtest.Pending("appr_p", 60)) // due, but its execution runs Expire
		rr.put(t, approved("appr_a", 3600))
		rr.fake.SetStatus("appr_p", "RUNNING")
		rr.fake.SetStatus("appr_a", "RUNNING")
		rr.run(t, task.Counts{Checked: 2})
		if got := rr.fake.Ops(); len(got) != 2 || got[0] != "DescribeExecution" || got[1] != "DescribeExecution" {
			t.Fatalf("calls %v, want two DescribeExecution", got)
		}
		if a, _ := rr.store.GetApproval(t.Context(), "appr_p"); a.Status != vsecure.StatusPending {
			t.Fatalf("status %s, want pending", a.Status)
		}
	})
	t.Run("a_fresh_request_is_left_to_the_api", func(t *testing.T) {
		rr := newReconcileRig(t)
		a := workflowtest.Pending("appr_p", 3600)
		a.RequestedAt = rr.clock.Now().Add(-time.Second)
		rr.put(t, a)
		rr.run(t, task.Counts{Checked: 1})
		if got := rr.fake.Ops(); len(got) != 0 {
			t.Fatalf("calls %v", got)
		}
	})
	t.Run("an_ended_execution_is_not_restarted_before_expiry", func(t *testing.T) {
		rr := newReconcileRig(t)
		rr.put(t, approved("appr_a", 3600))
		rr.fake.SetStatus("appr_a", "FAILED")
		rr.run(t, task.Counts{Checked: 1})
		rr.clock.Set(workflowtest.T0().Add(2 * time.Hour))
		rr.run(t, task.Counts{Checked: 1, Expired: 1})
		if n := len(rr.ops(t, "StartExecution")); n != 0 {
			t.Fatalf("%d starts", n)
		}
	})
	t.Run("races_are_harmless", func(t *testing.T) {
		rr := newReconcileRig(t)
		rr.put(t, workflowtest.Pending("appr_p", 3600))
		// Another start (the API's late retry, an overlapping run) got in
		// between DescribeExecution and StartExecution.
		rr.fake.Script("StartExecution", sfntest.Reply{Status: 400, Type: "ExecutionAlreadyExists"})
		rr.run(t, task.Counts{Checked: 1, Started: 1})
		// A due approval closed by someone else after the listing: the
		// conditional expiry loses and nothing is counted twice.
		rr2 := newReconcileRig(t)
		rr2.put(t, workflowtest.Pending("appr_q", 60))
		rr2.r.Live = &staleList{s: rr2.store}
		rr2.run(t, task.Counts{Checked: 1, Expired: 1})
		rr2.run(t, task.Counts{Checked: 1})
		entries, _, err := rr2.store.QueryAudit(t.Context(), vsecure.AuditFilter{Operation: vsecure.AuditExpire}, "", 10)
		if err != nil || len(entries) != 1 {
			t.Fatalf("expire audit entries %d, %v; want exactly 1", len(entries), err)
		}
	})
	t.Run("a_failing_call_is_counted_and_the_run_goes_on", func(t *testing.T) {
		rr := newReconcileRig(t)
		rr.put(t, workflowtest.Pending("appr_p", 3600))
		rr.put(t, workflowtest.Pending("appr_q", 3600))
		rr.fake.Script("DescribeExecution", sfntest.Reply{Status: 400, Type: "AccessDeniedException"})
		rr.run(t, task.Counts{Checked: 2, Started: 1, Errors: 1})
	})
}

// staleList returns the live approvals as first listed, even once they
// changed: a listing that raced a decision.
type staleList struct {
	s   *embedded.Store
	got []vsecure.Approval
}

func (l *staleList) ListLiveApprovals(ctx context.Context) ([]vsecure.Approval, error) {
	if l.got != nil {
		return l.got, nil
	}
	var err error
	l.got, err = l.s.ListLiveApprovals(ctx)
	return l.got, err
}
