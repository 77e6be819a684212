// Package workflow holds what both approval workflow adapters share: the
// Notifier that tells approvers about a request, and the small store
// helpers the workflow uses to annotate an approval without racing a
// decision.
//
// The workflow is never the truth. The store decides every transition with
// a conditional write, and expiry is enforced at read time from expiresAt;
// the workflow only notifies, stores callback references and tidies state
// once it is due. Its adapters live in sfn (Step Functions, production) and
// local (in-process timers, `vsecure dev`); the Step Functions task handlers
// live in task.
package workflow

import (
	"context"
	"log/slog"
	"maps"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// Notifier tells humans about approvals. Slack implements it; LogNotifier
// is the default.
type Notifier interface {
	// Requested announces a pending request to its approvers. The notice
	// it returns (for example a Slack channel and message timestamp) is
	// stored on the approval so Closed can update the same message.
	Requested(ctx context.Context, a vsecure.Approval) (notice map[string]string, err error)
	// Closed reports that a request stopped being pending or granted:
	// decided, expired or revoked. a.Status says which.
	Closed(ctx context.Context, a vsecure.Approval) error
}

// LogNotifier writes notifications to a structured log. It logs ids,
// resource, operation, people and times: never the task token, the access
// token hash or the requester's free-text reason.
type LogNotifier struct {
	Log *slog.Logger
	// URL returns the approval's link for humans (gate.ApprovalURL).
	URL func(id string) string
}

// Requested logs the request.
func (n LogNotifier) Requested(ctx context.Context, a vsecure.Approval) (map[string]string, error) {
	n.Log.InfoContext(ctx, "approval requested", n.attrs(a)...)
	return nil, nil
}

// Closed logs the outcome.
func (n LogNotifier) Closed(ctx context.Context, a vsecure.Approval) error {
	n.Log.InfoContext(ctx, "approval closed", n.attrs(a)...)
	return nil
}

func (n LogNotifier) attrs(a vsecure.Approval) []any {
	attrs := []any{
		"approvalId", a.ID, "status", string(a.Status), "resource", a.Resource,
		"operation", string(a.Operation), "requestedBy", a.RequestedBy,
		"approvers", a.Approvers, "expiresAt", a.ExpiresAt,
	}
	if n.URL != nil {
		attrs = append(attrs, "url", n.URL(a.ID))
	}
	return attrs
}

// ExecutionState is what a workflow knows of an approval's execution.
type ExecutionState int

const (
	// ExecutionNone: it never started (or it is not known).
	ExecutionNone ExecutionState = iota
	// ExecutionRunning: it is running and will tidy the approval itself.
	ExecutionRunning
	// ExecutionEnded: it ran and stopped; its name cannot be reused.
	ExecutionEnded
)

// ApprovalStore is the part of vsecure.Store the workflow writes through.
type ApprovalStore interface {
	GetApproval(ctx context.Context, id string) (vsecure.Approval, error)
	UpdateApproval(ctx context.Context, a vsecure.Approval, e vsecure.Entry) error
}

// maxRaces bounds re-reads after lost conditional writes. Each loss means
// somebody else wrote the approval, and there are at most a handful of
// writers per approval (decisions, expiry, this annotation).
const maxRaces = 16

// Annotate applies change to the stored approval with a conditional write,
// re-reading after every lost race. change edits a copy and returns false
// to leave the approval as it is (for example once it was decided);
// Annotate then returns the approval as read and written=false. Workflow
// bookkeeping writes no audit entry: it changes no state a caller sees.
func Annotate(ctx context.Context, s ApprovalStore, id string, change func(a *vsecure.Approval) bool) (a vsecure.Approval, written bool, err error) {
	for range maxRaces {
		a, err = s.GetApproval(ctx, id)
		if err != nil {
			return a, false, err
		}
		next := a
		next.Notice = maps.Clone(a.Notice)
		if !change(&next) {
			return a, false, nil
		}
		next.Version = a.Version + 1
		err = s.UpdateApproval(ctx, next, vsecure.Entry{})
		if vsecure.IsCode(err, vsecure.EConflict) {
			continue
		}
		if err != nil {
			return a, false, err
		}
		return next, true, nil
	}
	return a, false, vsecure.Errorf(vsecure.EConflict, "approval %s kept changing", id)
}

// StoreNotice records the notice a Notifier returned, unless it is empty.
// A failure is logged only: the notice is a convenience for updating the
// message later, never part of the decision.
func StoreNotice(ctx context.Context, s ApprovalStore, log *slog.Logger, id string, notice map[string]string) {
	if len(notice) == 0 {
		return
	}
	_, _, err := Annotate(ctx, s, id, func(a *vsecure.Approval) bool {
		if a.Notice == nil {
			a.Notice = map[string]string{}
		}
		maps.Copy(a.Notice, notice)
		return true
	})
	if err != nil {
		log.WarnContext(ctx, "storing the approval notice failed", "approvalId", id, "err", err)
	}
}
