package storetest

import (
	"strings"
	"sync"
	"time"

	"github.com/vsecure/vsecure/shared/vsecure"
)

func (e *env) slackKeys(id string) []vsecure.Key {
	e.t.Helper()
	keys, err := e.s.KeysBySlackUser(e.ctx, id)
	e.ok(err, "KeysBySlackUser(%q)", id)
	return keys
}

func keyIDs(keys []vsecure.Key) string {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	return strings.Join(ids, ",")
}

func testSlackKeysOfUser(e *env) {
	k1, k2, k3, k4 := e.key("alice"), e.key("bob"), e.key("carol"), e.key("dave")
	k1.SlackUserID, k2.SlackUserID, k3.SlackUserID = "U1", "U1", "U2"
	for _, k := range []vsecure.Key{k1, k2, k3, k4} {
		e.ok(e.s.CreateKey(e.ctx, k, vsecure.Entry{}), "CreateKey %s", k.Principal)
	}
	got := e.slackKeys("U1")
	if keyIDs(got) != keyIDs([]vsecure.Key{k1, k2}) {
		e.t.Fatalf("KeysBySlackUser(U1) = %s, want %s", keyIDs(got), keyIDs([]vsecure.Key{k1, k2}))
	}
	e.sameKey("first key of U1", got[0], k1)
	if got := e.slackKeys("U9"); len(got) != 0 {
		e.t.Fatalf("unknown user found %s", keyIDs(got))
	}
	if got := e.slackKeys(""); len(got) != 0 {
		e.t.Fatalf("empty user id found %s", keyIDs(got))
	}
}

func testSlackKeysFollowUpdates(e *env) {
	k1, k2 := e.key("alice"), e.key("bob")
	k1.SlackUserID, k2.SlackUserID = "U1", "U1"
	e.ok(e.s.CreateKey(e.ctx, k1, vsecure.Entry{}), "CreateKey")
	e.ok(e.s.CreateKey(e.ctx, k2, vsecure.Entry{}), "CreateKey")
	k1.SlackUserID = "U3"
	k1.Version++
	e.ok(e.s.UpdateKey(e.ctx, k1, e.entry(vsecure.AuditKeyUpdate, "", "admin")), "UpdateKey Slack id")
	at := e.now()
	k2.RevokedAt = &at
	k2.Version++
	e.ok(e.s.UpdateKey(e.ctx, k2, e.entry(vsecure.AuditKeyRevoke, "", "admin")), "UpdateKey revoke")
	got := e.slackKeys("U1")
	if keyIDs(got) != k2.ID {
		e.t.Fatalf("KeysBySlackUser(U1) after moving alice = %s, want %s", keyIDs(got), k2.ID)
	}
	if got[0].RevokedAt == nil {
		e.t.Fatalf("revoked key listed as active")
	}
	if got := e.slackKeys("U3"); keyIDs(got) != k1.ID {
		e.t.Fatalf("KeysBySlackUser(U3) = %s, want %s", keyIDs(got), k1.ID)
	}
}

func testRememberOnce(e *env) {
	now := e.now()
	until := now.Add(5 * time.Minute)
	e.ok(e.s.Remember(e.ctx, "sig-a", now, until), "first Remember")
	e.code(e.s.Remember(e.ctx, "sig-a", now.Add(time.Minute), until), vsecure.EConflict, "Remember of a seen key")
	e.ok(e.s.Remember(e.ctx, "sig-b", now, until), "Remember of another key")
	e.ok(e.s.Remember(e.ctx, "sig-a", until, until.Add(5*time.Minute)), "Remember once the first lapsed")
	e.code(e.s.Remember(e.ctx, "sig-a", until.Add(time.Second), until.Add(time.Hour)), vsecure.EConflict, "Remember within the renewed window")
}

func testRememberConcurrent(e *env) {
	now := e.now()
	const n = 8
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
		errs []error
	)
	for range n {
		wg.Go(func() {
			err := e.s.Remember(e.ctx, "sig-race", now, now.Add(time.Minute))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case !vsecure.IsCode(err, vsecure.EConflict):
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 || wins != 1 {
		e.t.Fatalf("%d concurrent Remember calls: %d won, errors %v; want exactly one winner", n, wins, errs)
	}
}
