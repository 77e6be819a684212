package task

import (
	"context"
	"time"

	"github.com/vsecure/vsecure/shared/vsecure"
	"github.com/vsecure/vsecure/shared/workflow"
)

// Executions is what the reconciler asks of the workflow
// (sfn.Workflow): an execution's state, and an idempotent start.
type Executions interface {
	Execution(ctx context.Context, id string) (workflow.ExecutionState, error)
	Started(ctx context.Context, a vsecure.Approval) error
}

// LiveApprovals lists every pending or approved approval
// (vsecure.Store.ListLiveApprovals: a Query on the sparse live index).
type LiveApprovals interface {
	ListLiveApprovals(ctx context.Context) ([]vsecure.Approval, error)
}

// DefaultGrace is how long after a request the reconciler leaves it to
// the API's own start, whose retries may still be in flight.
const DefaultGrace = time.Minute

// Reconciler repairs approvals whose execution is missing: the API's
// StartExecution failed after its retries. Without an execution nobody
// tidies the approval at expiresAt (reads still enforce it). A due
// approval is expired through the Expire/Revoke task path (gate.Expire:
// conditional, audited, announced); one not due yet gets its execution
// started, named after the approval, so a concurrent start is harmless.
type Reconciler struct {
	Live       LiveApprovals
	Executions Executions
	// Tasks expires due approvals.
	Tasks *Handlers
	// Grace defaults to DefaultGrace.
	Grace time.Duration
}

// Counts is what one reconcile run did. Started and Expired are repairs:
// each one means the workflow had lost an approval.
type Counts struct {
	Checked int `json:"checked"`
	Started int `json:"started"`
	Expired int `json:"expired"`
	Errors  int `json:"errors"`
}

// Reconciled is the number of repairs (the Reconciled metric).
func (c Counts) Reconciled() int { return c.Started + c.Expired }

// Run checks every live approval once. A failure on one approval is
// counted and logged and the run goes on; only a failed listing is
// returned as an error.
func (r *Reconciler) Run(ctx context.Context) (Counts, error) {
	var c Counts
	live, err := r.Live.ListLiveApprovals(ctx)
	if err != nil {
		return c, err
	}
	grace := r.Grace
	if grace <= 0 {
		grace = DefaultGrace
	}
	log := r.Tasks.log()
	for _, a := range live {
		c.Checked++
		now := r.Tasks.now()
		if now.Sub(a.RequestedAt) < grace {
			continue
		}
		state, err := r.Executions.Execution(ctx, a.ID)
		if err != nil {
			c.Errors++
			continue
		}
		if state == workflow.ExecutionRunning {
			continue
		}
		if !now.Before(a.ExpiresAt) {
			tidy := r.Tasks.Expire
			if a.Status == vsecure.StatusApproved {
				tidy = r.Tasks.Revoke
			}
			res, err := tidy(ctx, Event{ApprovalID: a.ID})
			switch {
			case err != nil:
				c.Errors++
				log.ErrorContext(ctx, "reconcile: expiring an approval without an execution failed", "approvalId", a.ID, "err", err)
			case res.Outcome == "expired":
				c.Expired++
				log.WarnContext(ctx, "reconcile: expired an approval that had no execution", "approvalId", a.ID, "from", string(a.Status))
			}
			continue
		}
		if state == workflow.ExecutionEnded {
			// Its name is spent; the approval expires at read time and a
			// run after expiresAt tidies it.
			log.WarnContext(ctx, "reconcile: the execution ended before the approval was due", "approvalId", a.ID, "expiresAt", a.ExpiresAt)
			continue
		}
		if err := r.Executions.Started(ctx, a); err != nil {
			c.Errors++
			log.ErrorContext(ctx, "reconcile: starting a missing execution failed", "approvalId", a.ID, "err", err)
			continue
		}
		c.Started++
		log.WarnContext(ctx, "reconcile: started a missing execution", "approvalId", a.ID, "status", string(a.Status))
	}
	return c, nil
}
