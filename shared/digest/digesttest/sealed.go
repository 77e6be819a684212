package digesttest

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vsecure/vsecure/internal/testclock"
	"github.com/vsecure/vsecure/shared/archive"
	"github.com/vsecure/vsecure/shared/auditlog"
	"github.com/vsecure/vsecure/shared/crypto/local"
	"github.com/vsecure/vsecure/shared/digest"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// SealedWorld is a World whose store seals entries with keys.
type SealedWorld interface {
	World
	// PutRecord overwrites the record stored under key (entry and seal).
	PutRecord(t *testing.T, key string, r vsecure.AuditRecord)
	// Restart ends the writer's epoch so that its next write opens one
	// continuing it (previousEpoch, previousNext): the process restarts
	// (embedded), or a write of unknown outcome retires the chain
	// (DynamoDB, previousAmbiguous).
	Restart(t *testing.T)
}

// IndexWorld is a SealedWorld whose storage orders records by an index
// apart from the records (DynamoDB's time index).
type IndexWorld interface {
	SealedWorld
	// SwapIndex exchanges the index positions of two records, records
	// untouched.
	SwapIndex(t *testing.T, a, b string)
	// HideFromIndex moves a record out of every range the index reads.
	HideFromIndex(t *testing.T, key string)
}

// memWitness is the witness as the tests need it (the file and S3
// witnesses are tested in their packages).
type memWitness struct {
	mu sync.Mutex
	rs []digest.WitnessRecord
}

func (w *memWitness) Append(_ context.Context, r digest.WitnessRecord) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.rs = append(w.rs, r)
	return nil
}

func (w *memWitness) Records(context.Context) ([]digest.WitnessRecord, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]digest.WitnessRecord(nil), w.rs...), nil
}

type sealedEnv struct {
	*env
	sw      SealedWorld
	keys    auditlog.MACKeys
	witness *memWitness
	recs    map[string]vsecure.AuditRecord
}

// RunSealed runs the tamper cases of issue 13 item 7 against a store that
// seals every entry at write time, each tamper named exactly.
func RunSealed(t *testing.T, newWorld func(t *testing.T, keys auditlog.MACKeys) SealedWorld) {
	setup := func(t *testing.T, n int) *sealedEnv { return newSealedEnv(t, n, newWorld) }
	cases := map[string]func(t *testing.T, e *sealedEnv){
		"clean_sealed_log_verifies": func(t *testing.T, e *sealedEnv) {
			e.sealNow()
			r := e.check()
			if r.Entries != 31 || len(r.Findings) != 0 {
				t.Fatalf("%d entries, findings %s", r.Entries, show(r.Findings))
			}
			e.expect(e.offline())
		},
		"entries_gone_past_retention_are_not_deleted_when_archived": func(t *testing.T, e *sealedEnv) {
			e.retention(t)
		},
		"edit_before_sealing_is_named_modified_once": func(t *testing.T, e *sealedEnv) {
			rec := e.recs[e.entries[5].ID]
			rec.Entry.Success = false
			e.sw.PutRecord(t, rec.Key, rec)
			e.sealNow()
			e.expect(e.check(), "modified "+rec.Key)
			e.expect(e.offline(), "modified "+rec.Key)
		},
		"edit_after_sealing_is_named_modified": func(t *testing.T, e *sealedEnv) {
			e.sealNow()
			rec := e.recs[e.entries[7].ID]
			rec.Entry.Actor = "someone-else"
			e.sw.PutRecord(t, rec.Key, rec)
			e.expect(e.check(), "modified "+rec.Key)
			e.expect(e.offline(), "modified "+rec.Key)
		},
		"resigned_with_another_key_is_bad_signature": func(t *testing.T, e *sealedEnv) {
			e.sealNow()
			// No signing key lives with the data; a key the attacker has
			// (one they made, or any found in the data dir: see
			// devserver's TestNoKeyInTheDataDirCanSignDigests) is refused.
			forger, _ := local.NewSigner(make([]byte, 32))
			ds := e.allDigests()
			rec := e.recs[e.entries[0].ID]
			rec.Entry.Success = false // what the forger re-signs to hide
			e.sw.PutRecord(t, rec.Key, rec)
			n, j := -1, -1
			for i, d := range ds {
				if k := slices.IndexFunc(d.Entries, func(de vsecure.DigestEntry) bool { return de.ID == rec.Key }); k >= 0 {
					n, j = i, k
				}
			}
			if n < 0 || n+1 >= len(ds) {
				t.Fatalf("entry %s sealed in digest %d of %d", rec.Key, n, len(ds))
			}
			d := ds[n]
			d.Entries[j].Hash = vsecure.RecordHash(rec.Entry, rec.Seal)
			d.Signature, _ = forger.Sign(t.Context(), d.SignedBytes())
			e.w.PutDigest(t, d)
			w := d.From.Format("15:04:05")
			want := []string{"bad_signature @" + w, "chain_broken @" + ds[n+1].From.Format("15:04:05")}
			// Online the MAC names the entry and the witness the replaced
			// digest. Offline the forged digest agrees with the entry and
			// MACs are not checkable: the window's digest is what is named.
			e.expect(e.check(), append(want, "modified "+rec.Key, "digest_deleted @"+w)...)
			e.expect(e.offline(), want...)
			// The forger's own key id is refused just the same.
			d.KeyID = forger.KeyID()
			d.Signature, _ = forger.Sign(t.Context(), d.SignedBytes())
			e.w.PutDigest(t, d)
			e.expect(e.offline(), want...)
		},
		"insert_sorting_first_before_sealing_is_one_inserted": func(t *testing.T, e *sealedEnv) {
			en := e.entries[20]
			en.ID = "log_0000000000000forged" // sorts before every id
			e.sw.PutRecord(t, en.ID, vsecure.AuditRecord{Key: en.ID, Entry: en})
			e.sealNow()
			e.expect(e.check(), "inserted "+en.ID)
			e.expect(e.offline(), "inserted "+en.ID)
		},
		"insert_out_of_order_is_one_inserted": func(t *testing.T, e *sealedEnv) {
			e.sealNow()
			en := e.entries[3]
			en.ID = "log_zzzzzzzzzzzzzforged" // sorts last
			e.sw.PutRecord(t, en.ID, vsecure.AuditRecord{Key: en.ID, Entry: en})
			e.expect(e.check(), "inserted "+en.ID)
			e.expect(e.offline(), "inserted "+en.ID)
		},
		"forged_entry_after_the_newest_is_one_inserted": func(t *testing.T, e *sealedEnv) {
			e.sealNow()
			// Linked to the chain's newest entry, in a sealed window: it
			// looks like an edit of a genuine entry, but no digest has it.
			last := e.recs[e.entries[len(e.entries)-1].ID]
			en := last.Entry
			en.ID, en.Timestamp = "log_forged_tail", en.Timestamp.Add(-time.Second)
			s := *last.Seal
			s.Seq, s.Prev, s.MAC = s.Seq+1, last.Seal.MAC, make([]byte, len(last.Seal.MAC))
			e.sw.PutRecord(t, en.ID, vsecure.AuditRecord{Key: en.ID, Entry: en, Seal: &s})
			e.expect(e.check(), "inserted "+en.ID)
			e.expect(e.offline(), "inserted "+en.ID)
		},
		"swapped_records_are_reordered": func(t *testing.T, e *sealedEnv) {
			e.sealNow()
			a, b := e.entries[10].ID, e.entries[12].ID
			e.w.Swap(t, a, b)
			e.expect(e.check(), "reordered "+a, "reordered "+b)
			e.expect(e.offline(), "reordered "+a, "reordered "+b)
		},
		"deleted_tail_and_newest_digest_are_named_by_the_witness": func(t *testing.T, e *sealedEnv) {
			e.sealNow()
			ds := e.allDigests()
			last := ds[len(ds)-1]
			var want []string
			for _, rec := range e.sorted() {
				if !rec.Entry.Timestamp.Before(last.From) && rec.Entry.Timestamp.Before(last.To) {
					e.w.DeleteEntry(t, rec.Key)
					want = append(want, fmt.Sprintf("deleted %s#%d", rec.Seal.Epoch, rec.Seal.Seq))
				}
			}
			e.w.DeleteDigest(t, last.From)
			want = append(want, "digest_deleted @"+last.From.Format("15:04:05"))
			e.expect(e.check(), want...)
		},
		"deleted_digest_is_named": func(t *testing.T, e *sealedEnv) {
			e.sealNow()
			ds := e.allDigests()
			mid := ds[1]
			e.w.DeleteDigest(t, mid.From)
			var want []string
			for _, rec := range e.sorted() {
				if !rec.Entry.Timestamp.Before(mid.From) && rec.Entry.Timestamp.Before(mid.To) && rec.Entry.Timestamp.Before(e.clock.Now().Add(-digest.DefaultGrace-3*digest.DefaultWindow)) {
					want = append(want, "unsealed "+rec.Key)
				}
			}
			next := ds[2].From.Format("15:04:05")
			want = append(want, "chain_broken @"+next, "gap @"+next, "digest_deleted @"+mid.From.Format("15:04:05"))
			e.expect(e.check(), want...)
		},
		"deleted_tail_is_named_by_the_next_epochs_opening_entry": func(t *testing.T, e *sealedEnv) {
			// Before any digest: only the next epoch's opening entry
			// (previousNext) knows how far the old chain went.
			var want []string
			for _, en := range e.entries[25:] {
				rec := e.recs[en.ID]
				e.w.DeleteEntry(t, rec.Key)
				want = append(want, fmt.Sprintf("deleted %s#%d", rec.Seal.Epoch, rec.Seal.Seq))
			}
			e.sw.Restart(t)
			e.appendAt(t, 40)
			e.sealNow()
			e.expect(e.check(), want...)
			e.expect(e.offline(), want...)
		},
		"continued_epoch_verifies": func(t *testing.T, e *sealedEnv) {
			// The seq a DynamoDB writer lost the answer for was not
			// written: previousAmbiguous, so no finding for it.
			e.sw.Restart(t)
			e.appendAt(t, 70)
			e.appendAt(t, 71)
			e.clock.Set(e.clock.Now().Add(10 * time.Minute))
			e.sealNow()
			continued := 0
			for _, rec := range e.sorted() {
				if rec.Entry.Operation == auditlog.OpEpoch && rec.Entry.Metadata[auditlog.MetaPrevEpoch] != "" {
					continued++
				}
			}
			if continued != 1 {
				t.Fatalf("%d opening entries continue an epoch, want 1", continued)
			}
			r := e.check()
			e.expect(r)
			e.expect(e.offline())
			if r.Unsealed != 0 || r.Entries < 34 {
				t.Fatalf("%d entries, %d unsealed", r.Entries, r.Unsealed)
			}
		},
		"overwritten_item_is_modified": func(t *testing.T, e *sealedEnv) {
			e.sealNow()
			rec := e.recs[e.entries[2].ID]
			rec.Entry.Metadata = map[string]string{"requestId": "forged"}
			rec.Seal.MAC = append([]byte(nil), rec.Seal.MAC...)
			rec.Seal.MAC[0] ^= 1 // a rewritten seal too
			e.sw.PutRecord(t, rec.Key, rec)
			e.expect(e.check(), "modified "+rec.Key)
		},
	}
	for name, fn := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, setup(t, 30))
		})
	}
}

// RunIndex runs the cases of a store whose records are ordered by an index
// apart from them (DynamoDB): the index's order is not evidence, and an
// entry the index no longer finds is deleted.
func RunIndex(t *testing.T, newWorld func(t *testing.T, keys auditlog.MACKeys) IndexWorld) {
	cases := map[string]func(t *testing.T, e *sealedEnv, w IndexWorld){
		"time_index_order_is_not_evidence": func(t *testing.T, e *sealedEnv, w IndexWorld) {
			e.sealNow()
			w.SwapIndex(t, e.entries[10].ID, e.entries[20].ID) // across windows
			w.SwapIndex(t, e.entries[3].ID, e.entries[4].ID)
			e.expect(e.check())
			e.expect(e.offline())
		},
		"entry_hidden_from_the_index_is_deleted": func(t *testing.T, e *sealedEnv, w IndexWorld) {
			e.sealNow()
			w.HideFromIndex(t, e.entries[9].ID)
			e.expect(e.check(), "deleted "+e.entries[9].ID)
			e.expect(e.offline(), "deleted "+e.entries[9].ID)
		},
	}
	for name, fn := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var w IndexWorld
			e := newSealedEnv(t, 30, func(t *testing.T, keys auditlog.MACKeys) SealedWorld {
				w = newWorld(t, keys)
				return w
			})
			fn(t, e, w)
		})
	}
}

// appendAt appends the i-th entry of the schedule setup follows.
func (e *sealedEnv) appendAt(t *testing.T, i int) {
	t.Helper()
	en := entry(i)
	en.Timestamp = e.entries[0].Timestamp.Add(time.Duration(i) * 10 * time.Second)
	en.ID = fmt.Sprintf("log_%013d%04d", en.Timestamp.UnixMilli(), i)
	if err := e.w.Store().AppendAudit(t.Context(), en); err != nil {
		t.Fatal(err)
	}
	e.entries = append(e.entries, en)
}

// newSealedEnv appends n entries, one every 10 s from the next minute
// (after the store's opening entry), to a fresh world.
func newSealedEnv(t *testing.T, n int, newWorld func(t *testing.T, keys auditlog.MACKeys) SealedWorld) *sealedEnv {
	start := time.Now().UTC().Truncate(time.Minute).Add(time.Minute)
	wrap := make([]byte, 32)
	rand.Read(wrap)
	keys, err := local.NewMACKeys(wrap)
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, keys)
	seed := make([]byte, 32)
	rand.Read(seed)
	signer, _ := local.NewSigner(seed)
	e := &sealedEnv{env: &env{t: t, w: w, signer: signer, clock: testclock.New(start.Add(10 * time.Minute))}, sw: w, keys: keys, witness: &memWitness{}, recs: map[string]vsecure.AuditRecord{}}
	for i := range n {
		en := entry(i)
		en.Timestamp = start.Add(time.Duration(i) * 10 * time.Second)
		en.ID = fmt.Sprintf("log_%013d%04d", en.Timestamp.UnixMilli(), i)
		if err := w.Store().AppendAudit(t.Context(), en); err != nil {
			t.Fatal(err)
		}
		e.entries = append(e.entries, en)
	}
	e.reload()
	return e
}

func (e *sealedEnv) cfg() digest.Config {
	return digest.Config{Store: e.w.Store(), Signer: e.signer, Now: e.clock.Now, MACKeys: e.keys, Witness: e.witness}
}

func (e *sealedEnv) reload() {
	e.recs = map[string]vsecure.AuditRecord{}
	for _, r := range e.sorted() {
		e.recs[r.Key] = r
	}
}

func (e *sealedEnv) sorted() []vsecure.AuditRecord {
	var out []vsecure.AuditRecord
	if err := e.w.Store().AuditRange(e.t.Context(), time.Time{}, far, func(r vsecure.AuditRecord) (bool, error) {
		out = append(out, r)
		return true, nil
	}); err != nil {
		e.t.Fatal(err)
	}
	return out
}

var far = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

func (e *sealedEnv) sealNow() {
	e.t.Helper()
	s, err := digest.NewSealer(e.cfg())
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := s.Seal(e.t.Context()); err != nil {
		e.t.Fatal(err)
	}
}

func (e *sealedEnv) check() digest.Report {
	e.t.Helper()
	v, _ := digest.NewVerifier(e.cfg())
	r, err := v.Verify(e.t.Context(), time.Time{}, time.Time{})
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// offline verifies what an export of the store would hold.
func (e *sealedEnv) offline() digest.Report {
	e.t.Helper()
	exp := &digest.Export{Header: digest.ExportHeader{ExportedAt: e.clock.Now(), KeyID: e.signer.KeyID()}, Records: e.sorted()}
	ds, err := e.w.Store().Digests(e.t.Context(), time.Time{}, far)
	if err != nil {
		e.t.Fatal(err)
	}
	exp.Digests = ds
	pub, err := digest.ParsePublicKey(e.signer.PublicKeyBase64())
	if err != nil {
		e.t.Fatal(err)
	}
	r, err := digest.VerifyOffline(e.t.Context(), exp, pub)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *sealedEnv) allDigests() []vsecure.Digest {
	e.t.Helper()
	ds, err := e.w.Store().Digests(e.t.Context(), time.Time{}, far)
	if err != nil {
		e.t.Fatal(err)
	}
	return ds
}

// retention seals and archives the log, lets the store drop every entry
// sealed before the retention horizon (DynamoDB TTL, simulated by deleting
// the items: DynamoDB Local does not expire them promptly), and checks
// what verify says of them with the archive, without it, and with an
// archive that lacks them.
func (e *sealedEnv) retention(t *testing.T) {
	start := e.entries[0].Timestamp
	e.clock.Set(start.Add(2 * time.Hour)) // every hour of the log is sealed to its end
	e.sealNow()
	dir := archive.NewDir(t.TempDir())
	a, err := archive.New(archive.Config{Store: e.w.Store(), Bucket: dir, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := a.Archive(t.Context()); err != nil || st.Records != len(e.recs) {
		t.Fatalf("archive: %+v, %v; want the %d records", st, err, len(e.recs))
	}
	horizon := start.Add(2 * time.Minute)
	retention := e.clock.Now().Sub(horizon)
	var gone []string
	for _, r := range e.sorted() {
		if r.Entry.Timestamp.Before(horizon) {
			e.w.DeleteEntry(t, r.Key)
			gone = append(gone, r.Key)
		}
	}
	if len(gone) < 12 {
		t.Fatalf("only %d entries before the horizon", len(gone))
	}
	verify := func(cfg digest.Config) digest.Report {
		t.Helper()
		v, err := digest.NewVerifier(cfg)
		if err != nil {
			t.Fatal(err)
		}
		r, err := v.Verify(t.Context(), time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	cfg := e.cfg()
	cfg.Retention, cfg.Archive = retention, archive.Reader{Bucket: dir}
	r := verify(cfg)
	e.expect(r)
	if r.Entries != len(e.recs) || r.Archived != 0 {
		t.Fatalf("with the archive: %d entries checked (want %d), %d archived", r.Entries, len(e.recs), r.Archived)
	}
	cfg.Archive = nil
	if r := verify(cfg); !r.OK() || r.Archived != len(gone) {
		t.Fatalf("without the archive: %d archived (want %d), findings %s", r.Archived, len(gone), show(r.Findings))
	}
	var deleted []string
	for _, k := range gone {
		deleted = append(deleted, "deleted "+k)
	}
	cfg.Archive = archive.Reader{Bucket: archive.NewDir(t.TempDir())}
	e.expect(verify(cfg), deleted...) // nothing archived them: they were deleted
	// With no retention configured, the same store is a tampered one.
	cfg.Retention, cfg.Archive = 0, nil
	named := map[string]bool{}
	for _, f := range verify(cfg).Findings {
		named[f.Kind+" "+f.Entry] = true
	}
	for _, d := range deleted {
		if !named[d] {
			t.Fatalf("without retention: %q not named", d)
		}
	}
}
