package gate_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// broken fails the listed store calls with errDown; the rest pass through
// to the world's store.
type broken struct {
	vsecure.Store
	listKeys, complete, release, slack bool
	// digestDown fails the digest lookups of the times it is true for.
	digestDown func(t time.Time) bool
}

func (b broken) DigestBefore(ctx context.Context, t time.Time) (vsecure.Digest, error) {
	if b.digestDown != nil && b.digestDown(t) {
		return vsecure.Digest{}, errDown
	}
	return b.Store.DigestBefore(ctx, t)
}

func (b broken) KeysBySlackUser(ctx context.Context, id string) ([]vsecure.Key, error) {
	if b.slack {
		return nil, errDown
	}
	return b.Store.KeysBySlackUser(ctx, id)
}

func (b broken) ListKeys(ctx context.Context, cursor string, limit int) ([]vsecure.Key, string, error) {
	if b.listKeys {
		return nil, "", errDown
	}
	return b.Store.ListKeys(ctx, cursor, limit)
}

func (b broken) CompleteIdempotency(ctx context.Context, r vsecure.IdempotencyRecord) error {
	if b.complete {
		return errDown
	}
	return b.Store.CompleteIdempotency(ctx, r)
}

func (b broken) ReleaseIdempotency(ctx context.Context, principal, key, token string) error {
	if b.release {
		return errDown
	}
	return b.Store.ReleaseIdempotency(ctx, principal, key, token)
}

// logged is a gate over the world's store wrapped as b, logging at Info
// and above into the buffer it returns.
func (w *world) logged(b broken) (*gate.Gate, *bytes.Buffer) {
	var logs bytes.Buffer
	b.Store = w.st
	return w.gateWith(func(c *gate.Config) {
		c.Store = b
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}), &logs
}

// TestFailuresAreLoggedAsErrors: a refusal (the caller's fault) is audited
// and not logged; a failure of the store is audited and logged as an
// error, for the operator's alarm.
func TestFailuresAreLoggedAsErrors(t *testing.T) {
	w := newWorld(t)
	g, logs := w.logged(broken{listKeys: true})
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
		b      broken
		finish func(g *gate.Gate, res gate.Reservation)
		msg    string
	}{
		{"complete", broken{complete: true}, func(g *gate.Gate, res gate.Reservation) {
			g.CompleteIdempotent(ctx, res, gate.Response{Status: 200, Body: []byte("{}")})
		}, "idempotency record not stored"},
		{"release", broken{release: true}, func(g *gate.Gate, res gate.Reservation) { g.ReleaseIdempotent(ctx, res) }, "idempotency release failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			agent := w.as("ai-agent-123")
			g, logs := w.logged(broken{})
			res, err := g.BeginIdempotent(ctx, agent, vsecure.AuditRequestApproval, "key-ok", "fp")
			want(t, err, "", "reserve")
			tc.finish(g, res)
			if logs.Len() != 0 {
				t.Fatalf("a stored %s logged %q", tc.name, logs.String())
			}

			g, logs = w.logged(tc.b)
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
