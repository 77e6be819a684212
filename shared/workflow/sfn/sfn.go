// Package sfn is the production approval workflow: one AWS Step Functions
// (Standard) execution per approval, named after the approval id.
//
// The API side calls it after the store write that decided the matter, so
// the table is the truth and this adapter only keeps the execution in step:
// Started starts the execution (a retried start finds the execution already
// there and succeeds), Decided hands the decision to the waiting Notify task
// through its task token, Revoked stops the execution. Calls are retried
// with backoff and every failure is logged; the gate logs a final failure
// and the decision still stands, because expiry is enforced at read time and
// the Notify task picks up a decision that reached the table first.
package sfn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awssfn "github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/vsecure/vsecure/shared/vsecure"
	"github.com/vsecure/vsecure/shared/workflow"
)

// API is the part of the Step Functions client the adapter uses
// (*sfn.Client satisfies it).
type API interface {
	StartExecution(ctx context.Context, in *awssfn.StartExecutionInput, opts ...func(*awssfn.Options)) (*awssfn.StartExecutionOutput, error)
	SendTaskSuccess(ctx context.Context, in *awssfn.SendTaskSuccessInput, opts ...func(*awssfn.Options)) (*awssfn.SendTaskSuccessOutput, error)
	StopExecution(ctx context.Context, in *awssfn.StopExecutionInput, opts ...func(*awssfn.Options)) (*awssfn.StopExecutionOutput, error)
	DescribeExecution(ctx context.Context, in *awssfn.DescribeExecutionInput, opts ...func(*awssfn.Options)) (*awssfn.DescribeExecutionOutput, error)
}

// NoSDKRetries is a client option for the adapter's client: the adapter
// retries itself, with logging, so the SDK's own retries would only
// multiply the attempts.
func NoSDKRetries(o *awssfn.Options) { o.RetryMaxAttempts = 1 }

// Config holds the adapter's dependencies.
type Config struct {
	Client API
	// StateMachineARN is the approval state machine
	// (arn:aws:states:REGION:ACCOUNT:stateMachine:NAME).
	StateMachineARN string
	Log             *slog.Logger
	// Attempts per call (default 4) and the first backoff (default 100 ms,
	// doubling, with full jitter).
	Attempts int
	Backoff  time.Duration
	// Now and Sleep are injectable for tests.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// Jitter maps a backoff ceiling to the wait (default: uniform in
	// [d/2, d]).
	Jitter func(d time.Duration) time.Duration
}

// Workflow implements gate.Workflow on Step Functions.
type Workflow struct {
	cfg          Config
	executionARN string // prefix: ...:execution:NAME:
}

// New validates cfg.
func New(cfg Config) (*Workflow, error) {
	if cfg.Client == nil {
		return nil, errors.New("sfn workflow: client is required")
	}
	const marker = ":stateMachine:"
	i := strings.Index(cfg.StateMachineARN, marker)
	if !strings.HasPrefix(cfg.StateMachineARN, "arn:") || i < 0 || strings.HasSuffix(cfg.StateMachineARN, marker) {
		return nil, fmt.Errorf("sfn workflow: %q is not a state machine ARN", cfg.StateMachineARN)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 4
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 100 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	if cfg.Jitter == nil {
		cfg.Jitter = func(d time.Duration) time.Duration { return d/2 + rand.N(d/2+1) }
	}
	arn := cfg.StateMachineARN[:i] + ":execution:" + cfg.StateMachineARN[i+len(marker):] + ":"
	return &Workflow{cfg: cfg, executionARN: arn}, nil
}

// Input is an execution's input: what the state machine's paths read.
type Input struct {
	ApprovalID string `json:"approvalId"`
	// TTL is the whole seconds left until ExpiresAt when the execution
	// starts (at least 1): the Notify task's TimeoutSecondsPath.
	TTL int `json:"ttl"`
	// ExpiresAt is the Wait state's TimestampPath (RFC 3339).
	ExpiresAt string `json:"expiresAt"`
	// AutoApproved requests skip Notify and wait for expiresAt at once.
	AutoApproved bool `json:"autoApproved"`
}

// Decision values the Notify task's output carries; the Choice state
// routes on them. Anything else (an approval found revoked or expired)
// ends the execution.
const (
	DecisionApproved = "approved"
	DecisionDenied   = "denied"
	DecisionClosed   = "closed"
)

// Output is what SendTaskSuccess hands the Notify task.
type Output struct {
	Decision string `json:"decision"`
}

// ExecutionInput builds the input of a's execution at now.
func ExecutionInput(a vsecure.Approval, now time.Time) Input {
	ttl := int(math.Ceil(a.ExpiresAt.Sub(now).Seconds()))
	return Input{
		ApprovalID: a.ID, TTL: max(ttl, 1), ExpiresAt: a.ExpiresAt.UTC().Format(time.RFC3339),
		AutoApproved: a.Status == vsecure.StatusApproved,
	}
}

// ExecutionARN is the ARN of approval id's execution.
func (w *Workflow) ExecutionARN(id string) string { return w.executionARN + id }

// Started starts the approval's execution. The execution is named after the
// approval id, so a retried start cannot run two: ExecutionAlreadyExists
// means an earlier attempt got through.
func (w *Workflow) Started(ctx context.Context, a vsecure.Approval) error {
	in, err := json.Marshal(ExecutionInput(a, w.cfg.Now()))
	if err != nil {
		return err
	}
	return w.retry(ctx, "StartExecution", a.ID, func(ctx context.Context) error {
		_, err := w.cfg.Client.StartExecution(ctx, &awssfn.StartExecutionInput{
			StateMachineArn: aws.String(w.cfg.StateMachineARN), Name: aws.String(a.ID), Input: aws.String(string(in)),
		})
		var exists *types.ExecutionAlreadyExists
		if errors.As(err, &exists) {
			return nil
		}
		return err
	})
}

// Decided hands a final decision to the waiting Notify task. Without a
// stored task token Notify has not stored it yet; it will find the
// decision in the table and send it itself.
func (w *Workflow) Decided(ctx context.Context, a vsecure.Approval) error {
	if a.Status == vsecure.StatusPending {
		return nil
	}
	if a.TaskToken == "" {
		w.cfg.Log.InfoContext(ctx, "no task token yet; the Notify task will pick up the decision", "approvalId", a.ID)
		return nil
	}
	return w.SendDecision(ctx, a.TaskToken, a)
}

// SendDecision completes the Notify task holding token with a's outcome.
// A task that is already closed (the decision was delivered by the other
// path, or the wait timed out) is not an error.
func (w *Workflow) SendDecision(ctx context.Context, token string, a vsecure.Approval) error {
	out, err := json.Marshal(Output{Decision: DecisionOf(a)})
	if err != nil {
		return err
	}
	return w.retry(ctx, "SendTaskSuccess", a.ID, func(ctx context.Context) error {
		_, err := w.cfg.Client.SendTaskSuccess(ctx, &awssfn.SendTaskSuccessInput{TaskToken: aws.String(token), Output: aws.String(string(out))})
		var gone *types.TaskDoesNotExist
		var timedOut *types.TaskTimedOut
		if errors.As(err, &gone) || errors.As(err, &timedOut) {
			w.cfg.Log.InfoContext(ctx, "the Notify task is already closed", "approvalId", a.ID, "err", err)
			return nil
		}
		return err
	})
}

// DecisionOf maps an approval's stored status to the Choice state's input.
func DecisionOf(a vsecure.Approval) string {
	switch a.Status {
	case vsecure.StatusApproved:
		return DecisionApproved
	case vsecure.StatusDenied:
		return DecisionDenied
	}
	return DecisionClosed
}

// Revoked stops the execution: access already ended in the table, so
// nothing is left for it to wait for.
func (w *Workflow) Revoked(ctx context.Context, a vsecure.Approval) error {
	return w.retry(ctx, "StopExecution", a.ID, func(ctx context.Context) error {
		_, err := w.cfg.Client.StopExecution(ctx, &awssfn.StopExecutionInput{
			ExecutionArn: aws.String(w.ExecutionARN(a.ID)), Error: aws.String("Revoked"), Cause: aws.String("access was revoked"),
		})
		var gone *types.ExecutionDoesNotExist
		if errors.As(err, &gone) {
			return nil
		}
		return err
	})
}

// Execution reports the state of approval id's execution. Names are never
// reused, so an ended execution cannot be started again.
func (w *Workflow) Execution(ctx context.Context, id string) (workflow.ExecutionState, error) {
	state := workflow.ExecutionNone
	err := w.retry(ctx, "DescribeExecution", id, func(ctx context.Context) error {
		out, err := w.cfg.Client.DescribeExecution(ctx, &awssfn.DescribeExecutionInput{ExecutionArn: aws.String(w.ExecutionARN(id))})
		var gone *types.ExecutionDoesNotExist
		switch {
		case errors.As(err, &gone):
			state = workflow.ExecutionNone
		case err != nil:
			return err
		case out.Status == types.ExecutionStatusRunning:
			state = workflow.ExecutionRunning
		default:
			state = workflow.ExecutionEnded
		}
		return nil
	})
	return state, err
}

// retryable is the SDK's own classification: throttling, 5xx, timeouts
// and connection errors.
func retryable(err error) bool {
	return retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary
}

func (w *Workflow) retry(ctx context.Context, op, id string, call func(context.Context) error) error {
	backoff := w.cfg.Backoff
	for attempt := 1; ; attempt++ {
		err := call(ctx)
		if err == nil {
			return nil
		}
		if attempt >= w.cfg.Attempts || !retryable(err) || ctx.Err() != nil {
			w.cfg.Log.ErrorContext(ctx, "step functions call failed", "op", op, "approvalId", id, "attempt", attempt, "err", err)
			return fmt.Errorf("%s %s: %w", op, id, err)
		}
		wait := w.cfg.Jitter(backoff)
		w.cfg.Log.WarnContext(ctx, "step functions call failed; retrying", "op", op, "approvalId", id, "attempt", attempt, "retryIn", wait, "err", err)
		if err := w.cfg.Sleep(ctx, wait); err != nil {
			return fmt.Errorf("%s %s: %w", op, id, err)
		}
		backoff *= 2
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
