package gate_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// TestApprovalRequestRate: a requester gets the product's burst of
// approval requests (vsecure.ApprovalRequestLimit), then one per interval;
// a refused request is audited as rate_limited and creates no approval.
// Other requesters are unaffected. Only a negative burst (NoApprovalRate)
// turns the limit off: a burst of zero lets nothing through.
func TestApprovalRequestRate(t *testing.T) {
	lim := vsecure.ApprovalRequestLimit
	t.Run("default", func(t *testing.T) {
		w := newWorld(t)
		for i := range lim.Burst {
			if _, err := w.request("ai-agent-123", dbURI, "read", nil); err != nil {
				t.Fatalf("request %d of the burst: %v", i+1, err)
			}
		}
		_, err := w.request("ai-agent-123", dbURI, "read", nil)
		want(t, err, vsecure.ERateLimited, "request past the burst")
		if e := w.refusal(vsecure.AuditRequestApproval, "ai-agent-123"); e.Error != string(vsecure.ERateLimited) {
			t.Fatalf("refusal entry %+v", e)
		}
		if l, _, err := w.g.ListApprovals(t.Context(), w.as("admin"), gate.ApprovalQuery{}); err != nil || len(l) != lim.Burst {
			t.Fatalf("%d approvals (%v), want the burst of %d", len(l), err, lim.Burst)
		}
		_, err = w.request("ai-agent-999", dbURI, "read", nil)
		want(t, err, "", "another requester")
		w.clock.Advance(lim.Every - time.Second)
		_, err = w.request("ai-agent-123", dbURI, "read", nil)
		want(t, err, vsecure.ERateLimited, "a second before the next token")
		w.clock.Advance(time.Second)
		_, err = w.request("ai-agent-123", dbURI, "read", nil)
		want(t, err, "", "one interval later")
		_, err = w.request("ai-agent-123", dbURI, "read", nil)
		want(t, err, vsecure.ERateLimited, "the token after it")
	})
	t.Run("burst_zero", func(t *testing.T) {
		w := newWorld(t)
		g := w.gateWith(func(c *gate.Config) { c.ApprovalRate = vsecure.RateLimit{Every: time.Minute} })
		_, err := g.RequestApproval(t.Context(), w.as("ai-agent-123"), api.ApprovalRequest{Resource: dbURI, Operation: "read"})
		want(t, err, vsecure.ERateLimited, "request under a burst of zero")
	})
	t.Run("off", func(t *testing.T) {
		w := newWorld(t)
		g := w.gateWith(func(c *gate.Config) { c.ApprovalRate = gate.NoApprovalRate })
		for range 2 * lim.Burst {
			_, err := g.RequestApproval(t.Context(), w.as("ai-agent-123"), api.ApprovalRequest{Resource: dbURI, Operation: "read"})
			want(t, err, "", "request without a limit")
		}
	})
}

// workflow records what the gate tells it, failing every call if fail.
type workflow struct {
	fail   bool
	events []string
}

var errWorkflow = errors.New("step functions: throttled")

func (f *workflow) tell(what string, a vsecure.Approval) error {
	f.events = append(f.events, what+" "+string(a.Status))
	if f.fail {
		return errWorkflow
	}
	return nil
}

func (f *workflow) Started(_ context.Context, a vsecure.Approval) error { return f.tell("started", a) }
func (f *workflow) Decided(_ context.Context, a vsecure.Approval) error { return f.tell("decided", a) }
func (f *workflow) Revoked(_ context.Context, a vsecure.Approval) error { return f.tell("revoked", a) }

// TestWorkflowIsTold: the workflow hears of every request, of a decision
// only once it is final (not a first vote of a quorum), of revocations,
// and of a cancel as a decision (pending) or a revocation (approved). Its
// failures are logged as warnings and change nothing: the call succeeds
// and the store holds the outcome. A workflow that answers is not logged.
func TestWorkflowIsTold(t *testing.T) {
	for _, fail := range []bool{false, true} {
		name := "answering"
		if fail {
			name = "failing"
		}
		t.Run(name, func(t *testing.T) {
			w := newWorld(t)
			wf := &workflow{fail: fail}
			var logs bytes.Buffer
			g := w.gateWith(func(c *gate.Config) {
				c.Workflow = wf
				c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
			})
			ctx := t.Context()
			step := func(what string, call func() (api.ApprovalView, error), status vsecure.Status, events []string, warning string) string {
				t.Helper()
				wf.events, logs = nil, bytes.Buffer{}
				v, err := call()
				want(t, err, "", what)
				if v.Status != status || w.stored(v.ID).Status != status {
					t.Fatalf("%s: status %q (stored %q), want %q", what, v.Status, w.stored(v.ID).Status, status)
				}
				if !slices.Equal(wf.events, events) {
					t.Fatalf("%s: workflow told %q, want %q", what, wf.events, events)
				}
				got := logs.String()
				if warning == "" && got != "" || warning != "" && (!strings.Contains(got, "level=WARN") || !strings.Contains(got, warning) ||
					!strings.Contains(got, v.ID) || !strings.Contains(got, errWorkflow.Error())) {
					t.Fatalf("%s: logged %q, want a warning %q", what, got, warning)
				}
				return v.ID
			}
			warn := func(s string) string {
				if fail {
					return s
				}
				return ""
			}
			request := func(resource string) func() (api.ApprovalView, error) {
				return func() (api.ApprovalView, error) {
					return g.RequestApproval(ctx, w.as("ai-agent-123"), api.ApprovalRequest{Resource: resource, Operation: "read"})
				}
			}
			decide := func(who, id, action string) func() (api.ApprovalView, error) {
				return func() (api.ApprovalView, error) {
					return g.Decide(ctx, w.as(who), id, api.Respond{Action: action})
				}
			}
			revoke := func(id string) func() (api.ApprovalView, error) {
				return func() (api.ApprovalView, error) { return g.Revoke(ctx, w.as("alice"), id) }
			}
			cancel := func(id string) func() (api.ApprovalView, error) {
				return func() (api.ApprovalView, error) { return g.Cancel(ctx, w.as("ai-agent-123"), id) }
			}
			started, decision := warn("workflow start failed"), warn("workflow notify of decision failed")
			revocation, cancellation := warn("workflow notify of revocation failed"), warn("workflow notify of cancellation failed")

			id := step("request", request(vaultURI), vsecure.StatusPending, []string{"started pending"}, started)
			step("first vote of two", decide("alice", id, "approve"), vsecure.StatusPending, nil, "")
			step("second vote", decide("bob", id, "approve"), vsecure.StatusApproved, []string{"decided approved"}, decision)
			step("revoke", revoke(id), vsecure.StatusRevoked, []string{"revoked revoked"}, revocation)

			id = step("request", request(dbURI), vsecure.StatusPending, []string{"started pending"}, started)
			step("deny", decide("alice", id, "deny"), vsecure.StatusDenied, []string{"decided denied"}, decision)

			id = step("request", request(dbURI), vsecure.StatusPending, []string{"started pending"}, started)
			step("cancel pending", cancel(id), vsecure.StatusCancelled, []string{"decided cancelled"}, cancellation)

			id = step("request", request(dbURI), vsecure.StatusPending, []string{"started pending"}, started)
			step("approve", decide("alice", id, "approve"), vsecure.StatusApproved, []string{"decided approved"}, decision)
			step("cancel approved", cancel(id), vsecure.StatusRevoked, []string{"revoked revoked"}, cancellation)
		})
	}
}
