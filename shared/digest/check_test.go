package digest_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/auditlog"
	"github.com/vsecure/vsecure/shared/crypto/local"
	"github.com/vsecure/vsecure/shared/digest"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// mem is a vsecure.AuditDigests held in memory: a unit test of the
// finding logic, with real seals (the stores run digesttest).
type mem struct {
	mu   sync.Mutex
	recs map[string]vsecure.AuditRecord
	ds   map[time.Time]vsecure.Digest
	// cache is recs in time order, until the next change.
	cache []vsecure.AuditRecord
}

func newMem() *mem {
	return &mem{recs: map[string]vsecure.AuditRecord{}, ds: map[time.Time]vsecure.Digest{}}
}

func (m *mem) sorted() []vsecure.AuditRecord {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cache != nil {
		return m.cache
	}
	out := make([]vsecure.AuditRecord, 0, len(m.recs))
	for _, r := range m.recs {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if !a.Entry.Timestamp.Equal(b.Entry.Timestamp) {
			return a.Entry.Timestamp.Before(b.Entry.Timestamp)
		}
		return a.Key < b.Key
	})
	m.cache = out
	return out
}

func (m *mem) AuditRange(_ context.Context, from, to time.Time, fn func(vsecure.AuditRecord) (bool, error)) error {
	for _, r := range m.sorted() {
		if r.Entry.Timestamp.Before(from) || !r.Entry.Timestamp.Before(to) {
			continue
		}
		if more, err := fn(r); err != nil || !more {
			return err
		}
	}
	return nil
}

func (m *mem) OldestAudit(context.Context) (vsecure.Entry, error) {
	rs := m.sorted()
	if len(rs) == 0 {
		return vsecure.Entry{}, vsecure.Errorf(vsecure.ENotFound, "empty")
	}
	return rs[0].Entry, nil
}

func (m *mem) PutDigest(_ context.Context, d vsecure.Digest) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.ds[d.From.UTC()]; ok {
		return vsecure.Errorf(vsecure.EConflict, "exists")
	}
	m.ds[d.From.UTC()] = d
	return nil
}

func (m *mem) digests() []vsecure.Digest {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]vsecure.Digest, 0, len(m.ds))
	for _, d := range m.ds {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].From.Before(out[j].From) })
	return out
}

func (m *mem) DigestBefore(_ context.Context, t time.Time) (vsecure.Digest, error) {
	ds := m.digests()
	for i := len(ds) - 1; i >= 0; i-- {
		if ds[i].From.Before(t) {
			return ds[i], nil
		}
	}
	return vsecure.Digest{}, vsecure.Errorf(vsecure.ENotFound, "no digest")
}

func (m *mem) Digests(_ context.Context, from, to time.Time) ([]vsecure.Digest, error) {
	var out []vsecure.Digest
	for _, d := range m.digests() {
		if d.To.After(from) && d.From.Before(to) {
			out = append(out, d)
		}
	}
	return out, nil
}

func (m *mem) put(r vsecure.AuditRecord) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs[r.Key] = r
	m.cache = nil
}

func (m *mem) del(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.recs, key)
	m.cache = nil
}

// writer seals entries into m the way a store does: an opening entry,
// then one chain position per entry.
type writer struct {
	t    testing.TB
	m    *mem
	keys auditlog.MACKeys
	key  auditlog.Key
	head auditlog.Head
	at   time.Time
	n    int
}

func (w *writer) open(at time.Time, prev *auditlog.Head, extra map[string]string) {
	w.t.Helper()
	k, e, err := auditlog.Open(context.Background(), w.keys, auditlog.NewEpoch(at), fmt.Sprintf("log_open_%d_%d", at.UnixNano(), w.n), "test", at, prev)
	if err != nil {
		w.t.Fatal(err)
	}
	for n, v := range extra {
		e.Metadata[n] = v
	}
	w.key, w.head, w.at = k, auditlog.Head{Epoch: k.Epoch}, at
	w.write(e)
}

func (w *writer) write(e vsecure.Entry) vsecure.AuditRecord {
	s, next := w.key.Seal(w.head, e)
	w.head = next
	r := vsecure.AuditRecord{Key: e.ID, Entry: e, Seal: &s}
	w.m.put(r)
	return r
}

// append writes n entries, one every step.
func (w *writer) append(n int, step time.Duration) []vsecure.AuditRecord {
	var out []vsecure.AuditRecord
	for range n {
		w.at = w.at.Add(step)
		w.n++
		out = append(out, w.write(vsecure.Entry{
			ID: fmt.Sprintf("log_%013d%04d", w.at.UnixMilli(), w.n), Timestamp: w.at, Operation: vsecure.AuditRead,
			Resource: "vsecure://secrets/production/DB", Actor: "agent-1", Success: true,
			Metadata: map[string]string{"requestId": "req_" + strconv.Itoa(w.n)},
		}))
	}
	return out
}

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

type fixture struct {
	t      *testing.T
	m      *mem
	keys   auditlog.MACKeys
	signer *local.Signer
	now    time.Time
	w      *writer
}

func newFixture(t testing.TB) *fixture {
	wrap := make([]byte, 32)
	rand.Read(wrap)
	keys, err := local.NewMACKeys(wrap)
	if err != nil {
		t.Fatal(err)
	}
	seed := make([]byte, 32)
	rand.Read(seed)
	signer, _ := local.NewSigner(seed)
	m := newMem()
	f := &fixture{m: m, keys: keys, signer: signer, now: t0.Add(time.Hour)}
	if tt, ok := t.(*testing.T); ok {
		f.t = tt
	}
	f.w = &writer{t: t, m: m, keys: keys}
	f.w.open(t0, nil, nil)
	return f
}

func (f *fixture) cfg() digest.Config {
	return digest.Config{Store: f.m, Signer: f.signer, MACKeys: f.keys, Now: func() time.Time { return f.now }}
}

func (f *fixture) seal() {
	f.t.Helper()
	s, err := digest.NewSealer(f.cfg())
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := s.Seal(f.t.Context()); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) online() digest.Report {
	f.t.Helper()
	v, err := digest.NewVerifier(f.cfg())
	if err != nil {
		f.t.Fatal(err)
	}
	r, err := v.Verify(f.t.Context(), time.Time{}, time.Time{})
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

func (f *fixture) export() *digest.Export {
	return &digest.Export{Header: digest.ExportHeader{ExportedAt: f.now, KeyID: f.signer.KeyID()}, Records: f.m.sorted(), Digests: f.m.digests()}
}

func (f *fixture) offline() digest.Report {
	f.t.Helper()
	pub, err := digest.ParsePublicKey(f.signer.PublicKeyBase64())
	if err != nil {
		f.t.Fatal(err)
	}
	r, err := digest.VerifyOffline(f.t.Context(), f.export(), pub)
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

func names(r digest.Report) []string {
	var got []string
	for _, x := range r.Findings {
		if x.Entry != "" {
			got = append(got, x.Kind+" "+x.Entry)
		} else {
			got = append(got, x.Kind+" @"+x.Window.Format("15:04:05"))
		}
	}
	slices.Sort(got)
	return got
}

func expect(t *testing.T, what string, r digest.Report, want ...string) {
	t.Helper()
	slices.Sort(want)
	if got := names(r); !slices.Equal(got, want) {
		t.Fatalf("%s findings:\n got %q\nwant %q\n%+v", what, got, want, r.Findings)
	}
}

func TestCleanLogHasNoFindings(t *testing.T) {
	f := newFixture(t)
	f.t = t
	f.w.append(40, 5*time.Second)
	f.now = f.w.at.Add(2 * time.Minute)
	f.seal()
	// A second writer epoch continues the first (a restart) and writes
	// entries after the last digest: MAC-checked online, unsealed offline.
	prev := f.w.head
	f.w.open(f.now.Add(time.Second), &prev, nil)
	f.w.append(3, time.Second)
	f.now = f.w.at.Add(time.Minute)
	r := f.online()
	expect(t, "online", r)
	if r.Entries != 45 || r.Unsealed != 4 {
		t.Fatalf("online: %d entries, %d unsealed", r.Entries, r.Unsealed)
	}
	expect(t, "offline", f.offline())
	f.now = f.w.at.Add(time.Hour)
	f.seal()
	expect(t, "online after sealing", f.online())
	expect(t, "offline after sealing", f.offline())
}

// Each tamper, done after sealing, is one finding naming the record, and
// nothing else is reported.
func TestOneFindingPerTamperedRecord(t *testing.T) {
	for name, c := range map[string]func(f *fixture, rs []vsecure.AuditRecord) (online, offline []string){
		"modified": func(f *fixture, rs []vsecure.AuditRecord) ([]string, []string) {
			r := rs[7]
			r.Entry.Success = false
			f.m.put(r)
			return []string{"modified " + r.Key}, []string{"modified " + r.Key}
		},
		"deleted from the middle": func(f *fixture, rs []vsecure.AuditRecord) ([]string, []string) {
			f.m.del(rs[7].Key)
			return []string{"deleted " + rs[7].Key}, []string{"deleted " + rs[7].Key}
		},
		"forged without a seal": func(f *fixture, rs []vsecure.AuditRecord) ([]string, []string) {
			e := rs[7].Entry
			e.ID = "log_zzzz"
			f.m.put(vsecure.AuditRecord{Key: e.ID, Entry: e})
			return []string{"inserted log_zzzz"}, []string{"inserted log_zzzz"}
		},
		"copied under another key": func(f *fixture, rs []vsecure.AuditRecord) ([]string, []string) {
			r := rs[7]
			r.Key = "log_copy"
			f.m.put(r)
			return []string{"inserted log_copy"}, []string{"inserted log_copy"}
		},
		"two records swapped": func(f *fixture, rs []vsecure.AuditRecord) ([]string, []string) {
			a, b := rs[3], rs[20]
			a.Key, b.Key = b.Key, a.Key
			f.m.put(a)
			f.m.put(b)
			want := []string{"reordered " + a.Key, "reordered " + b.Key}
			return want, want
		},
		"one of a chain's positions claimed twice": func(f *fixture, rs []vsecure.AuditRecord) ([]string, []string) {
			r := rs[9]
			r.Key, r.Entry.ID = "log_dup", "log_dup"
			f.m.put(r) // same seal, other entry: no valid MAC
			return []string{"inserted log_dup"}, []string{"inserted log_dup"}
		},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			f.t = t
			rs := f.w.append(30, 5*time.Second)
			f.seal()
			on, off := c(f, rs)
			expect(t, "online", f.online(), on...)
			expect(t, "offline", f.offline(), off...)
		})
	}
}

// A forged record placed after an epoch's newest entry, linked to it,
// into a window already sealed: no digest has it, so it is inserted, not
// an edit of a genuine entry.
func TestForgedEntryAfterTheNewestEntry(t *testing.T) {
	f := newFixture(t)
	f.t = t
	rs := f.w.append(30, 5*time.Second)
	f.seal()
	last := rs[len(rs)-1]
	e := last.Entry
	e.ID, e.Timestamp = "log_forged", last.Entry.Timestamp.Add(-time.Second)
	mac := bytes.Repeat([]byte{1}, len(last.Seal.MAC))
	f.m.put(vsecure.AuditRecord{Key: e.ID, Entry: e, Seal: &vsecure.AuditSeal{Epoch: last.Seal.Epoch, Seq: last.Seal.Seq + 1, Prev: last.Seal.MAC, MAC: mac}})
	expect(t, "online", f.online(), "inserted log_forged")
	expect(t, "offline", f.offline(), "inserted log_forged")
}

// A DynamoDB writer that lost the answer to a put retires its chain; the
// next epoch names the retired one's last certain Next, and that seq may
// or may not exist: no false deleted either way, a real gap still named.
func TestAmbiguousRetiredEpoch(t *testing.T) {
	for _, written := range []bool{false, true} {
		t.Run(fmt.Sprintf("ambiguous write landed=%v", written), func(t *testing.T) {
			f := newFixture(t)
			f.t = t
			f.w.append(10, 5*time.Second)
			certain := f.w.head
			if written {
				f.w.append(1, 5*time.Second)
			}
			f.w.open(f.w.at.Add(time.Second), &certain, map[string]string{"previousAmbiguous": "true"})
			f.w.append(5, 5*time.Second)
			f.seal()
			expect(t, "online", f.online())
			expect(t, "offline", f.offline())
		})
	}
	t.Run("a certain entry before it deleted", func(t *testing.T) {
		f := newFixture(t)
		f.t = t
		rs := f.w.append(10, 5*time.Second)
		certain := f.w.head
		f.w.open(f.w.at.Add(time.Second), &certain, map[string]string{"previousAmbiguous": "true"})
		f.w.append(5, 5*time.Second)
		f.m.del(rs[9].Key) // the newest certain entry: only the opening entry knows it
		f.seal()
		want := fmt.Sprintf("deleted %s#%d", rs[9].Seal.Epoch, rs[9].Seal.Seq)
		expect(t, "online", f.online(), want)
		expect(t, "offline", f.offline(), want)
	})
}

// A log written before seals is judged by its (version-1 era) digests
// alone: clean is clean, a change is modified, an extra entry inserted.
func TestUnsealedLegacyEntries(t *testing.T) {
	f := newFixture(t)
	f.t = t
	f.m = newMem() // no opening entry, no seals
	f.w.m = f.m
	var es []vsecure.Entry
	for i := range 20 {
		at := t0.Add(time.Duration(i) * 10 * time.Second)
		e := vsecure.Entry{ID: fmt.Sprintf("log_%013d%04d", at.UnixMilli(), i), Timestamp: at, Operation: vsecure.AuditRead, Actor: "a", Success: true}
		f.m.put(vsecure.AuditRecord{Key: e.ID, Entry: e})
		es = append(es, e)
	}
	cfg := f.cfg()
	cfg.MACKeys = nil
	s, _ := digest.NewSealer(cfg)
	if _, err := s.Seal(t.Context()); err != nil {
		t.Fatal(err)
	}
	expect(t, "online", f.online())
	expect(t, "offline", f.offline())
	e := es[4]
	e.Actor = "b"
	f.m.put(vsecure.AuditRecord{Key: e.ID, Entry: e})
	x := es[5]
	x.ID = "log_x"
	f.m.put(vsecure.AuditRecord{Key: x.ID, Entry: x})
	f.m.del(es[6].ID)
	expect(t, "online", f.online(), "modified "+e.ID, "inserted log_x", "deleted "+es[6].ID)
	expect(t, "offline", f.offline(), "modified "+e.ID, "inserted log_x", "deleted "+es[6].ID)
}

// TestIdleEpochIsFoundByAFreshSealer: a writer idle across a whole digest
// (a Lambda container between requests) writes again after the sealer
// restarted (a new audit-digest container). No digest the new sealer reads
// names the idle epoch, so it finds the epoch's key from the time its id
// carries; its new entries are sealed as genuine, and nothing is reported.
func TestIdleEpochIsFoundByAFreshSealer(t *testing.T) {
	f := newFixture(t)
	f.t = t
	f.w.append(5, 10*time.Second)
	f.now = f.w.at.Add(2 * time.Minute)
	f.seal()
	other := &writer{t: t, m: f.m, keys: f.keys}
	other.open(f.now, nil, nil)
	other.n = 1000
	other.append(20, 30*time.Second)
	f.now = other.at.Add(2 * time.Minute)
	f.seal() // a digest naming only the other epoch
	f.w.at = f.now
	f.w.append(5, 10*time.Second) // the idle writer again
	f.now = f.w.at.Add(2 * time.Minute)
	f.seal() // a fresh sealer: it never saw the first epoch's head
	expect(t, "online", f.online())
	expect(t, "offline", f.offline())
}
