package gate_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// logged is a gate over the world's store (and its faults), logging at
// Info and above into the buffer it returns.
func (w *world) logged() (*gate.Gate, *bytes.Buffer) {
	var logs bytes.Buffer
	return w.gateWith(func(c *gate.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}), &logs
}

// TestFailuresAreLoggedAsErrors: a refusal (the caller's fault) is audited
// and not logged; a failure of the store is audited and logged as an
// error, for the operator's alarm.
func TestFailuresAreLoggedAsErrors(t *testing.T) {
	w := newWorld(t)
	w.st.listKeysDown.Store(true)
	g, logs := w.logged()
	ctx := t.Context()

	_, _, err := g.ListKeys(ctx, w.as("ai-agent-123"), "", 0)
	want(t, err, vsecure.EForbidden, "an agent lists keys")
	if logs.Len() != 0 {
		t.Fatalf("a refusal logged %q", logs.String())
	}
	w.refusal(vsecure.AuditKeyList, "ai-agent-123")

	_, _, err = g.ListKeys(ctx, w.as("admin"), "", 0)
	want(t, err, vsecure.EUnavailable, "listing keys with the store down")
	if got := logs.String(); !strings.Contains(got, "level=ERROR") || !strings.Contains(got, `msg="operation failed"`) || !strings.Contains(got, "op="+vsecure.AuditKeyList) {
		t.Fatalf("logged %q, want an error naming the operation", got)
	}
	w.refusal(vsecure.AuditKeyList, "admin")
}

// TestIdempotencyWriteFailuresAreLogged: the response has been sent when a
// reservation is completed or released, so a failure there is logged (and
// a success is not).
func TestIdempotencyWriteFailuresAreLogged(t *testing.T) {
	ctx := t.Context()
	for _, tc := range []struct {
		name   string
		down   func(f *faults) *atomic.Bool
		finish func(g *gate.Gate, res gate.Reservation)
		msg    string
	}{
		{"complete", func(f *faults) *atomic.Bool { return &f.completeDown }, func(g *gate.Gate, res gate.Reservation) {
			g.CompleteIdempotent(ctx, res, gate.Response{Status: 200, Body: []byte("{}")})
		}, "idempotency record not stored"},
		{"release", func(f *faults) *atomic.Bool { return &f.releaseDown }, func(g *gate.Gate, res gate.Reservation) { g.ReleaseIdempotent(ctx, res) }, "idempotency release failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			agent := w.as("ai-agent-123")
			g, logs := w.logged()
			res, err := g.BeginIdempotent(ctx, agent, vsecure.AuditRequestApproval, "key-ok", "fp")
			want(t, err, "", "reserve")
			tc.finish(g, res)
			if logs.Len() != 0 {
				t.Fatalf("a stored %s logged %q", tc.name, logs.String())
			}

			tc.down(w.st).Store(true)
			res, err = g.BeginIdempotent(ctx, agent, vsecure.AuditRequestApproval, "key-down", "fp")
			want(t, err, "", "reserve")
			tc.finish(g, res)
			if got := logs.String(); !strings.Contains(got, "level=WARN") || !strings.Contains(got, tc.msg) {
				t.Fatalf("logged %q, want a warning %q", got, tc.msg)
			}
		})
	}
}

// TestReplayNamesTheOriginalRequest: the audit entry of a replay names the
// request it replays, when that request had an id, and no id otherwise.
func TestReplayNamesTheOriginalRequest(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	replay := func(key, firstID string) vsecure.Entry {
		t.Helper()
		first := w.as("ai-agent-123")
		first.RequestID = firstID
		res, err := w.g.BeginIdempotent(ctx, first, vsecure.AuditRequestApproval, key, "fp")
		want(t, err, "", "reserve")
		w.g.CompleteIdempotent(ctx, res, gate.Response{Status: 201, Body: []byte("{}")})
		retry := w.as("ai-agent-123")
		retry.RequestID = "req-retry-" + key
		again, err := w.g.BeginIdempotent(ctx, retry, vsecure.AuditRequestApproval, key, "fp")
		if err != nil || again.Replay == nil {
			t.Fatalf("retry of %s: %+v, %v", key, again, err)
		}
		for _, e := range w.entries(vsecure.AuditReplay) {
			if e.Metadata["requestId"] == retry.RequestID {
				return e
			}
		}
		t.Fatalf("no replay entry with requestId %s", retry.RequestID)
		return vsecure.Entry{}
	}
	if e := replay("key-1", "req-first"); e.Metadata["originalRequestId"] != "req-first" || e.Metadata["replayOf"] != vsecure.AuditRequestApproval {
		t.Fatalf("replay entry %v, want originalRequestId req-first", e.Metadata)
	}
	if e := replay("key-2", ""); func() bool { _, ok := e.Metadata["originalRequestId"]; return ok }() {
		t.Fatalf("replay of a request without an id: %v, want no originalRequestId", e.Metadata)
	}
}
