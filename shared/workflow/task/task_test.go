package task_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vsecure/vsecure/internal/testclock"
	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/vsecure"
	"github.com/vsecure/vsecure/shared/workflow"
	"github.com/vsecure/vsecure/shared/workflow/sfn"
	"github.com/vsecure/vsecure/shared/workflow/sfn/sfntest"
	"github.com/vsecure/vsecure/shared/workflow/task"
	"github.com/vsecure/vsecure/shared/workflow/workflowtest"
)

const machine = "arn:aws:states:us-east-1:123456789012:stateMachine:vsecure-approvals"

// rig: the API's gate and the task handlers share a store and a Step
// Functions fake, as in production.
type rig struct {
	store *workflowtest.Store
	clock *testclock.Clock
	fake  *sfntest.Fake
	gate  *gate.Gate
	note  *workflowtest.Notifier
	h     *task.Handlers
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{store: workflowtest.NewStore(), clock: testclock.New(workflowtest.T0().Add(time.Second)), fake: sfntest.New(t), note: workflowtest.NewNotifier(64)}
	wf, err := sfn.New(sfn.Config{Client: r.fake.Client(), StateMachineARN: machine, Now: r.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	r.gate = workflowtest.Gate(t, r.store, r.clock.Now)
	r.gate.SetWorkflow(wf)
	r.h = &task.Handlers{Store: r.store, Expirer: (&workflow.Announcer{Notifier: r.note}).Expirer(r.gate), Sender: wf, Notifier: r.note, Now: r.clock.Now}
	return r
}

func (r *rig) get(t *testing.T, id string) vsecure.Approval {
	t.Helper()
	a, err := r.store.GetApproval(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (r *rig) sends() []sfntest.Call {
	var out []sfntest.Call
	for _, c := range r.fake.Calls() {
		if c.Op == "SendTaskSuccess" {
			out = append(out, c)
		}
	}
	return out
}

func sendOf(token, decision string) sfntest.Call {
	return sfntest.Call{Op: "SendTaskSuccess", Body: map[string]any{"taskToken": token, "output": `{"decision":"` + decision + `"}`}}
}

func TestNotify(t *testing.T) {
	t.Run("stores_the_token_and_announces_the_request", func(t *testing.T) {
		r := newRig(t)
		r.note.Notice = map[string]string{"channel": "C1", "ts": "1.2"}
		r.store.Put(workflowtest.Pending("appr_a", 60))
		res, err := r.h.Notify(t.Context(), task.NotifyEvent{ApprovalID: "appr_a", TaskToken: "tok-1"})
		if err != nil || res.Outcome != "notified" {
			t.Fatalf("notify = %+v, %v", res, err)
		}
		a := r.get(t, "appr_a")
		if a.TaskToken != "tok-1" || a.Notice["ts"] != "1.2" || a.Status != vsecure.StatusPending {
			t.Fatalf("stored %+v", a)
		}
		workflowtest.Wait(t, r.note.Requests, "request notice")
		// The API's decision now completes the task with the stored token.
		if _, err := r.gate.Decide(t.Context(), workflowtest.Approver("alice"), "appr_a", api.Respond{Action: "deny"}); err != nil {
			t.Fatal(err)
		}
		if got := r.fake.Calls(); len(got) != 1 || fmt.Sprint(got[0]) != fmt.Sprint(sendOf("tok-1", "denied")) {
			t.Fatalf("calls %+v", got)
		}
	})
	t.Run("a_decision_that_landed_first_is_sent_by_notify", func(t *testing.T) {
		r := newRig(t)
		r.store.Put(workflowtest.Pending("appr_a", 60))
		if _, err := r.gate.Decide(t.Context(), workflowtest.Approver("alice"), "appr_a", api.Respond{Action: "approve"}); err != nil {
			t.Fatal(err)
		}
		if n := len(r.fake.Calls()); n != 0 {
			t.Fatalf("the API called Step Functions %d times without a token", n)
		}
		res, err := r.h.Notify(t.Context(), task.NotifyEvent{ApprovalID: "appr_a", TaskToken: "tok-1"})
		if err != nil || res.Outcome != "sent_decision" {
			t.Fatalf("notify = %+v, %v", res, err)
		}
		if got := r.fake.Calls(); len(got) != 1 || fmt.Sprint(got[0]) != fmt.Sprint(sendOf("tok-1", "approved")) {
			t.Fatalf("calls %+v", got)
		}
		workflowtest.None(t, r.note.Requests, "announcement of a decided request")
	})
	t.Run("a_retried_invocation_does_not_rewrite_the_token", func(t *testing.T) {
		r := newRig(t)
		r.store.Put(workflowtest.Pending("appr_a", 60))
		for range 2 {
			if _, err := r.h.Notify(t.Context(), task.NotifyEvent{ApprovalID: "appr_a", TaskToken: "tok-1"}); err != nil {
				t.Fatal(err)
			}
		}
		if v := r.get(t, "appr_a").Version; v != 2 {
			t.Fatalf("version %d after two identical notifies, want 2", v)
		}
	})
	t.Run("an_unavailable_store_asks_for_a_retry", func(t *testing.T) {
		r := newRig(t)
		r.store.Put(workflowtest.Pending("appr_a", 60))
		r.store.SetFail(vsecure.Errorf(vsecure.EUnavailable, "down"))
		_, err := r.h.Notify(t.Context(), task.NotifyEvent{ApprovalID: "appr_a", TaskToken: "tok-1"})
		var retry *task.RetryLater
		if !errors.As(err, &retry) {
			t.Fatalf("err = %v, want RetryLater", err)
		}
	})
	t.Run("a_missing_approval_ends_the_wait", func(t *testing.T) {
		r := newRig(t)
		res, err := r.h.Notify(t.Context(), task.NotifyEvent{ApprovalID: "appr_gone", TaskToken: "tok-1"})
		if err != nil || res.Outcome != "not_found" {
			t.Fatalf("notify = %+v, %v", res, err)
		}
		if got := r.sends(); len(got) != 1 || fmt.Sprint(got[0]) != fmt.Sprint(sendOf("tok-1", "closed")) {
			t.Fatalf("calls %+v", got)
		}
	})
	t.Run("rejects_an_event_without_token", func(t *testing.T) {
		if _, err := newRig(t).h.Notify(t.Context(), task.NotifyEvent{ApprovalID: "appr_a"}); err == nil {
			t.Fatal("accepted")
		}
	})
}

// TestDecisionBeforeTokenRace runs the API's decision and the Notify task
// concurrently. Whichever order the writes land in, exactly one of them
// completes the task, with the right decision.
func TestDecisionBeforeTokenRace(t *testing.T) {
	byNotify := 0
	for i := range 100 {
		r := newRig(t)
		id := fmt.Sprintf("appr_%03d", i)
		r.store.Put(workflowtest.Pending(id, 60))
		action, decision := "approve", "approved"
		if i%2 == 1 {
			action, decision = "deny", "denied"
		}
		var res task.Result
		var wg sync.WaitGroup
		wg.Go(func() {
			if _, err := r.gate.Decide(context.Background(), workflowtest.Approver("alice"), id, api.Respond{Action: action}); err != nil {
				t.Error(err)
			}
		})
		wg.Go(func() {
			var err error
			if res, err = r.h.Notify(context.Background(), task.NotifyEvent{ApprovalID: id, TaskToken: "tok-" + id}); err != nil {
				t.Error(err)
			}
		})
		wg.Wait()
		got := r.sends()
		if len(got) != 1 || fmt.Sprint(got[0]) != fmt.Sprint(sendOf("tok-"+id, decision)) {
			t.Fatalf("run %d: SendTaskSuccess calls %+v, want exactly one %s", i, got, decision)
		}
		if res.Outcome == "sent_decision" {
			byNotify++
		}
	}
	t.Logf("of 100 races, Notify delivered %d decisions and the API %d", byNotify, 100-byNotify)
}

func TestExpireAndRevoke(t *testing.T) {
	t.Run("expire_ends_an_undecided_request_with_an_audit_entry", func(t *testing.T) {
		r := newRig(t)
		r.store.Put(workflowtest.Pending("appr_a", 60))
		r.clock.Set(workflowtest.T0().Add(61 * time.Second))
		res, err := r.h.Expire(t.Context(), task.Event{ApprovalID: "appr_a"})
		if err != nil || res.Outcome != "expired" || r.get(t, "appr_a").Status != vsecure.StatusExpired {
			t.Fatalf("expire = %+v, %v", res, err)
		}
		audit := r.store.Audit()
		if e := audit[len(audit)-1]; e.Operation != vsecure.AuditExpire || e.Metadata["from"] != "pending" || e.ApprovalID != "appr_a" {
			t.Fatalf("audit entry %+v", e)
		}
		if got := workflowtest.Wait(t, r.note.Closes, "expiry notice"); got.Status != vsecure.StatusExpired {
			t.Fatalf("notice status %s", got.Status)
		}
	})
	t.Run("revoke_ends_granted_access_at_expiresAt", func(t *testing.T) {
		r := newRig(t)
		r.store.Put(workflowtest.Pending("appr_a", 60).AutoApprove())
		r.clock.Set(workflowtest.T0().Add(60 * time.Second))
		res, err := r.h.Revoke(t.Context(), task.Event{ApprovalID: "appr_a"})
		if err != nil || res.Outcome != "expired" {
			t.Fatalf("revoke = %+v, %v", res, err)
		}
		audit := r.store.Audit()
		if e := audit[len(audit)-1]; e.Metadata["from"] != "approved" {
			t.Fatalf("audit entry %+v", e)
		}
	})
	t.Run("a_request_decided_meanwhile_is_left_alone", func(t *testing.T) {
		r := newRig(t)
		a := workflowtest.Pending("appr_a", 60)
		a.Status = vsecure.StatusDenied
		r.store.Put(a)
		r.clock.Set(workflowtest.T0().Add(61 * time.Second))
		res, err := r.h.Expire(t.Context(), task.Event{ApprovalID: "appr_a"})
		if err != nil || res.Outcome != "already_closed" || r.get(t, "appr_a").Status != vsecure.StatusDenied {
			t.Fatalf("expire = %+v, %v", res, err)
		}
	})
	t.Run("early_by_this_clock_asks_for_a_retry", func(t *testing.T) {
		r := newRig(t)
		r.store.Put(workflowtest.Pending("appr_a", 60).AutoApprove())
		r.clock.Set(workflowtest.T0().Add(59 * time.Second))
		_, err := r.h.Revoke(t.Context(), task.Event{ApprovalID: "appr_a"})
		var retry *task.RetryLater
		if !errors.As(err, &retry) || r.get(t, "appr_a").Status != vsecure.StatusApproved {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("revocation_by_an_approver_wins_over_a_later_tidy", func(t *testing.T) {
		r := newRig(t)
		r.store.Put(workflowtest.Pending("appr_a", 60).AutoApprove())
		if _, err := r.gate.Revoke(t.Context(), workflowtest.Approver("alice"), "appr_a"); err != nil {
			t.Fatal(err)
		}
		if ops := r.fake.Ops(); len(ops) != 1 || ops[0] != "StopExecution" {
			t.Fatalf("calls %v, want StopExecution", ops)
		}
		r.clock.Set(workflowtest.T0().Add(60 * time.Second))
		res, err := r.h.Revoke(t.Context(), task.Event{ApprovalID: "appr_a"})
		if err != nil || res.Outcome != "already_closed" || r.get(t, "appr_a").Status != vsecure.StatusRevoked {
			t.Fatalf("revoke = %+v, %v", res, err)
		}
	})
}

// TestEventSamples: the events/ samples decode, strictly, into the task
// payloads (make invoke and the RIE tests send them).
func TestEventSamples(t *testing.T) {
	for name, v := range map[string]any{
		"workflow-notify.json": &task.NotifyEvent{},
		"workflow-expire.json": &task.Event{},
		"workflow-revoke.json": &task.Event{},
	} {
		raw, err := os.ReadFile(filepath.Join("..", "..", "..", "events", name))
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if b, _ := json.Marshal(v); !bytes.Contains(b, []byte(`"approvalId":"appr_`)) {
			t.Fatalf("%s decoded to %s", name, b)
		}
	}
}
