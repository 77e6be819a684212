package gate_test

import (
	"slices"
	"testing"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// TestSlackPrincipal: a Slack user id names the one principal whose
// active keys carry it, with the roles of all of them; an empty or
// malformed id, an id on no active key, or an id on two principals'
// keys names nobody (unauthenticated); a store failure is passed on.
func TestSlackPrincipal(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	admin := w.as("admin")
	mapKey := func(id, slackID string) {
		t.Helper()
		if _, err := w.g.UpdateKey(ctx, admin, id, api.KeyUpdateRequest{SlackUserID: &slackID}); err != nil {
			t.Fatal(err)
		}
	}
	mapKey(w.keys["alice"].ID, "U0ALICE1")
	second, err := w.g.CreateKey(ctx, admin, api.KeyRequest{Principal: "alice", Roles: []string{"auditor"}, SlackUserID: "U0ALICE1"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := w.g.SlackPrincipal(ctx, "U0ALICE1")
	if err != nil || p.ID != "alice" || !p.Has(vsecure.RoleApprover) || !p.Has(vsecure.RoleAuditor) || len(p.Roles) != 2 ||
		!slices.Contains([]string{w.keys["alice"].ID, second.ID}, p.KeyID) {
		t.Fatalf("alice's Slack user: %+v, %v; want alice with approver and auditor, by one of her keys", p, err)
	}

	mapKey(w.keys["bob"].ID, "U0SHARED")
	mapKey(w.keys["carol"].ID, "U0SHARED")
	mapKey(w.keys["auditor-1"].ID, "U0GONE")
	if _, err := w.g.RevokeKey(ctx, admin, w.keys["auditor-1"].ID); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"", "u0lower", "U0NOBODY", "U0SHARED", "U0GONE"} {
		p, err := w.g.SlackPrincipal(ctx, id)
		want(t, err, vsecure.EUnauthenticated, "Slack user "+id)
		if p.ID != "" {
			t.Fatalf("Slack user %q resolved to %+v", id, p)
		}
	}

	w.st.slackDown.Store(true)
	_, err = w.g.SlackPrincipal(ctx, "U0ALICE1")
	want(t, err, vsecure.EUnavailable, "Slack user with the store down")
}
