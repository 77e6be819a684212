package storetest

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/auditlog"
	"github.com/vsecure/vsecure/shared/crypto/local"
	"github.com/vsecure/vsecure/shared/digest"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// RunSeal checks that a store seals every entry it writes (package
// auditlog): newStore returns an empty store sealing with keys.
func RunSeal(t *testing.T, newStore func(t *testing.T, keys auditlog.MACKeys) vsecure.Store) {
	tests := map[string]func(*env, auditlog.MACKeys){
		"every_write_is_sealed":          testSealEveryWrite,
		"concurrent_writers_one_chain":   testSealConcurrent,
		"losing_writes_leave_no_gap":     testSealLosingWrites,
		"entries_unchanged_by_the_seals": testSealEntriesUnchanged,
		"opening_precedes_first_entry":   testSealOpeningPrecedes,
	}
	names := make([]string, 0, len(tests))
	for n := range tests {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		t.Run(n, func(t *testing.T) {
			t.Parallel()
			keys := MACKeys(t)
			tests[n](&env{t: t, ctx: t.Context(), s: newStore(t, keys)}, keys)
		})
	}
}

// MACKeys returns local MAC keys under a fresh directory.
func MACKeys(t testing.TB) auditlog.MACKeys {
	t.Helper()
	k, err := local.LoadMACKeys(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Epoch is one chain as a store holds it, its records ordered by Seq.
type Epoch struct {
	Opening vsecure.Entry
	Records []vsecure.AuditRecord
}

// Chains reads every record of s and checks that each carries a seal that
// verifies under the key opened from its epoch's opening entry, and that
// each epoch's Seqs run 0..n with every Prev the MAC of the one before.
// It returns the epochs by name.
func Chains(t testing.TB, ctx context.Context, s vsecure.AuditDigests, keys auditlog.MACKeys) map[string]Epoch {
	t.Helper()
	byEpoch := map[string][]vsecure.AuditRecord{}
	err := s.AuditRange(ctx, time.Unix(0, 0), time.Date(2999, 1, 1, 0, 0, 0, 0, time.UTC), func(r vsecure.AuditRecord) (bool, error) {
		if r.Seal == nil {
			t.Fatalf("entry %s (%s) is not sealed", r.Entry.ID, r.Entry.Operation)
		}
		if r.Key != r.Entry.ID {
			t.Fatalf("entry %s stored under key %s", r.Entry.ID, r.Key)
		}
		byEpoch[r.Seal.Epoch] = append(byEpoch[r.Seal.Epoch], r)
		return true, nil
	})
	if err != nil {
		t.Fatalf("AuditRange: %v", err)
	}
	out := map[string]Epoch{}
	for name, recs := range byEpoch {
		slices.SortFunc(recs, func(a, b vsecure.AuditRecord) int { return int(a.Seal.Seq) - int(b.Seal.Seq) })
		open := recs[0].Entry
		if recs[0].Seal.Seq != 0 || open.Operation != auditlog.OpEpoch || open.Metadata[auditlog.MetaEpoch] != name {
			t.Fatalf("epoch %s starts with seq %d, %s: not its opening entry", name, recs[0].Seal.Seq, open.Operation)
		}
		k, err := auditlog.OpenFromEntry(ctx, keys, open)
		if err != nil {
			t.Fatalf("open epoch %s: %v", name, err)
		}
		var prev []byte
		for i, r := range recs {
			if r.Seal.Seq != uint64(i) {
				t.Fatalf("epoch %s: position %d holds seq %d (gap or duplicate)", name, i, r.Seal.Seq)
			}
			if !bytes.Equal(r.Seal.Prev, prev) {
				t.Fatalf("epoch %s seq %d: Prev is not the MAC of seq %d", name, i, i-1)
			}
			if !k.Check(r.Entry, *r.Seal) {
				t.Fatalf("epoch %s seq %d (%s): MAC does not check", name, i, r.Entry.ID)
			}
			if i > 0 && r.Entry.Operation == auditlog.OpEpoch {
				t.Fatalf("epoch %s: opening entry at seq %d", name, i)
			}
			prev = r.Seal.MAC
		}
		out[name] = Epoch{Opening: open, Records: recs}
	}
	return out
}

// sealed returns the ids of the non-opening entries in epochs.
func sealedIDs(epochs map[string]Epoch) map[string]bool {
	ids := map[string]bool{}
	for _, ep := range epochs {
		for _, r := range ep.Records[1:] {
			ids[r.Entry.ID] = true
		}
	}
	return ids
}

func (e *env) wantSealed(keys auditlog.MACKeys, want []vsecure.Entry) map[string]Epoch {
	e.t.Helper()
	epochs := Chains(e.t, e.ctx, e.s, keys)
	ids := sealedIDs(epochs)
	for _, w := range want {
		if !ids[w.ID] {
			e.t.Fatalf("entry %s (%s) is not in any chain", w.ID, w.Operation)
		}
	}
	if len(ids) != len(want) {
		e.t.Fatalf("chains hold %d entries, want %d", len(ids), len(want))
	}
	return epochs
}

func testSealEveryWrite(e *env, keys auditlog.MACKeys) {
	var want []vsecure.Entry
	e.changeEverything(func(op, resource, actor string) vsecure.Entry {
		en := e.entry(op, resource, actor)
		want = append(want, en)
		return en
	})
	for range 3 {
		x := e.entry(vsecure.AuditListSecrets, "", "admin")
		e.ok(e.s.AppendAudit(e.ctx, x), "AppendAudit")
		want = append(want, x)
	}
	if epochs := e.wantSealed(keys, want); len(epochs) != 1 {
		e.t.Fatalf("one store wrote %d epochs, want 1", len(epochs))
	}
}

func testSealConcurrent(e *env, keys auditlog.MACKeys) {
	uri := "vsecure://secrets/production/DB"
	h, v := e.secret(uri, 1)
	first := e.entry(vsecure.AuditWrite, uri, "admin")
	e.ok(e.s.PutSecret(e.ctx, h, v, first), "PutSecret")
	const n = 24
	entries := make([]vsecure.Entry, n)
	for i := range entries {
		entries[i] = e.entry(vsecure.AuditRead, uri, "agent-1")
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i, en := range entries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				errs <- e.s.RecordRead(e.ctx, uri, en.Timestamp, en)
			} else {
				errs <- e.s.AppendAudit(e.ctx, en)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		e.ok(err, "concurrent write")
	}
	e.wantSealed(keys, append(entries, first))
}

// A write that loses its condition writes nothing: its position in the
// chain is taken by the next entry, so no Seq goes missing.
func testSealLosingWrites(e *env, keys auditlog.MACKeys) {
	uri := "vsecure://secrets/production/DB"
	h, v := e.secret(uri, 1)
	want := []vsecure.Entry{e.entry(vsecure.AuditWrite, uri, "admin")}
	e.ok(e.s.PutSecret(e.ctx, h, v, want[0]), "PutSecret")
	e.code(e.s.PutSecret(e.ctx, h, v, e.entry(vsecure.AuditWrite, uri, "admin")), vsecure.EConflict, "PutSecret of an existing version")
	a := e.approval("agent-1", uri, vsecure.OpRead)
	want = append(want, e.entry(vsecure.AuditRequestApproval, uri, "agent-1"))
	e.ok(e.s.CreateApproval(e.ctx, a, want[1]), "CreateApproval")
	next, err := a.Decide("alice", vsecure.ActionApprove, "", a.RequestedAt.Add(time.Second))
	e.ok(err, "Decide")
	want = append(want, e.entry(vsecure.AuditApprove, uri, "alice"))
	e.ok(e.s.UpdateApproval(e.ctx, next, want[2]), "UpdateApproval")
	e.code(e.s.UpdateApproval(e.ctx, next, e.entry(vsecure.AuditApprove, uri, "bob")), vsecure.EConflict, "stale UpdateApproval")
	e.code(e.s.AppendAudit(e.ctx, want[0]), vsecure.EConflict, "AppendAudit of a taken id")
	// A store may refuse a read of a missing secret or record it (the
	// gate loads the secret first); either way no seq goes missing.
	missing := e.entry(vsecure.AuditRead, "vsecure://secrets/production/NONE", "agent-1")
	if err := e.s.RecordRead(e.ctx, missing.Resource, missing.Timestamp, missing); err != nil {
		e.code(err, vsecure.ENotFound, "RecordRead of a missing secret")
	} else {
		want = append(want, missing)
	}
	last := e.entry(vsecure.AuditListSecrets, "", "admin")
	e.ok(e.s.AppendAudit(e.ctx, last), "AppendAudit")
	e.wantSealed(keys, append(want, last))
}

// The API's entries are what was written; the seal is beside them.
func testSealEntriesUnchanged(e *env, keys auditlog.MACKeys) {
	x := e.entry(vsecure.AuditListSecrets, "", "admin")
	e.ok(e.s.AppendAudit(e.ctx, x), "AppendAudit")
	got := e.auditAll(vsecure.AuditFilter{Actor: "admin"})
	if len(got) != 1 {
		e.t.Fatalf("QueryAudit by actor: %d entries", len(got))
	}
	e.same("entry", got[0], x)
	oldest, err := e.s.OldestAudit(e.ctx)
	e.ok(err, "OldestAudit")
	if oldest.ID == "" {
		e.t.Fatal("OldestAudit returned no entry")
	}
	e.wantSealed(keys, []vsecure.Entry{x})
}

// An epoch's opening entry is dated no later than the entry it was opened
// for, so the digest step finds the epoch's key in that entry's window: an
// entry stamped just before a window boundary (or, as the sample world's,
// an hour back) whose epoch opened after it is not taken for an insertion.
func testSealOpeningPrecedes(e *env, keys auditlog.MACKeys) {
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Minute).Add(59*time.Second + 900*time.Millisecond)
	x := vsecure.Entry{ID: "log_backdated", Timestamp: at, Operation: vsecure.AuditKeyCreate, Actor: "bootstrap", Success: true}
	e.ok(e.s.AppendAudit(e.ctx, x), "AppendAudit")
	for _, ep := range e.wantSealed(keys, []vsecure.Entry{x}) {
		if ep.Opening.Timestamp.After(at) {
			e.t.Errorf("opening entry at %s, after its first entry at %s", ep.Opening.Timestamp, at)
		}
	}
	signer, err := local.LoadSigner(e.t.TempDir())
	e.ok(err, "LoadSigner")
	cfg := digest.Config{Store: e.s, Signer: signer, MACKeys: keys}
	sealer, err := digest.NewSealer(cfg)
	e.ok(err, "NewSealer")
	_, err = sealer.Seal(e.ctx)
	e.ok(err, "Seal")
	v, err := digest.NewVerifier(cfg)
	e.ok(err, "NewVerifier")
	r, err := v.Verify(e.ctx, time.Time{}, time.Now())
	e.ok(err, "Verify")
	if len(r.Findings) != 0 {
		e.t.Fatalf("findings on a clean log: %+v", r.Findings)
	}
}
