package storetest

import (
	"strings"
	"sync"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// bootstrapRacers is how many admin bootstraps run at once on a store
// without keys.
const bootstrapRacers = 20

// testRaceBootstrap: of concurrent bootstraps on an empty store (each
// finds no admin key in the listing), exactly one mints a key and audits
// it as a success; every other is refused with already_decided and
// audited as a failure naming no key. Break-glass mints afterwards
// regardless, and a later plain bootstrap is still refused. Once every
// admin key is revoked, a plain bootstrap mints again, exactly one of
// concurrent ones.
func testRaceBootstrap(e *env) {
	r := e.raceGate()
	bootstrap := func(breakGlass bool) (api.CreatedKey, error) {
		return r.g.Bootstrap(r.ctx, api.BootstrapRequest{Principal: "root-admin", BreakGlass: breakGlass,
			RequestedBy: "arn:aws:sts::123456789012:assumed-role/Operator/race"})
	}
	keys := make([]api.CreatedKey, bootstrapRacers)
	errs := make([]error, bootstrapRacers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range bootstrapRacers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			keys[i], errs[i] = bootstrap(false)
		}()
	}
	close(start)
	wg.Wait()

	var minted []api.CreatedKey
	for i, err := range errs {
		switch {
		case err == nil:
			minted = append(minted, keys[i])
		case !vsecure.IsCode(err, vsecure.EAlreadyDecided) ||
			!strings.Contains(err.Error(), "already bootstrapped") && !strings.Contains(err.Error(), "an active admin key exists"):
			e.t.Fatalf("bootstrap %d: %v; a losing bootstrap must be refused as already_decided, saying why", i, err)
		}
	}
	if len(minted) != 1 {
		e.t.Fatalf("%d of %d concurrent bootstraps minted a key, want exactly 1: %v", len(minted), bootstrapRacers,
			ids(minted, func(k api.CreatedKey) string { return k.ID }))
	}
	glass, err := bootstrap(true)
	e.ok(err, "break-glass bootstrap")
	if _, err := bootstrap(false); !vsecure.IsCode(err, vsecure.EAlreadyDecided) {
		e.t.Fatalf("a plain bootstrap after the first: %v, want already_decided", err)
	}

	listed, _, err := e.s.ListKeys(e.ctx, "", 100)
	e.ok(err, "ListKeys")
	got := ids(listed, keyID)
	want := []string{minted[0].ID, glass.ID}
	if len(got) != 2 || !(got[0] == want[0] && got[1] == want[1] || got[0] == want[1] && got[1] == want[0]) {
		e.t.Fatalf("stored keys %v, want exactly the winner's and the break-glass key %v", got, want)
	}
	var ok, refused []vsecure.Entry
	for _, x := range e.auditAll(vsecure.AuditFilter{Operation: vsecure.AuditKeyBootstrap}) {
		if x.Success {
			ok = append(ok, x)
		} else {
			refused = append(refused, x)
		}
	}
	if len(ok) != 2 || len(refused) != bootstrapRacers {
		e.t.Fatalf("%d successful and %d refused key_bootstrap entries, want 2 (the winner, break-glass) and %d", len(ok), len(refused), bootstrapRacers)
	}
	for _, x := range ok {
		if id := x.Metadata["keyId"]; id != minted[0].ID && id != glass.ID || x.Metadata["breakGlass"] != map[bool]string{true: "true", false: "false"}[id == glass.ID] {
			e.t.Fatalf("successful entry %+v names neither minted key as it was minted", x)
		}
	}
	for _, x := range refused {
		if x.Error != string(vsecure.EAlreadyDecided) || x.Metadata["keyId"] != "" {
			e.t.Fatalf("refused entry %+v: want already_decided and no key id", x)
		}
	}

	// No admin left: the stack can be bootstrapped again, once.
	for _, id := range want {
		k, err := e.s.GetKey(e.ctx, id)
		e.ok(err, "GetKey")
		at := e.now()
		k.RevokedAt = &at
		k.Version++
		e.ok(e.s.UpdateKey(e.ctx, k, e.entry(vsecure.AuditKeyRevoke, "", "admin")), "UpdateKey revoke")
	}
	again := make([]error, bootstrapRacers)
	start = make(chan struct{})
	for i := range bootstrapRacers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, again[i] = bootstrap(false)
		}()
	}
	close(start)
	wg.Wait()
	n := 0
	for i, err := range again {
		switch {
		case err == nil:
			n++
		case !vsecure.IsCode(err, vsecure.EAlreadyDecided):
			e.t.Fatalf("re-bootstrap %d: %v, want success or already_decided", i, err)
		}
	}
	if n != 1 {
		e.t.Fatalf("%d of %d concurrent bootstraps after every admin was revoked minted a key, want exactly 1", n, bootstrapRacers)
	}
}
