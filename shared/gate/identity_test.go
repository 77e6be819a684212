package gate_test

import (
	"slices"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// TestWhoamiRoles: whoami shows the roles the caller holds, and [] (never
// null) for a caller with none: a person whose groups map to no role, or
// an access token.
func TestWhoamiRoles(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	id, err := w.g.Whoami(ctx, w.as("dual"))
	if err != nil || !slices.Equal(id.Roles, []vsecure.Role{vsecure.RoleAgent, vsecure.RoleApprover}) {
		t.Fatalf("whoami of dual: %+v, %v; want roles agent, approver", id, err)
	}
	nobody := w.human("carol")
	nobody.Principal.Roles = nil
	id, err = w.g.Whoami(ctx, nobody)
	if err != nil || id.Roles == nil || len(id.Roles) != 0 || id.Credential != api.CredentialOIDC {
		t.Fatalf("whoami of a person without roles: %+v, %v; want roles [] (not null)", id, err)
	}
	_, token := w.approved()
	id, err = w.g.Whoami(ctx, w.login(token))
	if err != nil || id.Roles == nil || len(id.Roles) != 0 || id.Scope == nil {
		t.Fatalf("whoami of an access token: %+v, %v; want roles [] and a scope", id, err)
	}
}

// TestIDsCarryTheirTime: an id's first 48 bits (of its first 10 base32
// characters, 50 bits) are its creation time in milliseconds, big-endian,
// so ids sort by the time they were made.
func TestIDsCarryTheirTime(t *testing.T) {
	w := newWorld(t)
	ms := func(id string) int64 {
		t.Helper()
		var n int64
		for _, c := range id[len("appr_") : len("appr_")+10] {
			n = n<<5 | int64(slices.Index([]rune("0123456789abcdefghjkmnpqrstvwxyz"), c))
		}
		return n >> 2 // the last 2 bits are random
	}
	first := w.pending(dbURI)
	if got := ms(first); got != w.clock.Now().UnixMilli() {
		t.Fatalf("id %s holds %d ms, want the clock's %d", first, got, w.clock.Now().UnixMilli())
	}
	w.clock.Advance(time.Millisecond)
	second := w.pending(otherURI)
	if ms(second) != w.clock.Now().UnixMilli() || second <= first {
		t.Fatalf("id %s made 1 ms after %s does not sort after it", second, first)
	}
}

// TestKeyUpdateRecordsThePreviousSlackUser: the audit entry of a Slack
// user change names the previous one, and only when there was one.
func TestKeyUpdateRecordsThePreviousSlackUser(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	id := w.keys["carol"].ID
	set := func(slackID string) map[string]string {
		t.Helper()
		if _, err := w.g.UpdateKey(ctx, w.as("admin"), id, api.KeyUpdateRequest{SlackUserID: &slackID}); err != nil {
			t.Fatal(err)
		}
		es := w.entries(vsecure.AuditKeyUpdate)
		return es[0].Metadata
	}
	if md := set("U0CAROL1"); md["slackUserId"] != "U0CAROL1" || func() bool { _, ok := md["previousSlackUserId"]; return ok }() {
		t.Fatalf("first Slack user: metadata %v, want no previousSlackUserId", md)
	}
	w.clock.Advance(time.Second) // entries newest first
	if md := set("U0CAROL2"); md["slackUserId"] != "U0CAROL2" || md["previousSlackUserId"] != "U0CAROL1" {
		t.Fatalf("second Slack user: metadata %v, want previousSlackUserId U0CAROL1", md)
	}
}
