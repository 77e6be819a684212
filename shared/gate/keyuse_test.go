package gate_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// TestKeyLastUsed: authenticating a key records its last use at most once
// per vsecure.KeyUseInterval (a use within the interval, or at its end,
// writes nothing); a failed record is logged and the caller still gets in.
func TestKeyLastUsed(t *testing.T) {
	w := newWorld(t)
	var logs bytes.Buffer
	g := w.gateWith(func(c *gate.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	ctx := t.Context()
	id := w.keys["carol"].ID
	step := func(after time.Duration, writes int32, lastUsed time.Time) {
		t.Helper()
		w.clock.Advance(after)
		w.st.marks.Store(0)
		if _, err := g.Authenticate(ctx, w.cred("carol"), gate.Call{}); err != nil {
			t.Fatalf("authenticate at %s: %v", w.clock.Now(), err)
		}
		k, err := w.st.Store.GetKey(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if n := w.st.marks.Load(); n != writes || k.LastUsedAt == nil || !k.LastUsedAt.Equal(lastUsed) {
			t.Fatalf("at %s: %d key-use writes, lastUsedAt %v; want %d, %s", w.clock.Now(), n, k.LastUsedAt, writes, lastUsed)
		}
	}
	first := w.clock.Now()
	step(0, 1, first)                                                   // never used
	step(vsecure.KeyUseInterval/2, 0, first)                            // within the interval
	step(vsecure.KeyUseInterval/2, 0, first)                            // at its end
	step(time.Second, 1, first.Add(vsecure.KeyUseInterval+time.Second)) // past it
	if logs.Len() != 0 {
		t.Fatalf("logged %q while the writes succeeded", logs.String())
	}
	w.st.marksDown.Store(true)
	w.clock.Advance(2 * vsecure.KeyUseInterval)
	if _, err := g.Authenticate(ctx, w.cred("carol"), gate.Call{}); err != nil {
		t.Fatalf("authenticate while key use cannot be recorded: %v", err)
	}
	if got := logs.String(); !strings.Contains(got, "level=WARN") || !strings.Contains(got, "recording key use failed") || !strings.Contains(got, id) {
		t.Fatalf("logged %q, want a warning naming the key", got)
	}
}

// TestLivePrincipal: LivePrincipal gives a key caller the roles its key
// holds now, and keeps an access token's scope (and no roles) as it is.
func TestLivePrincipal(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	carol := w.as("carol").Principal
	if _, err := w.g.UpdateKey(ctx, w.as("admin"), w.keys["carol"].ID, api.KeyUpdateRequest{Roles: []string{"auditor"}}); err != nil {
		t.Fatal(err)
	}
	live, err := w.g.LivePrincipal(ctx, carol)
	if err != nil || live.ID != "carol" || !live.Has(vsecure.RoleAuditor) || live.Has(vsecure.RoleApprover) || live.Scope != nil {
		t.Fatalf("live principal of a key whose roles changed: %+v, %v", live, err)
	}

	_, token := w.approved()
	tok := w.login(token).Principal
	live, err = w.g.LivePrincipal(ctx, tok)
	if err != nil || live.Scope == nil || *live.Scope != *tok.Scope || len(live.Roles) != 0 || live.Has(vsecure.RoleAgent) {
		t.Fatalf("live principal of an access token: %+v, %v; want its scope %+v and no roles", live, err, tok.Scope)
	}
}
