// Package digesttest proves, against every store, that digest.Verify
// catches tampering done directly in the store (bbolt bucket edits,
// DynamoDB PutItem/DeleteItem on the audit table), bypassing vsecure
// entirely, and names what was touched.
package digesttest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vsecure/vsecure/internal/testclock"
	"github.com/vsecure/vsecure/shared/crypto/local"
	"github.com/vsecure/vsecure/shared/digest"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// World is a fresh store plus raw access to its storage. Tampering may
// replace the store (the embedded world closes and reopens its file), so
// tests always ask Store() again afterwards.
type World interface {
	Store() vsecure.Store
	// DeleteEntry removes the record stored under key.
	DeleteEntry(t *testing.T, key string)
	// PutEntry overwrites the record stored under key with e.
	PutEntry(t *testing.T, key string, e vsecure.Entry)
	// Swap exchanges two records: each key then holds the other's entry
	// (and seal). How an index orders records is no evidence: the
	// verifier orders chains by Seq.
	Swap(t *testing.T, a, b string)
	// DeleteDigest removes the digest of the window starting at from.
	DeleteDigest(t *testing.T, from time.Time)
	// PutDigest overwrites the digest of d's window with d.
	PutDigest(t *testing.T, d vsecure.Digest)
}

// base is aligned to the 5-minute window.
var base = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// legacy keeps the windows these cases were written for.
var legacy = digest.Config{Window: 5 * time.Minute, Grace: 2 * time.Minute}

type env struct {
	t       *testing.T
	w       World
	signer  *local.Signer
	clock   *testclock.Clock
	entries []vsecure.Entry // oldest first
}

// entry is the i-th audit entry: one every 20 s from base.
func entry(i int) vsecure.Entry {
	at := base.Add(time.Duration(i) * 20 * time.Second)
	return vsecure.Entry{
		ID:        fmt.Sprintf("log_%013d%04d", at.UnixMilli(), i),
		Timestamp: at, Resource: "vsecure://secrets/production/DB", Operation: vsecure.AuditRead,
		Actor: "agent-1", Success: true, Metadata: map[string]string{"requestId": fmt.Sprintf("req_%d", i)},
	}
}

// setup appends 30 entries (windows 09:00 and 09:05), seals at 09:20 and
// checks the untouched log verifies.
func setup(t *testing.T, w World, cfg digest.Config) *env {
	seed := make([]byte, 32)
	seed[0] = 7
	signer, err := local.NewSigner(seed)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, w: w, signer: signer, clock: testclock.New(base.Add(20 * time.Minute))}
	for i := range 30 {
		en := entry(i)
		if err := w.Store().AppendAudit(t.Context(), en); err != nil {
			t.Fatal(err)
		}
		e.entries = append(e.entries, en)
	}
	ds := e.seal(cfg)
	if len(ds) == 0 {
		t.Fatal("nothing sealed")
	}
	e.mustVerify(time.Time{}, time.Time{})
	return e
}

func (e *env) config(cfg digest.Config) digest.Config {
	if cfg.Window == 0 {
		cfg.Window, cfg.Grace = legacy.Window, legacy.Grace
	}
	cfg.Store, cfg.Signer, cfg.Now = e.w.Store(), e.signer, e.clock.Now
	return cfg
}

func (e *env) seal(cfg digest.Config) []vsecure.Digest {
	e.t.Helper()
	s, err := digest.NewSealer(e.config(cfg))
	if err != nil {
		e.t.Fatal(err)
	}
	ds, err := s.Seal(e.t.Context())
	if err != nil {
		e.t.Fatalf("Seal: %v", err)
	}
	return ds
}

func (e *env) verify(from, to time.Time) digest.Report {
	e.t.Helper()
	v, err := digest.NewVerifier(e.config(digest.Config{}))
	if err != nil {
		e.t.Fatal(err)
	}
	r, err := v.Verify(e.t.Context(), from, to)
	if err != nil {
		e.t.Fatalf("Verify: %v", err)
	}
	return r
}

func (e *env) mustVerify(from, to time.Time) digest.Report {
	e.t.Helper()
	r := e.verify(from, to)
	if !r.OK() {
		e.t.Fatalf("untouched log: findings %s", show(r.Findings))
	}
	return r
}

// expect checks the findings are exactly want (kind + entry, or kind +
// window for digest findings), in any order.
func (e *env) expect(r digest.Report, want ...string) {
	e.t.Helper()
	var got []string
	for _, f := range r.Findings {
		if f.Entry != "" {
			got = append(got, f.Kind+" "+f.Entry)
		} else {
			got = append(got, f.Kind+" @"+f.Window.Format("15:04:05"))
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		e.t.Fatalf("findings:\n got %q\nwant %q\n%s", got, want, show(r.Findings))
	}
}

func show(fs []digest.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "  %s %s @%s: %s\n", f.Kind, f.Entry, f.Window.Format(time.RFC3339), f.Detail)
	}
	return b.String()
}

func (e *env) digests() []vsecure.Digest {
	e.t.Helper()
	ds, err := e.w.Store().Digests(e.t.Context(), time.Time{}, base.Add(24*time.Hour))
	if err != nil {
		e.t.Fatal(err)
	}
	return ds
}

// Run runs every tamper case against fresh worlds.
func Run(t *testing.T, newWorld func(t *testing.T) World) {
	cases := map[string]func(t *testing.T, w World){
		"untouched_log_verifies_in_any_range": func(t *testing.T, w World) {
			e := setup(t, w, digest.Config{})
			ds := e.digests()
			if len(ds) != 3 || ds[0].Count != 15 || ds[1].Count != 15 || ds[2].Count != 0 {
				t.Fatalf("digests: %d (want 09:00 with 15, 09:05 with 15, an empty 09:10)", len(ds))
			}
			r := e.mustVerify(base.Add(7*time.Minute), base.Add(8*time.Minute)) // inside the second window
			if r.Digests != 1 || r.Entries != 15 {
				t.Fatalf("sub-range checked %d digests, %d entries; want 1, 15", r.Digests, r.Entries)
			}
		},
		"deleted_entry_is_named": func(t *testing.T, w World) {
			e := setup(t, w, digest.Config{})
			w.DeleteEntry(t, e.entries[4].ID)
			e.expect(e.verify(time.Time{}, time.Time{}), "deleted "+e.entries[4].ID)
		},
		"modified_entry_is_named": func(t *testing.T, w World) {
			e := setup(t, w, digest.Config{})
			en := e.entries[20]
			en.Success, en.Error = false, "forbidden"
			w.PutEntry(t, en.ID, en)
			e.expect(e.verify(time.Time{}, time.Time{}), "modified "+en.ID)
		},
		"modified_metadata_is_named": func(t *testing.T, w World) {
			e := setup(t, w, digest.Config{})
			en := e.entries[3]
			en.Metadata = map[string]string{"requestId": "req_3", "ipAddress": "10.0.0.1"}
			w.PutEntry(t, en.ID, en)
			e.expect(e.verify(time.Time{}, time.Time{}), "modified "+en.ID)
		},
		"inserted_entry_is_named": func(t *testing.T, w World) {
			e := setup(t, w, digest.Config{})
			en := entry(100)
			at := base.Add(2*time.Minute + 5*time.Second)
			en.ID, en.Timestamp = fmt.Sprintf("log_%013dforged", at.UnixMilli()), at
			w.PutEntry(t, en.ID, en)
			e.expect(e.verify(time.Time{}, time.Time{}), "inserted "+en.ID)
		},
		"entry_appended_late_into_a_sealed_window_is_named": func(t *testing.T, w World) {
			e := setup(t, w, digest.Config{})
			en := entry(100)
			en.ID, en.Timestamp = fmt.Sprintf("log_%013dlate", base.Add(6*time.Minute).UnixMilli()), base.Add(6*time.Minute)
			if err := w.Store().AppendAudit(t.Context(), en); err != nil {
				t.Fatal(err)
			}
			e.expect(e.verify(time.Time{}, time.Time{}), "inserted "+en.ID)
		},
		"reordered_entries_are_named": func(t *testing.T, w World) {
			e := setup(t, w, digest.Config{})
			a, b := e.entries[16], e.entries[18]
			w.Swap(t, a.ID, b.ID)
			// Each key now holds the other's entry: both are named, and
			// nothing else (the entries themselves are intact).
			e.expect(e.verify(time.Time{}, time.Time{}), "reordered "+a.ID, "reordered "+b.ID)
		},
		"deleted_digest_breaks_the_chain": func(t *testing.T, w World) {
			e := setup(t, w, digest.Config{})
			w.DeleteDigest(t, base.Add(5*time.Minute))
			e.expect(e.verify(time.Time{}, time.Time{}), "chain_broken @09:10:00", "gap @09:10:00")
		},
		"deleted_first_digest_breaks_the_chain": func(t *testing.T, w World) {
			e := setup(t, w, digest.Config{})
			w.DeleteDigest(t, base)
			// The first window's entries have no digest now; those older
			// than the schedule allows are named too.
			want := []string{"chain_broken @09:05:00"}
			for _, en := range e.entries[:9] { // before 09:03 (09:20 - grace - 3 windows)
				want = append(want, "unsealed "+en.ID)
			}
			e.expect(e.verify(time.Time{}, time.Time{}), want...)
		},
		"deleted_newest_digests_leave_entries_unsealed": func(t *testing.T, w World) {
			e := setup(t, w, digest.Config{})
			w.DeleteDigest(t, base.Add(10*time.Minute))
			w.DeleteDigest(t, base.Add(5*time.Minute))
			e.clock.Set(base.Add(time.Hour)) // the sealer should have run since
			var want []string
			for _, en := range e.entries[15:] {
				want = append(want, "unsealed "+en.ID)
			}
			e.expect(e.verify(time.Time{}, time.Time{}), want...)
		},
		"altered_digest_fails_its_signature": func(t *testing.T, w World) {
			e := setup(t, w, digest.Config{})
			d := e.digests()[0]
			w.DeleteEntry(t, d.Entries[2].ID) // hide a deletion by editing the digest
			d.Entries = slices.Delete(d.Entries, 2, 3)
			d.Count--
			w.PutDigest(t, d)
			e.expect(e.verify(time.Time{}, time.Time{}), "bad_signature @09:00:00", "chain_broken @09:05:00")
		},
		"digest_signed_by_another_key_is_refused": func(t *testing.T, w World) {
			e := setup(t, w, digest.Config{})
			forger, _ := local.NewSigner(make([]byte, 32))
			d := e.digests()[1]
			w.DeleteEntry(t, d.Entries[0].ID)
			d.Entries, d.Count = d.Entries[1:], d.Count-1
			d.KeyID, d.Algorithm = forger.KeyID(), forger.Algorithm()
			d.Signature, _ = forger.Sign(t.Context(), d.SignedBytes())
			w.PutDigest(t, d)
			e.expect(e.verify(time.Time{}, time.Time{}), "bad_signature @09:05:00", "chain_broken @09:10:00")
		},
		"late_entry_within_grace_is_sealed": func(t *testing.T, w World) {
			e := setup(t, w, digest.Config{})
			// 09:20:30: the 09:15 window closed 30 s ago, inside the
			// grace; an entry stamped 09:19:59 arrives late.
			e.clock.Set(base.Add(20*time.Minute + 30*time.Second))
			at := base.Add(19*time.Minute + 59*time.Second)
			en := entry(100)
			en.ID, en.Timestamp = fmt.Sprintf("log_%013dlate", at.UnixMilli()), at
			if err := w.Store().AppendAudit(t.Context(), en); err != nil {
				t.Fatal(err)
			}
			e.clock.Set(base.Add(23 * time.Minute))
			e.seal(digest.Config{})
			r := e.mustVerify(time.Time{}, time.Time{})
			if r.Entries != 31 || r.Unsealed != 0 {
				t.Fatalf("verified %d entries, %d unsealed; want 31, 0", r.Entries, r.Unsealed)
			}
		},
		"full_windows_are_split": func(t *testing.T, w World) {
			e := setup(t, w, digest.Config{MaxEntries: 4})
			ds := e.digests()
			n := 0
			for _, d := range ds {
				if d.Count > 4 {
					t.Fatalf("digest from %s holds %d entries", d.From, d.Count)
				}
				n += d.Count
			}
			if n != 30 || len(ds) < 8 {
				t.Fatalf("%d digests holding %d entries", len(ds), n)
			}
			w.DeleteEntry(t, e.entries[9].ID)
			e.expect(e.verify(time.Time{}, time.Time{}), "deleted "+e.entries[9].ID)
		},
		"concurrent_sealers_keep_one_chain": func(t *testing.T, w World) {
			seed := make([]byte, 32)
			signer, _ := local.NewSigner(seed)
			for i := range 30 {
				if err := w.Store().AppendAudit(t.Context(), entry(i)); err != nil {
					t.Fatal(err)
				}
			}
			e := &env{t: t, w: w, signer: signer, clock: testclock.New(base.Add(time.Hour))}
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() { e.seal(digest.Config{}) })
			}
			wg.Wait()
			e.seal(digest.Config{}) // finish whatever a lost race left
			e.mustVerify(time.Time{}, time.Time{})
		},
	}
	names := make([]string, 0, len(cases))
	for n := range cases {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		t.Run(n, func(t *testing.T) {
			t.Parallel()
			cases[n](t, newWorld(t))
		})
	}
}
