package digesttest

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"

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
	start := time.Now().UTC().Truncate(time.Minute).Add(time.Minute) // after the store's opening entry
	setup := func(t *testing.T, n int) *sealedEnv {
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
		e := &sealedEnv{env: &env{t: t, w: w, signer: signer, clock: &clock{t: start.Add(10 * time.Minute)}}, sw: w, keys: keys, witness: &memWitness{}, recs: map[string]vsecure.AuditRecord{}}
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
	cases := map[string]func(t *testing.T, e *sealedEnv){
		"clean_sealed_log_verifies": func(t *testing.T, e *sealedEnv) {
			e.sealNow()
			r := e.check()
			if r.Entries != 31 || len(r.Findings) != 0 {
				t.Fatalf("%d entries, findings %s", r.Entries, show(r.Findings))
			}
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
			// (one they made, or any found in the data dir) is refused.
			forger, _ := local.NewSigner(make([]byte, 32))
			d := e.allDigests()[0]
			d.Signature, _ = forger.Sign(t.Context(), d.SignedBytes())
			e.w.PutDigest(t, d)
			r := e.check()
			if len(r.Findings) == 0 || r.Findings[0].Kind != digest.BadSignature {
				t.Fatalf("findings %s", show(r.Findings))
			}
		},
		"insert_out_of_order_is_one_inserted": func(t *testing.T, e *sealedEnv) {
			e.sealNow()
			en := e.entries[3]
			en.ID = "log_zzzzzzzzzzzzzforged" // sorts last
			e.sw.PutRecord(t, en.ID, vsecure.AuditRecord{Key: en.ID, Entry: en})
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
				if !rec.Entry.Timestamp.Before(mid.From) && rec.Entry.Timestamp.Before(mid.To) && rec.Entry.Timestamp.Before(e.clock.now().Add(-digest.DefaultGrace-3*digest.DefaultWindow)) {
					want = append(want, "unsealed "+rec.Key)
				}
			}
			next := ds[2].From.Format("15:04:05")
			want = append(want, "chain_broken @"+next, "gap @"+next, "digest_deleted @"+mid.From.Format("15:04:05"))
			e.expect(e.check(), want...)
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

func (e *sealedEnv) cfg() digest.Config {
	return digest.Config{Store: e.w.Store(), Signer: e.signer, Now: e.clock.now, MACKeys: e.keys, Witness: e.witness}
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
	exp := &digest.Export{Header: digest.ExportHeader{ExportedAt: e.clock.now(), KeyID: e.signer.KeyID()}, Records: e.sorted()}
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
