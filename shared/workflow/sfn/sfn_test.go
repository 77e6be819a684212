package sfn_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/vsecure"
	"github.com/vsecure/vsecure/shared/workflow"
	"github.com/vsecure/vsecure/shared/workflow/sfn"
	"github.com/vsecure/vsecure/shared/workflow/sfn/sfntest"
	"github.com/vsecure/vsecure/shared/workflow/workflowtest"
)

const machine = "arn:aws:states:us-east-1:123456789012:stateMachine:vsecure-approvals"

type rig struct {
	fake   *sfntest.Fake
	wf     *sfn.Workflow
	sleeps []time.Duration
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{fake: sfntest.New(t)}
	wf, err := sfn.New(sfn.Config{
		Client: r.fake.Client(), StateMachineARN: machine,
		Now:    func() time.Time { return workflowtest.T0().Add(2 * time.Second) },
		Sleep:  func(_ context.Context, d time.Duration) error { r.sleeps = append(r.sleeps, d); return nil },
		Jitter: func(d time.Duration) time.Duration { return d },
	})
	if err != nil {
		t.Fatal(err)
	}
	r.wf = wf
	return r
}

func (r *rig) want(t *testing.T, want ...sfntest.Call) {
	t.Helper()
	got := r.fake.Calls()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("calls:\n got %+v\nwant %+v", got, want)
	}
}

func startCall(input string) sfntest.Call {
	return sfntest.Call{Op: "StartExecution", Body: map[string]any{"stateMachineArn": machine, "name": "appr_a", "input": input}}
}

func TestStarted(t *testing.T) {
	pendingInput := `{"approvalId":"appr_a","ttl":58,"expiresAt":"2025-03-15T10:01:00Z","autoApproved":false}`
	t.Run("starts_an_execution_named_after_the_approval", func(t *testing.T) {
		r := newRig(t)
		if err := r.wf.Started(t.Context(), workflowtest.Pending("appr_a", 60)); err != nil {
			t.Fatal(err)
		}
		r.want(t, startCall(pendingInput))
	})
	t.Run("auto_approved_request_says_so", func(t *testing.T) {
		r := newRig(t)
		if err := r.wf.Started(t.Context(), workflowtest.Pending("appr_a", 60).AutoApprove()); err != nil {
			t.Fatal(err)
		}
		r.want(t, startCall(`{"approvalId":"appr_a","ttl":58,"expiresAt":"2025-03-15T10:01:00Z","autoApproved":true}`))
	})
	t.Run("a_retried_start_finding_its_execution_succeeds", func(t *testing.T) {
		r := newRig(t)
		r.fake.Script("StartExecution", sfntest.Reply{Status: 400, Type: "ExecutionAlreadyExists"})
		if err := r.wf.Started(t.Context(), workflowtest.Pending("appr_a", 60)); err != nil {
			t.Fatal(err)
		}
		r.want(t, startCall(pendingInput))
	})
	t.Run("throttling_is_retried_with_backoff", func(t *testing.T) {
		r := newRig(t)
		r.fake.Script("StartExecution", sfntest.Reply{Status: 400, Type: "ThrottlingException"}, sfntest.Reply{Status: 500, Type: "InternalServerError"})
		if err := r.wf.Started(t.Context(), workflowtest.Pending("appr_a", 60)); err != nil {
			t.Fatal(err)
		}
		r.want(t, startCall(pendingInput), startCall(pendingInput), startCall(pendingInput))
		if want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}; !reflect.DeepEqual(r.sleeps, want) {
			t.Fatalf("backoff %v, want %v", r.sleeps, want)
		}
	})
	t.Run("gives_up_after_four_attempts", func(t *testing.T) {
		r := newRig(t)
		for range 5 {
			r.fake.Script("StartExecution", sfntest.Reply{Status: 503, Type: "ServiceUnavailable"})
		}
		if err := r.wf.Started(t.Context(), workflowtest.Pending("appr_a", 60)); err == nil {
			t.Fatal("no error after every attempt failed")
		}
		if n := len(r.fake.Calls()); n != 4 {
			t.Fatalf("%d attempts, want 4", n)
		}
	})
	t.Run("ttl_counts_from_the_start_and_is_at_least_one", func(t *testing.T) {
		a := workflowtest.Pending("appr_a", 60)
		if in := sfn.ExecutionInput(a, a.ExpiresAt.Add(time.Minute)); in.TTL != 1 {
			t.Fatalf("ttl after expiry = %d", in.TTL)
		}
		if in := sfn.ExecutionInput(a, workflowtest.T0().Add(500*time.Millisecond)); in.TTL != 60 {
			t.Fatalf("ttl = %d, want 60 (rounded up)", in.TTL)
		}
	})
}

func TestDecided(t *testing.T) {
	decided := func(status vsecure.Status, token string) vsecure.Approval {
		a := workflowtest.Pending("appr_a", 60)
		a.Status, a.TaskToken = status, token
		return a
	}
	send := func(decision string) sfntest.Call {
		return sfntest.Call{Op: "SendTaskSuccess", Body: map[string]any{"taskToken": "tok-1", "output": `{"decision":"` + decision + `"}`}}
	}
	t.Run("approval_completes_the_notify_task", func(t *testing.T) {
		r := newRig(t)
		if err := r.wf.Decided(t.Context(), decided(vsecure.StatusApproved, "tok-1")); err != nil {
			t.Fatal(err)
		}
		r.want(t, send("approved"))
	})
	t.Run("denial_completes_the_notify_task", func(t *testing.T) {
		r := newRig(t)
		if err := r.wf.Decided(t.Context(), decided(vsecure.StatusDenied, "tok-1")); err != nil {
			t.Fatal(err)
		}
		r.want(t, send("denied"))
	})
	t.Run("without_a_token_notify_picks_it_up_later", func(t *testing.T) {
		r := newRig(t)
		if err := r.wf.Decided(t.Context(), decided(vsecure.StatusApproved, "")); err != nil {
			t.Fatal(err)
		}
		r.want(t)
	})
	t.Run("a_quorum_vote_that_decides_nothing_sends_nothing", func(t *testing.T) {
		r := newRig(t)
		if err := r.wf.Decided(t.Context(), decided(vsecure.StatusPending, "tok-1")); err != nil {
			t.Fatal(err)
		}
		r.want(t)
	})
	t.Run("an_already_closed_task_is_not_an_error", func(t *testing.T) {
		r := newRig(t)
		r.fake.Script("SendTaskSuccess", sfntest.Reply{Status: 400, Type: "TaskTimedOut"})
		if err := r.wf.Decided(t.Context(), decided(vsecure.StatusApproved, "tok-1")); err != nil {
			t.Fatal(err)
		}
		r.want(t, send("approved"))
	})
	t.Run("a_bad_token_is_not_retried", func(t *testing.T) {
		r := newRig(t)
		r.fake.Script("SendTaskSuccess", sfntest.Reply{Status: 400, Type: "InvalidToken"})
		if err := r.wf.Decided(t.Context(), decided(vsecure.StatusApproved, "tok-1")); err == nil {
			t.Fatal("no error for an invalid token")
		}
		r.want(t, send("approved"))
	})
	t.Run("throttled_send_is_retried", func(t *testing.T) {
		r := newRig(t)
		r.fake.Script("SendTaskSuccess", sfntest.Reply{Status: 400, Type: "ThrottlingException"})
		if err := r.wf.Decided(t.Context(), decided(vsecure.StatusApproved, "tok-1")); err != nil {
			t.Fatal(err)
		}
		r.want(t, send("approved"), send("approved"))
	})
}

func TestRevoked(t *testing.T) {
	stop := sfntest.Call{Op: "StopExecution", Body: map[string]any{
		"executionArn": "arn:aws:states:us-east-1:123456789012:execution:vsecure-approvals:appr_a",
		"error":        "Revoked", "cause": "access was revoked",
	}}
	t.Run("stops_the_execution", func(t *testing.T) {
		r := newRig(t)
		if err := r.wf.Revoked(t.Context(), workflowtest.Pending("appr_a", 60)); err != nil {
			t.Fatal(err)
		}
		r.want(t, stop)
	})
	t.Run("a_missing_execution_is_not_an_error", func(t *testing.T) {
		r := newRig(t)
		r.fake.Script("StopExecution", sfntest.Reply{Status: 400, Type: "ExecutionDoesNotExist"})
		if err := r.wf.Revoked(t.Context(), workflowtest.Pending("appr_a", 60)); err != nil {
			t.Fatal(err)
		}
		r.want(t, stop)
	})
}

func TestExecution(t *testing.T) {
	describe := sfntest.Call{Op: "DescribeExecution", Body: map[string]any{
		"executionArn": "arn:aws:states:us-east-1:123456789012:execution:vsecure-approvals:appr_a",
	}}
	for _, c := range []struct {
		status string
		want   workflow.ExecutionState
	}{{"", workflow.ExecutionNone}, {"RUNNING", workflow.ExecutionRunning}, {"SUCCEEDED", workflow.ExecutionEnded}, {"ABORTED", workflow.ExecutionEnded}} {
		t.Run("status_"+c.status, func(t *testing.T) {
			r := newRig(t)
			r.fake.SetStatus("appr_a", c.status)
			got, err := r.wf.Execution(t.Context(), "appr_a")
			if err != nil || got != c.want {
				t.Fatalf("Execution = %v, %v; want %v", got, err, c.want)
			}
			r.want(t, describe)
		})
	}
	t.Run("throttling_is_retried", func(t *testing.T) {
		r := newRig(t)
		r.fake.SetStatus("appr_a", "RUNNING")
		r.fake.Script("DescribeExecution", sfntest.Reply{Status: 400, Type: "ThrottlingException"})
		if got, err := r.wf.Execution(t.Context(), "appr_a"); err != nil || got != workflow.ExecutionRunning {
			t.Fatalf("Execution = %v, %v", got, err)
		}
		r.want(t, describe, describe)
	})
	t.Run("access_denied_is_an_error", func(t *testing.T) {
		r := newRig(t)
		r.fake.Script("DescribeExecution", sfntest.Reply{Status: 400, Type: "AccessDeniedException"})
		if _, err := r.wf.Execution(t.Context(), "appr_a"); err == nil {
			t.Fatal("no error")
		}
		r.want(t, describe)
	})
}

func TestNew(t *testing.T) {
	for _, arn := range []string{"", "vsecure-approvals", "arn:aws:states:us-east-1:1:stateMachine:", "arn:aws:lambda:us-east-1:1:function:x"} {
		if _, err := sfn.New(sfn.Config{Client: sfntest.New(t).Client(), StateMachineARN: arn}); err == nil {
			t.Errorf("New accepted state machine ARN %q", arn)
		}
	}
}

// TestDecisionStandsWhenStepFunctionsIsDown: the table is the truth.
func TestDecisionStandsWhenStepFunctionsIsDown(t *testing.T) {
	fake := sfntest.New(t)
	client := fake.Client()
	fake.Server.Close()
	wf, err := sfn.New(sfn.Config{Client: client, StateMachineARN: machine, Sleep: func(context.Context, time.Duration) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	store := workflowtest.NewStore()
	a := workflowtest.Pending("appr_a", 60)
	a.TaskToken = "tok-1"
	store.Put(a)
	g := workflowtest.Gate(t, store, func() time.Time { return workflowtest.T0().Add(time.Second) })
	g.SetWorkflow(wf)
	v, err := g.Decide(t.Context(), workflowtest.Approver("alice"), a.ID, api.Respond{Action: "approve"})
	if err != nil {
		t.Fatalf("decision failed with Step Functions down: %v", err)
	}
	if v.Status != vsecure.StatusApproved || v.AccessToken == "" {
		t.Fatalf("decision view %+v", v)
	}
	if got, _ := store.GetApproval(t.Context(), a.ID); got.Status != vsecure.StatusApproved {
		t.Fatalf("stored status %s", got.Status)
	}
}
