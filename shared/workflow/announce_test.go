package workflow_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/vsecure"
	"github.com/vsecure/vsecure/shared/workflow"
)

// calls records the order of workflow and notifier calls.
type calls struct {
	mu  sync.Mutex
	got []string
}

func (c *calls) add(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, s)
}

func (c *calls) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.got, ",")
}

type recordingWorkflow struct {
	gate.NopWorkflow
	c *calls
}

func (w recordingWorkflow) Decided(_ context.Context, a vsecure.Approval) error {
	w.c.add("workflow:" + a.ID)
	return nil
}

func (w recordingWorkflow) Revoked(_ context.Context, a vsecure.Approval) error {
	w.c.add("revoked:" + a.ID)
	return errors.New("execution gone")
}

type recordingNotifier struct{ c *calls }

func (n recordingNotifier) Requested(context.Context, vsecure.Approval) (map[string]string, error) {
	return nil, nil
}

func (n recordingNotifier) Closed(_ context.Context, a vsecure.Approval) error {
	n.c.add("closed:" + a.ID + ":" + string(a.Status))
	return errors.New("slack down")
}

type expirer struct{ err error }

func (e expirer) Expire(_ context.Context, id string) (vsecure.Approval, error) {
	return vsecure.Approval{ID: id, Status: vsecure.StatusExpired}, e.err
}

// TestAnnouncerClosesEveryWay: a decision or revocation reaches the
// workflow first, then the announcement is rewritten; an expiry is
// announced once it happened, not when it lost; a pending decision (one
// vote of a quorum) closes nothing; a failed announcement changes no
// outcome.
func TestAnnouncerClosesEveryWay(t *testing.T) {
	var c calls
	an := &workflow.Announcer{Notifier: recordingNotifier{c: &c}}
	w := an.Workflow(recordingWorkflow{c: &c})
	if err := w.Decided(t.Context(), vsecure.Approval{ID: "a1", Status: vsecure.StatusApproved}); err != nil {
		t.Fatal(err)
	}
	if err := w.Decided(t.Context(), vsecure.Approval{ID: "a2", Status: vsecure.StatusPending}); err != nil {
		t.Fatal(err)
	}
	if err := w.Revoked(t.Context(), vsecure.Approval{ID: "a3", Status: vsecure.StatusRevoked}); err == nil {
		t.Fatal("the workflow's error was lost")
	}
	if _, err := an.Expirer(expirer{}).Expire(t.Context(), "a4"); err != nil {
		t.Fatal(err)
	}
	lost := vsecure.Errorf(vsecure.EAlreadyDecided, "decided")
	if _, err := an.Expirer(expirer{err: lost}).Expire(t.Context(), "a5"); !errors.Is(err, lost) {
		t.Fatalf("err = %v", err)
	}
	want := "workflow:a1,closed:a1:approved,workflow:a2,revoked:a3,closed:a3:revoked,closed:a4:expired"
	if got := c.String(); got != want {
		t.Fatalf("calls\n got %s\nwant %s", got, want)
	}
}

// TestAsyncAnnouncerWaits: off the caller's path, Wait returns once the
// announcement is made, and none starts after it.
func TestAsyncAnnouncerWaits(t *testing.T) {
	var c calls
	an := &workflow.Announcer{Notifier: recordingNotifier{c: &c}, Async: true}
	if _, err := an.Expirer(expirer{}).Expire(t.Context(), "a1"); err != nil {
		t.Fatal(err)
	}
	an.Wait()
	if _, err := an.Expirer(expirer{}).Expire(t.Context(), "a2"); err != nil {
		t.Fatal(err)
	}
	an.Wait()
	if got := c.String(); got != "closed:a1:expired" {
		t.Fatalf("calls %s", got)
	}
}
