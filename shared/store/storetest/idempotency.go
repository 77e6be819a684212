package storetest

import (
	"sync"
	"time"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// idem returns a pending reservation of key for principal made at now.
func (e *env) idem(principal, key string, now time.Time) vsecure.IdempotencyRecord {
	return vsecure.IdempotencyRecord{
		Principal: principal, Key: key, Fingerprint: "fp-" + key,
		Token: NewID("tok_", now), LeaseUntil: now.Add(time.Minute),
		CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour), RequestID: NewID("req_", now),
	}
}

func (e *env) reserve(r vsecure.IdempotencyRecord, now time.Time) (vsecure.IdempotencyRecord, bool) {
	e.t.Helper()
	got, ok, err := e.s.ReserveIdempotency(e.ctx, r, now)
	e.ok(err, "ReserveIdempotency")
	return got, ok
}

func testIdemReserveThenReplay(e *env) {
	now := e.now()
	r := e.idem("agent-1", "k1", now)
	if _, ok := e.reserve(r, now); !ok {
		e.t.Fatal("first reservation refused")
	}
	got, ok := e.reserve(e.idem("agent-1", "k1", now), now)
	if ok {
		e.t.Fatal("second reservation of a pending key stored")
	}
	e.same("pending record", got, r)

	done := r
	done.Done, done.Status, done.Body, done.Withheld = true, 201, []byte(`{"id":"appr_1"}`), []string{"accessToken"}
	e.ok(e.s.CompleteIdempotency(e.ctx, done), "CompleteIdempotency")
	later := now.Add(2 * time.Hour) // past the lease: done records still bind
	got, ok = e.reserve(e.idem("agent-1", "k1", later), later)
	if ok {
		e.t.Fatal("reservation of a completed key stored")
	}
	e.same("completed record", got, done)
	if e.auditCount() != 0 {
		e.t.Fatal("idempotency records wrote audit entries")
	}
}

func testIdemScopedPerPrincipal(e *env) {
	now := e.now()
	if _, ok := e.reserve(e.idem("agent-1", "k1", now), now); !ok {
		e.t.Fatal("agent-1 refused")
	}
	if _, ok := e.reserve(e.idem("agent-2", "k1", now), now); !ok {
		e.t.Fatal("agent-2 refused the key agent-1 holds")
	}
}

func testIdemExpiredReplaced(e *env) {
	now := e.now()
	r := e.idem("agent-1", "k1", now)
	e.reserve(r, now)
	done := r
	done.Done, done.Status = true, 200
	e.ok(e.s.CompleteIdempotency(e.ctx, done), "CompleteIdempotency")
	after := r.ExpiresAt.Add(time.Second)
	fresh := e.idem("agent-1", "k1", after)
	if _, ok := e.reserve(fresh, after); !ok {
		e.t.Fatal("an expired record still binds its key")
	}
	got, _ := e.reserve(e.idem("agent-1", "k1", after), after)
	e.same("replacement", got, fresh)
}

func testIdemStaleLeaseTakenOver(e *env) {
	now := e.now()
	old := e.idem("agent-1", "k1", now)
	e.reserve(old, now)
	after := old.LeaseUntil.Add(time.Second)
	taker := e.idem("agent-1", "k1", after)
	if _, ok := e.reserve(taker, after); !ok {
		e.t.Fatal("a reservation past its lease was not taken over")
	}
	late := old
	late.Done, late.Status = true, 200
	e.code(e.s.CompleteIdempotency(e.ctx, late), vsecure.EConflict, "completing a reservation that was taken over")
	e.ok(e.s.ReleaseIdempotency(e.ctx, old.Principal, old.Key, old.Token), "release by the old holder")
	got, ok := e.reserve(e.idem("agent-1", "k1", after), after)
	if ok {
		e.t.Fatal("the old holder's release dropped the new reservation")
	}
	e.same("new holder's record", got, taker)
}

func testIdemReleaseLetsRetry(e *env) {
	now := e.now()
	r := e.idem("agent-1", "k1", now)
	e.reserve(r, now)
	e.ok(e.s.ReleaseIdempotency(e.ctx, r.Principal, r.Key, r.Token), "ReleaseIdempotency")
	if _, ok := e.reserve(e.idem("agent-1", "k1", now), now); !ok {
		e.t.Fatal("a released key is still held")
	}
	e.ok(e.s.ReleaseIdempotency(e.ctx, "nobody", "none", "tok"), "release of nothing")
}

func testIdemConcurrentOneWinner(e *env) {
	now := e.now()
	const n = 16
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, ok, err := e.s.ReserveIdempotency(e.ctx, e.idem("agent-1", "race", now), now)
			if err != nil {
				e.t.Errorf("ReserveIdempotency: %v", err)
				return
			}
			if ok {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		e.t.Fatalf("%d of %d concurrent reservations won, want exactly 1", wins, n)
	}
}

func testKeyMarkUsed(e *env) {
	k := e.key("agent-1")
	e.ok(e.s.CreateKey(e.ctx, k, vsecure.Entry{}), "CreateKey")
	t1 := e.now().Truncate(time.Second)
	e.ok(e.s.MarkKeyUsed(e.ctx, k, t1, t1.Add(-vsecure.KeyUseInterval)), "MarkKeyUsed")
	for _, get := range []func() (vsecure.Key, error){
		func() (vsecure.Key, error) { return e.s.GetKey(e.ctx, k.ID) },
		func() (vsecure.Key, error) { return e.s.KeyByHash(e.ctx, k.Hash) },
	} {
		got, err := get()
		e.ok(err, "get key")
		if got.LastUsedAt == nil || !got.LastUsedAt.Equal(t1) {
			e.t.Fatalf("lastUsedAt = %v, want %v", got.LastUsedAt, t1)
		}
	}
	// Within the interval: skipped, the first time stays.
	t2 := t1.Add(10 * time.Second)
	e.ok(e.s.MarkKeyUsed(e.ctx, k, t2, t2.Add(-vsecure.KeyUseInterval)), "MarkKeyUsed within the interval")
	got, _ := e.s.KeyByHash(e.ctx, k.Hash)
	if !got.LastUsedAt.Equal(t1) {
		e.t.Fatalf("lastUsedAt = %v after a use within the interval, want %v", got.LastUsedAt, t1)
	}
	// After it: moves on; and an update of the record keeps it.
	t3 := t1.Add(2 * vsecure.KeyUseInterval)
	e.ok(e.s.MarkKeyUsed(e.ctx, k, t3, t3.Add(-vsecure.KeyUseInterval)), "MarkKeyUsed after the interval")
	got, _ = e.s.GetKey(e.ctx, k.ID)
	if !got.LastUsedAt.Equal(t3) {
		e.t.Fatalf("lastUsedAt = %v, want %v", got.LastUsedAt, t3)
	}
	revoked := e.now()
	got.RevokedAt = &revoked
	got.Version++
	e.ok(e.s.UpdateKey(e.ctx, got, vsecure.Entry{}), "UpdateKey")
	got, _ = e.s.KeyByHash(e.ctx, k.Hash)
	if got.LastUsedAt == nil || !got.LastUsedAt.Equal(t3) || got.RevokedAt == nil {
		e.t.Fatalf("after UpdateKey: %+v", got)
	}
	if e.auditCount() != 0 {
		e.t.Fatal("MarkKeyUsed wrote audit entries")
	}
}

func testKeyMarkUsedMissing(e *env) {
	k := e.key("agent-1")
	at := e.now()
	if err := e.s.MarkKeyUsed(e.ctx, k, at, at.Add(-time.Minute)); err != nil && !vsecure.IsCode(err, vsecure.ENotFound) {
		e.t.Fatalf("MarkKeyUsed of a missing key: %v", err)
	}
	_, err := e.s.GetKey(e.ctx, k.ID)
	e.code(err, vsecure.ENotFound, "GetKey after MarkKeyUsed of a missing key")
	_, err = e.s.KeyByHash(e.ctx, k.Hash)
	e.code(err, vsecure.ENotFound, "KeyByHash after MarkKeyUsed of a missing key")
}
