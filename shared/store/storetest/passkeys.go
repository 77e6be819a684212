package storetest

import (
	"fmt"
	"sync"
	"time"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// passkeyTests is the Passkeys group (run by Run).
var passkeyTests = map[string]func(*env){
	"round_trip_with_audit":            testPasskeyRoundTrip,
	"an_id_is_registered_once":         testPasskeyIDOnce,
	"per_principal_isolation":          testPasskeyIsolation,
	"counter_never_goes_backwards":     testPasskeyCounter,
	"counter_race_has_one_winner":      testPasskeyCounterRace,
	"counter_races_end_at_the_highest": testPasskeyCounterRaceHighest,
	"delete_with_audit":                testPasskeyDelete,
	"ceremony_taken_once":              testCeremonyOnce,
	"ceremony_bound_to_its_principal":  testCeremonyPrincipal,
	"ceremony_expires":                 testCeremonyExpires,
	"ceremony_taken_once_by_20_racers": testCeremonyRace,
}

func (e *env) passkey(principal, id string) vsecure.Passkey {
	return vsecure.Passkey{
		ID:                id,
		Principal:         principal,
		Name:              "laptop of " + principal,
		PublicKey:         []byte("cose-key-" + id),
		SignCount:         3,
		AAGUID:            make([]byte, 16),
		Transports:        []string{"internal", "hybrid"},
		AttestationType:   "none",
		AttestationFormat: "none",
		BackupEligible:    true,
		CreatedAt:         e.now(),
	}
}

func (e *env) passkeys(principal string) []vsecure.Passkey {
	e.t.Helper()
	ps, err := e.s.ListPasskeys(e.ctx, principal)
	e.ok(err, "ListPasskeys(%s)", principal)
	return ps
}

func testPasskeyRoundTrip(e *env) {
	if got := e.passkeys("alice"); len(got) != 0 {
		e.t.Fatalf("empty store lists %d passkeys", len(got))
	}
	p2, p1 := e.passkey("alice", "cred-b"), e.passkey("alice", "cred-a")
	e1 := e.entry(vsecure.AuditPasskeyRegister, "", "alice")
	e2 := e.entry(vsecure.AuditPasskeyRegister, "", "alice")
	e.ok(e.s.CreatePasskey(e.ctx, p2, e1), "CreatePasskey b")
	e.ok(e.s.CreatePasskey(e.ctx, p1, e2), "CreatePasskey a")
	e.same("passkeys of alice (ordered by id)", e.passkeys("alice"), []vsecure.Passkey{p1, p2})
	e.wantEntries(e1, e2)
}

func testPasskeyIDOnce(e *env) {
	e1 := e.entry(vsecure.AuditPasskeyRegister, "", "alice")
	e.ok(e.s.CreatePasskey(e.ctx, e.passkey("alice", "cred-1"), e1), "CreatePasskey")
	for _, who := range []string{"alice", "bob"} {
		err := e.s.CreatePasskey(e.ctx, e.passkey(who, "cred-1"), e.entry(vsecure.AuditPasskeyRegister, "", who))
		e.code(err, vsecure.EConflict, "CreatePasskey of a registered id by %s", who)
	}
	if got := e.passkeys("bob"); len(got) != 0 {
		e.t.Fatalf("a refused registration left bob %d passkeys", len(got))
	}
	e.wantEntries(e1) // the refused writes took their entries down with them
}

func testPasskeyIsolation(e *env) {
	// "ali" is a prefix of "alice": ranges must not bleed into each other.
	for _, who := range []string{"ali", "alice", "bob"} {
		e.ok(e.s.CreatePasskey(e.ctx, e.passkey(who, "cred-"+who), vsecure.Entry{}), "CreatePasskey %s", who)
	}
	for _, who := range []string{"ali", "alice", "bob"} {
		if got := ids(e.passkeys(who), passkeyID); fmt.Sprint(got) != fmt.Sprint([]string{"cred-" + who}) {
			e.t.Fatalf("passkeys of %s = %v, want only its own", who, got)
		}
	}
	e.code(e.s.UsePasskey(e.ctx, "alice", "cred-bob", 9, e.now()), vsecure.ENotFound, "UsePasskey of bob's passkey as alice")
	e.code(e.s.DeletePasskey(e.ctx, "alice", "cred-bob", e.entry(vsecure.AuditPasskeyDelete, "", "alice")), vsecure.ENotFound, "DeletePasskey of bob's passkey as alice")
	if got := e.passkeys("bob"); len(got) != 1 || got[0].SignCount != 3 {
		e.t.Fatalf("bob's passkey changed by alice's calls: %+v", got)
	}
	if n := e.auditCount(); n != 0 {
		e.t.Fatalf("refused deletes wrote %d audit entries", n)
	}
}

func testPasskeyCounter(e *env) {
	e.ok(e.s.CreatePasskey(e.ctx, e.passkey("alice", "c"), vsecure.Entry{}), "CreatePasskey")
	at := e.now()
	e.ok(e.s.UsePasskey(e.ctx, "alice", "c", 5, at), "UsePasskey 3→5")
	e.code(e.s.UsePasskey(e.ctx, "alice", "c", 5, e.now()), vsecure.EConflict, "UsePasskey 5→5")
	e.code(e.s.UsePasskey(e.ctx, "alice", "c", 4, e.now()), vsecure.EConflict, "UsePasskey 5→4")
	e.code(e.s.UsePasskey(e.ctx, "alice", "c", 0, e.now()), vsecure.EConflict, "UsePasskey 5→0")
	got := e.passkeys("alice")[0]
	if got.SignCount != 5 || got.LastUsedAt == nil || !got.LastUsedAt.Equal(at) {
		e.t.Fatalf("after refused uses: count %d, last used %v; want 5 at %v", got.SignCount, got.LastUsedAt, at)
	}
	e.code(e.s.UsePasskey(e.ctx, "alice", "missing", 9, e.now()), vsecure.ENotFound, "UsePasskey of a missing passkey")

	// An authenticator without a counter reports 0 every time.
	p := e.passkey("alice", "zero")
	p.SignCount = 0
	e.ok(e.s.CreatePasskey(e.ctx, p, vsecure.Entry{}), "CreatePasskey zero")
	e.ok(e.s.UsePasskey(e.ctx, "alice", "zero", 0, e.now()), "UsePasskey 0→0")
	e.ok(e.s.UsePasskey(e.ctx, "alice", "zero", 0, e.now()), "UsePasskey 0→0 again")
	e.ok(e.s.UsePasskey(e.ctx, "alice", "zero", 1, e.now()), "UsePasskey 0→1")
	e.code(e.s.UsePasskey(e.ctx, "alice", "zero", 0, e.now()), vsecure.EConflict, "UsePasskey 1→0")
}

// race runs fn(i) for i in [0, n) at once and returns how many returned
// nil; any error without code loses fails the test.
func (e *env) race(n int, loses vsecure.Code, fn func(i int) error) int {
	e.t.Helper()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
		errs []error
	)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			err := fn(i)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case !vsecure.IsCode(err, loses):
				errs = append(errs, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		e.t.Fatalf("%d racers: unexpected errors %v", n, errs)
	}
	return wins
}

func testPasskeyCounterRace(e *env) {
	e.ok(e.s.CreatePasskey(e.ctx, e.passkey("alice", "c"), vsecure.Entry{}), "CreatePasskey")
	at := e.now()
	// 20 assertions carrying the same counter: a replay or a clone.
	if wins := e.race(20, vsecure.EConflict, func(int) error { return e.s.UsePasskey(e.ctx, "alice", "c", 7, at) }); wins != 1 {
		e.t.Fatalf("20 uses with count 7: %d won, want exactly 1", wins)
	}
}

func testPasskeyCounterRaceHighest(e *env) {
	e.ok(e.s.CreatePasskey(e.ctx, e.passkey("alice", "c"), vsecure.Entry{}), "CreatePasskey")
	at := e.now()
	wins := e.race(20, vsecure.EConflict, func(i int) error { return e.s.UsePasskey(e.ctx, "alice", "c", uint32(4+i), at) })
	if wins < 1 {
		e.t.Fatalf("no use won")
	}
	if got := e.passkeys("alice")[0].SignCount; got != 23 {
		e.t.Fatalf("counter after racing uses 4..23 = %d, want 23 (it never moves back)", got)
	}
}

func testPasskeyDelete(e *env) {
	e1 := e.entry(vsecure.AuditPasskeyRegister, "", "alice")
	e.ok(e.s.CreatePasskey(e.ctx, e.passkey("alice", "c"), e1), "CreatePasskey")
	keep := e.passkey("alice", "d")
	e.ok(e.s.CreatePasskey(e.ctx, keep, vsecure.Entry{}), "CreatePasskey d")
	e2 := e.entry(vsecure.AuditPasskeyDelete, "", "alice")
	e.ok(e.s.DeletePasskey(e.ctx, "alice", "c", e2), "DeletePasskey")
	e.same("passkeys after delete", e.passkeys("alice"), []vsecure.Passkey{keep})
	e.code(e.s.DeletePasskey(e.ctx, "alice", "c", e.entry(vsecure.AuditPasskeyDelete, "", "alice")), vsecure.ENotFound, "second DeletePasskey")
	e.code(e.s.UsePasskey(e.ctx, "alice", "c", 99, e.now()), vsecure.ENotFound, "UsePasskey of a deleted passkey")
	e.wantEntries(e1, e2)
	// A deleted id may be registered again (the authenticator still holds it).
	e.ok(e.s.CreatePasskey(e.ctx, e.passkey("bob", "c"), vsecure.Entry{}), "CreatePasskey of a deleted id")
}

func (e *env) ceremony(principal string) vsecure.PasskeyCeremony {
	at := e.now()
	return vsecure.PasskeyCeremony{
		ID: NewID("cer_", at), Principal: principal, Kind: vsecure.CeremonyAssert,
		Session: []byte(`{"challenge":"abc"}`), ExpiresAt: at.Add(5 * time.Minute),
	}
}

func testCeremonyOnce(e *env) {
	c := e.ceremony("alice")
	e.ok(e.s.PutPasskeyCeremony(e.ctx, c), "PutPasskeyCeremony")
	e.code(e.s.PutPasskeyCeremony(e.ctx, c), vsecure.EConflict, "PutPasskeyCeremony of a taken id")
	got, err := e.s.TakePasskeyCeremony(e.ctx, c.ID, "alice", e.now())
	e.ok(err, "TakePasskeyCeremony")
	e.same("taken ceremony", got, c)
	_, err = e.s.TakePasskeyCeremony(e.ctx, c.ID, "alice", e.now())
	e.code(err, vsecure.ENotFound, "second TakePasskeyCeremony")
	_, err = e.s.TakePasskeyCeremony(e.ctx, "cer_never", "alice", e.now())
	e.code(err, vsecure.ENotFound, "TakePasskeyCeremony of an unknown id")
}

func testCeremonyPrincipal(e *env) {
	c := e.ceremony("alice")
	e.ok(e.s.PutPasskeyCeremony(e.ctx, c), "PutPasskeyCeremony")
	_, err := e.s.TakePasskeyCeremony(e.ctx, c.ID, "bob", e.now())
	e.code(err, vsecure.ENotFound, "bob takes alice's ceremony")
	// Bob's attempt did not burn it.
	_, err = e.s.TakePasskeyCeremony(e.ctx, c.ID, "alice", e.now())
	e.ok(err, "alice takes her ceremony after bob tried")
}

func testCeremonyExpires(e *env) {
	c := e.ceremony("alice")
	e.ok(e.s.PutPasskeyCeremony(e.ctx, c), "PutPasskeyCeremony")
	_, err := e.s.TakePasskeyCeremony(e.ctx, c.ID, "alice", c.ExpiresAt)
	e.code(err, vsecure.ENotFound, "TakePasskeyCeremony at its expiry")
	_, err = e.s.TakePasskeyCeremony(e.ctx, c.ID, "alice", c.ExpiresAt.Add(time.Hour))
	e.code(err, vsecure.ENotFound, "TakePasskeyCeremony long after its expiry")
}

func testCeremonyRace(e *env) {
	c := e.ceremony("alice")
	e.ok(e.s.PutPasskeyCeremony(e.ctx, c), "PutPasskeyCeremony")
	now := e.now()
	wins := e.race(20, vsecure.ENotFound, func(int) error {
		_, err := e.s.TakePasskeyCeremony(e.ctx, c.ID, "alice", now)
		return err
	})
	if wins != 1 {
		e.t.Fatalf("20 concurrent takes: %d won, want exactly 1", wins)
	}
}

func passkeyID(p vsecure.Passkey) string { return p.ID }
