// Package task holds the Step Functions task handlers of the approval
// workflow as plain Go functions; the workflow-notify, workflow-expire and
// workflow-revoke Lambda mains only build a Handlers and pass one method to
// lambda.Start.
//
// Notify runs with .waitForTaskToken: it stores the task token on the
// approval with a conditional write and announces the request. A decision
// can reach the table before the token does; then the write loses (or
// finds the approval decided) and Notify sends the decision itself, so
// exactly one of the API and Notify completes the task. Expire and Revoke
// tidy state through gate.Expire, conditional and audited, and treat a
// lost race as the normal end.
package task

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/vsecure/vsecure/shared/vsecure"
	"github.com/vsecure/vsecure/shared/workflow"
)

// NotifyEvent is the Notify task's payload.
type NotifyEvent struct {
	ApprovalID string `json:"approvalId"`
	TaskToken  string `json:"taskToken"`
}

// Event is the Expire and Revoke tasks' payload.
type Event struct {
	ApprovalID string `json:"approvalId"`
}

// Result is what a task returns (kept in the execution history, so it
// holds no token).
type Result struct {
	ApprovalID string `json:"approvalId"`
	Status     string `json:"status"`
	// Outcome says what the task did: notified, sent_decision, waiting,
	// expired, already_closed, not_found.
	Outcome string `json:"outcome"`
}

// RetryLater asks the state machine to run the task again after a
// backoff: the store was unavailable, or the approval is not due yet by
// this clock. The Lambda runtime reports its type name, "RetryLater",
// which the state machine's Retry matches.
type RetryLater struct{ Err error }

func (e *RetryLater) Error() string { return "retry later: " + e.Err.Error() }
func (e *RetryLater) Unwrap() error { return e.Err }

// DecisionSender completes a Notify task (sfn.Workflow.SendDecision).
type DecisionSender interface {
	SendDecision(ctx context.Context, token string, a vsecure.Approval) error
}

// Expirer tidies a due approval (gate.Gate.Expire, wrapped by
// workflow.Announcer where expiries are announced).
type Expirer interface {
	Expire(ctx context.Context, id string) (vsecure.Approval, error)
}

// Handlers holds the task functions' dependencies, built once per
// container.
type Handlers struct {
	Store    workflow.ApprovalStore
	Expirer  Expirer
	Sender   DecisionSender
	Notifier workflow.Notifier
	Log      *slog.Logger
	Now      func() time.Time
}

func (h *Handlers) now() time.Time {
	if h.Now == nil {
		return time.Now()
	}
	return h.Now()
}

func (h *Handlers) log() *slog.Logger {
	if h.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Log
}

// Notify stores the task token and announces a pending request. When the
// approval was decided first, it sends that decision with the token.
func (h *Handlers) Notify(ctx context.Context, ev NotifyEvent) (Result, error) {
	if ev.ApprovalID == "" || ev.TaskToken == "" {
		return Result{}, errors.New("notify: approvalId and taskToken are required")
	}
	a, written, err := workflow.Annotate(ctx, h.Store, ev.ApprovalID, func(a *vsecure.Approval) bool {
		if a.Status != vsecure.StatusPending || a.TaskToken == ev.TaskToken {
			return false
		}
		a.TaskToken = ev.TaskToken
		return true
	})
	switch {
	case vsecure.IsCode(err, vsecure.ENotFound):
		// Nothing to wait for; end the wait as closed rather than hang
		// until the timeout.
		a = vsecure.Approval{ID: ev.ApprovalID}
		if err := h.Sender.SendDecision(ctx, ev.TaskToken, a); err != nil {
			return Result{}, &RetryLater{err}
		}
		return Result{ApprovalID: ev.ApprovalID, Outcome: "not_found"}, nil
	case err != nil:
		return Result{}, &RetryLater{fmt.Errorf("storing the task token of %s: %w", ev.ApprovalID, err)}
	}
	res := Result{ApprovalID: a.ID, Status: string(a.Status)}
	if !written && a.Status != vsecure.StatusPending {
		// The decision (or a revocation) reached the table before the
		// token: the API had no token to send it with.
		if err := h.Sender.SendDecision(ctx, ev.TaskToken, a); err != nil {
			return res, &RetryLater{err}
		}
		h.log().InfoContext(ctx, "decision reached the table before the task token; sent it from Notify", "approvalId", a.ID, "status", string(a.Status))
		res.Outcome = "sent_decision"
		return res, nil
	}
	if a.StatusAt(h.now()) != vsecure.StatusPending {
		// Past expiresAt: the task's timeout will run Expire.
		res.Outcome = "waiting"
		return res, nil
	}
	notice, err := h.Notifier.Requested(ctx, a)
	if err != nil {
		// The approval stays decidable through the API; a retry would
		// only risk announcing it twice.
		h.log().WarnContext(ctx, "notifying approvers failed", "approvalId", a.ID, "err", err)
		res.Outcome = "waiting"
		return res, nil
	}
	workflow.StoreNotice(ctx, h.Store, h.log(), a.ID, notice)
	res.Outcome = "notified"
	return res, nil
}

// Expire ends a request nobody decided before its ttl (pending → expired).
func (h *Handlers) Expire(ctx context.Context, ev Event) (Result, error) {
	return h.tidy(ctx, ev, "expire")
}

// Revoke ends granted access at expiresAt (approved → expired).
func (h *Handlers) Revoke(ctx context.Context, ev Event) (Result, error) {
	return h.tidy(ctx, ev, "revoke")
}

func (h *Handlers) tidy(ctx context.Context, ev Event, task string) (Result, error) {
	if ev.ApprovalID == "" {
		return Result{}, fmt.Errorf("%s: approvalId is required", task)
	}
	a, err := h.Expirer.Expire(ctx, ev.ApprovalID)
	res := Result{ApprovalID: ev.ApprovalID, Status: string(a.Status)}
	switch {
	case err == nil:
		h.log().InfoContext(ctx, "approval expired", "task", task, "approvalId", a.ID)
		res.Outcome = "expired"
		return res, nil
	case vsecure.IsCode(err, vsecure.EAlreadyDecided):
		res.Outcome = "already_closed"
		return res, nil
	case vsecure.IsCode(err, vsecure.ENotFound):
		h.log().WarnContext(ctx, "approval not found", "task", task, "approvalId", ev.ApprovalID)
		res.Outcome = "not_found"
		return res, nil
	default:
		// Store unavailable, or not due yet by this clock (EInvalid).
		return res, &RetryLater{err}
	}
}
