package storetest

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/crypto/local"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// The key races run the gate over the store: "a revoked key stays
// revoked" is a promise of the gate's re-read-and-retry and the store's
// conditional writes together, and it must hold on every store.

// raceTries is how many keys each race is run on.
const raceTries = 50

// raceClock is the gate's fixed time in the races: expiries are exact.
var raceClock = base.Add(time.Hour)

type raceEnv struct {
	*env
	g     *gate.Gate
	admin gate.Call
}

func (e *env) raceGate() raceEnv {
	e.t.Helper()
	sealer, err := local.New(bytes.Repeat([]byte{7}, 32))
	e.ok(err, "local sealer")
	g, err := gate.New(gate.Config{
		Store: e.s, Sealer: sealer, CursorKey: bytes.Repeat([]byte("c"), 32),
		Now: func() time.Time { return raceClock },
	})
	e.ok(err, "gate.New")
	admin := gate.Call{Principal: vsecure.Principal{ID: "admin", Roles: []vsecure.Role{vsecure.RoleAdmin}}, RequestID: "race"}
	return raceEnv{env: e, g: g, admin: admin}
}

// outcome is what one racer's call returned.
type outcome struct {
	op  string // audit operation
	err error
	key vsecure.Key // the changed key on success
	new api.CreatedKey
}

// race creates raceTries keys and, for each, runs a and b on it at once,
// then hands every key, its secret and the two outcomes to check. It then
// checks what holds for every race: each call wrote exactly one audit
// entry for the key, successful if and only if the call succeeded, and a
// successful rotation's entry names the key it minted.
func (r raceEnv) race(a, b func(id string) outcome, check func(k api.CreatedKey, a, b outcome)) {
	type try struct {
		key  api.CreatedKey
		a, b outcome
	}
	tries := make([]try, raceTries)
	errs := make([]error, raceTries)
	sem := make(chan struct{}, 16) // bounded: DynamoDB Local under -race
	var wg sync.WaitGroup
	for i := range tries {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			tries[i].key, errs[i] = r.g.CreateKey(r.ctx, r.admin, api.KeyRequest{Principal: fmt.Sprintf("agent-%d", i), Roles: []string{"agent"}, SlackUserID: "U0"})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		r.ok(err, "CreateKey")
	}
	for i := range tries {
		t := &tries[i]
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			start := make(chan struct{})
			var both sync.WaitGroup
			both.Add(2)
			go func() { defer both.Done(); <-start; t.a = a(t.key.ID) }()
			go func() { defer both.Done(); <-start; t.b = b(t.key.ID) }()
			close(start)
			both.Wait()
		}()
	}
	wg.Wait()

	entries := map[string][]vsecure.Entry{} // by the key they are about
	for _, x := range r.auditAll(vsecure.AuditFilter{}) {
		id := x.Metadata["keyId"]
		if x.Operation == vsecure.AuditKeyRotate {
			id = x.Metadata["rotatedKeyId"]
		}
		if x.Operation != vsecure.AuditKeyCreate && x.Operation != vsecure.AuditAuthenticate {
			entries[id] = append(entries[id], x)
		}
	}
	for _, t := range tries {
		mine := entries[t.key.ID]
		if len(mine) != 2 {
			r.t.Fatalf("key %s: %d audit entries for two calls: %+v", t.key.ID, len(mine), mine)
		}
		ok := 0
		for _, x := range mine {
			if x.Success {
				ok++
			}
		}
		if ok != successes(t.a, t.b) {
			r.t.Fatalf("key %s: %d successful entries for %d successful calls: %+v", t.key.ID, ok, successes(t.a, t.b), mine)
		}
		for _, o := range []outcome{t.a, t.b} {
			if o.err != nil && !vsecure.IsCode(o.err, vsecure.EAlreadyDecided) {
				r.t.Fatalf("key %s: %s failed with %v; a racer must retry, or lose to a revocation with already_decided", t.key.ID, o.op, o.err)
			}
			want := o.err == nil
			if !slices.ContainsFunc(mine, func(x vsecure.Entry) bool {
				return x.Operation == o.op && x.Success == want && (o.new.ID == "" || x.Metadata["keyId"] == o.new.ID)
			}) {
				r.t.Fatalf("key %s: %s returned %v but no entry with success=%v records it: %+v", t.key.ID, o.op, o.err, want, mine)
			}
		}
		check(t.key, t.a, t.b)
	}
}

func (r raceEnv) revoke(id string) outcome {
	k, err := r.g.RevokeKey(r.ctx, r.admin, id)
	return outcome{op: vsecure.AuditKeyRevoke, err: err, key: k}
}

func (r raceEnv) patch(req api.KeyUpdateRequest) func(string) outcome {
	return func(id string) outcome {
		k, err := r.g.UpdateKey(r.ctx, r.admin, id, req)
		return outcome{op: vsecure.AuditKeyUpdate, err: err, key: k}
	}
}

func (r raceEnv) rotate(overlap int) func(string) outcome {
	return func(id string) outcome {
		k, err := r.g.RotateKey(r.ctx, r.admin, id, api.RotateRequest{OverlapSeconds: &overlap})
		return outcome{op: vsecure.AuditKeyRotate, err: err, key: k.Replaces, new: k.CreatedKey}
	}
}

// stored reads key id and checks it is the same through both reads
// (record and hash copy).
func (r raceEnv) stored(k api.CreatedKey) vsecure.Key {
	r.t.Helper()
	got, err := r.s.GetKey(r.ctx, k.ID)
	r.ok(err, "GetKey")
	byHash, err := r.s.KeyByHash(r.ctx, k.Hash)
	r.ok(err, "KeyByHash")
	r.same("key record and hash copy", withoutUse(byHash), withoutUse(got))
	return got
}

func withoutUse(k vsecure.Key) vsecure.Key { k.LastUsedAt = nil; return k }

// revoked asserts the revocation held: the key is stored revoked and does
// not authenticate.
func (r raceEnv) revoked(k api.CreatedKey) vsecure.Key {
	r.t.Helper()
	got := r.stored(k)
	if got.RevokedAt == nil {
		r.t.Fatalf("key %s: revocation returned success but the key is stored unrevoked: %+v", k.ID, got)
	}
	if _, err := r.g.Authenticate(r.ctx, k.Secret, gate.Call{}); !vsecure.IsCode(err, vsecure.EUnauthenticated) {
		r.t.Fatalf("key %s authenticates after its revocation returned success (err %v)", k.ID, err)
	}
	return got
}

// successes counts the writes that returned success.
func successes(os ...outcome) int {
	n := 0
	for _, o := range os {
		if o.err == nil {
			n++
		}
	}
	return n
}

func (r raceEnv) wantVersion(k api.CreatedKey, got vsecure.Key, a, b outcome) {
	r.t.Helper()
	if want := k.Version + successes(a, b); got.Version != want {
		r.t.Fatalf("key %s: version %d after %d successful writes on version %d", k.ID, got.Version, successes(a, b), k.Version)
	}
}

func testRaceRevokePatch(e *env) {
	r := e.raceGate()
	r.race(r.revoke, r.patch(api.KeyUpdateRequest{SlackUserID: ptr("U1")}), func(k api.CreatedKey, rev, p outcome) {
		if rev.err != nil {
			r.t.Fatalf("key %s: the only revocation lost: %v", k.ID, rev.err)
		}
		got := r.revoked(k)
		r.wantVersion(k, got, rev, p)
		if want := map[bool]string{true: "U1", false: "U0"}[p.err == nil]; got.SlackUserID != want {
			r.t.Fatalf("key %s: slackUserId %q, want %q (patch returned %v)", k.ID, got.SlackUserID, want, p.err)
		}
	})
}

func testRaceRevokeRotate(e *env) {
	r := e.raceGate()
	r.race(r.revoke, r.rotate(3600), func(k api.CreatedKey, rev, rot outcome) {
		if rev.err != nil {
			r.t.Fatalf("key %s: the only revocation lost: %v", k.ID, rev.err)
		}
		got := r.revoked(k)
		r.wantVersion(k, got, rev, rot)
		if rot.err != nil {
			if rot.new.ID != "" {
				r.t.Fatalf("key %s: refused rotation returned a new key", k.ID)
			}
			return
		}
		nk := r.stored(rot.new)
		if nk.RotatedFrom != k.ID || nk.RevokedAt != nil {
			r.t.Fatalf("key %s: rotation's new key %+v", k.ID, nk)
		}
		if got.ExpiresAt == nil || !got.ExpiresAt.Equal(raceClock.Add(time.Hour)) {
			r.t.Fatalf("key %s: old key expires %v after the rotation, want %v", k.ID, got.ExpiresAt, raceClock.Add(time.Hour))
		}
	})
}

func testRaceRotateRotate(e *env) {
	r := e.raceGate()
	r.race(r.rotate(60), r.rotate(120), func(k api.CreatedKey, a, b outcome) {
		got := r.stored(k)
		r.wantVersion(k, got, a, b)
		if successes(a, b) != 2 {
			r.t.Fatalf("key %s: rotations returned %v and %v; both should succeed in turn", k.ID, a.err, b.err)
		}
		if got.ExpiresAt == nil || !got.ExpiresAt.Equal(raceClock.Add(time.Minute)) {
			r.t.Fatalf("key %s: old key expires %v, want the earlier end %v", k.ID, got.ExpiresAt, raceClock.Add(time.Minute))
		}
		if a.new.ID == b.new.ID {
			r.t.Fatalf("key %s: both rotations minted %s", k.ID, a.new.ID)
		}
		for _, o := range []outcome{a, b} {
			if nk := r.stored(o.new); !nk.Active(raceClock) || nk.Principal != k.Principal || nk.RotatedFrom != k.ID {
				r.t.Fatalf("key %s: rotation minted %+v", k.ID, nk)
			}
		}
	})
}

func testRacePatchPatch(e *env) {
	r := e.raceGate()
	// One patch changes both fields, the other only the Slack id: the
	// later write must build on the earlier one, not replace it.
	both := api.KeyUpdateRequest{Roles: []string{"approver"}, SlackUserID: ptr("U1")}
	slack := api.KeyUpdateRequest{SlackUserID: ptr("U2")}
	r.race(r.patch(both), r.patch(slack), func(k api.CreatedKey, a, b outcome) {
		got := r.stored(k)
		r.wantVersion(k, got, a, b)
		if successes(a, b) != 2 {
			r.t.Fatalf("key %s: patches returned %v and %v; both should succeed in turn", k.ID, a.err, b.err)
		}
		last := a.key
		if b.key.Version > last.Version {
			last = b.key
		}
		r.same("stored key vs the last patch's answer", withoutUse(got), withoutUse(last))
		if !slices.Equal(got.Roles, []vsecure.Role{vsecure.RoleApprover}) {
			r.t.Fatalf("key %s: roles %v: a patch of roles was lost", k.ID, got.Roles)
		}
	})
}

func ptr[T any](v T) *T { return &v }
