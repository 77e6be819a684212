package archive_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/archive"
	"github.com/vsecure/vsecure/shared/crypto/local"
	"github.com/vsecure/vsecure/shared/digest"
	"github.com/vsecure/vsecure/shared/store/embedded"
	"github.com/vsecure/vsecure/shared/vsecure"
)

type world struct {
	store  *embedded.Store
	signer *local.Signer
	now    time.Time
	dir    string
	ids    []string
}

// newWorld seals 75 entries, one every two minutes over two and a half
// hours from the next full hour, and seals the log four hours on.
func newWorld(t *testing.T) *world {
	wrap := make([]byte, 32)
	rand.Read(wrap)
	keys, err := local.NewMACKeys(wrap)
	if err != nil {
		t.Fatal(err)
	}
	s, err := embedded.Open(filepath.Join(t.TempDir(), "vsecure.db"), embedded.WithSeal(keys, "test"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	seed := make([]byte, 32)
	rand.Read(seed)
	signer, _ := local.NewSigner(seed)
	start := time.Now().UTC().Truncate(time.Hour).Add(time.Hour)
	w := &world{store: s, signer: signer, now: start.Add(4 * time.Hour), dir: t.TempDir()}
	for i := range 75 {
		at := start.Add(time.Duration(i) * 2 * time.Minute)
		e := vsecure.Entry{ID: fmt.Sprintf("log_%013d%04d", at.UnixMilli(), i), Timestamp: at,
			Resource: "vsecure://secrets/production/DB", Operation: vsecure.AuditRead, Actor: "agent-1", Success: true,
			Metadata: map[string]string{"requestId": fmt.Sprintf("req_%d", i)}}
		if err := s.AppendAudit(t.Context(), e); err != nil {
			t.Fatal(err)
		}
		w.ids = append(w.ids, e.ID)
	}
	sealer, err := digest.NewSealer(digest.Config{Store: s, Signer: signer, MACKeys: keys, Now: w.clock})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sealer.Seal(t.Context()); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) clock() time.Time { return w.now }

func (w *world) archive(t *testing.T) archive.Stats {
	t.Helper()
	a, err := archive.New(archive.Config{Store: w.store, Bucket: archive.NewDir(w.dir), Now: w.clock})
	if err != nil {
		t.Fatal(err)
	}
	st, err := a.Archive(t.Context())
	if err != nil {
		t.Fatalf("Archive: %v", err)
	}
	return st
}

func (w *world) files(t *testing.T) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(w.dir, func(p string, e os.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			out = append(out, p)
		}
		return nil
	})
	slices.Sort(out)
	return out
}

func (w *world) verify(t *testing.T, name string) digest.Report {
	t.Helper()
	exp, err := archive.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := digest.ParsePublicKey(w.signer.PublicKeyBase64())
	if err != nil {
		t.Fatal(err)
	}
	r, err := digest.VerifyOffline(t.Context(), exp, pub)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func findings(r digest.Report) []string {
	var got []string
	for _, f := range r.Findings {
		if f.Entry != "" {
			got = append(got, f.Kind+" "+f.Entry)
		} else {
			got = append(got, f.Kind+" @"+f.Window.Format("15:04"))
		}
	}
	slices.Sort(got)
	return got
}

func TestArchiveWritesEachSealedHourOnceAndResumes(t *testing.T) {
	w := newWorld(t)
	st := w.archive(t)
	// The store's opening entry's hour, then the three hours of entries;
	// the fourth hour is not sealed to its end yet.
	if st.Objects != 4 || st.Records != 76 {
		t.Fatalf("first run: %+v, want 4 objects holding the 76 records", st)
	}
	if st.Lag <= 0 || st.Lag > 2*time.Hour {
		t.Fatalf("lag %s", st.Lag)
	}
	files := w.files(t)
	if len(files) != 4 {
		t.Fatalf("files %q", files)
	}
	before, _ := os.ReadFile(files[3])
	if again := w.archive(t); again.Objects != 0 || !again.Through.Equal(st.Through) {
		t.Fatalf("second run: %+v, want nothing new through %s", again, st.Through)
	}
	// Lose the newest object (a crash before it was acknowledged): the
	// next run writes it again, byte for byte.
	os.Remove(files[3])
	if again := w.archive(t); again.Objects != 1 {
		t.Fatalf("after losing the newest object: %+v", again)
	}
	after, _ := os.ReadFile(files[3])
	if !bytes.Equal(before, after) {
		t.Fatal("the rewritten object differs")
	}
	r := w.verify(t, w.dir)
	if !r.OK() || r.Entries != 76 || r.Unsealed != 0 {
		t.Fatalf("offline: %d entries, %d unsealed, findings %q", r.Entries, r.Unsealed, findings(r))
	}
	if r := w.verify(t, files[1]); !r.OK() || r.Entries != 30 {
		t.Fatalf("one hour offline: %d entries, findings %q", r.Entries, findings(r))
	}
}

func TestDirPutNeverReplaces(t *testing.T) {
	d := archive.NewDir(t.TempDir())
	key := archive.Key(time.Unix(0, 0), time.Unix(3600, 0))
	if err := d.Put(t.Context(), key, []byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := d.Put(t.Context(), key, []byte("a")); err != nil {
		t.Fatalf("same bytes again: %v", err)
	}
	if err := d.Put(t.Context(), key, []byte("b")); !errors.Is(err, archive.ErrDiffers) {
		t.Fatalf("other bytes: %v, want ErrDiffers", err)
	}
	if b, _ := d.Get(t.Context(), key); string(b) != "a" {
		t.Fatalf("object holds %q", b)
	}
}

// rewrite decodes an archive file, lets edit change it, and writes it back
// as an insider with the downloaded files would.
func rewrite(t *testing.T, name string, edit func(exp *digest.Export)) {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	exp, err := archive.Decode(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	edit(exp)
	b, err := archive.Encode(exp)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestTamperingInsideAnArchiveIsNamed(t *testing.T) {
	cases := map[string]func(t *testing.T, w *world, file string) []string{
		"edited_record_is_modified": func(t *testing.T, w *world, file string) []string {
			var id string
			rewrite(t, file, func(exp *digest.Export) {
				exp.Records[3].Entry.Actor = "someone-else"
				id = exp.Records[3].Key
			})
			return []string{"modified " + id}
		},
		"deleted_record_is_deleted": func(t *testing.T, w *world, file string) []string {
			var id string
			rewrite(t, file, func(exp *digest.Export) {
				id = exp.Records[5].Key
				exp.Records = slices.Delete(exp.Records, 5, 6)
			})
			return []string{"deleted " + id}
		},
		"inserted_record_is_inserted": func(t *testing.T, w *world, file string) []string {
			forged := vsecure.AuditRecord{}
			rewrite(t, file, func(exp *digest.Export) {
				forged = exp.Records[7]
				forged.Entry.ID = forged.Entry.ID + "x"
				forged.Key = forged.Entry.ID
				forged.Entry.Actor = "mallory"
				exp.Records = slices.Insert(exp.Records, 8, forged)
			})
			return []string{"inserted " + forged.Key}
		},
		"deleted_object_breaks_the_chain": func(t *testing.T, w *world, file string) []string {
			gone, _ := archive.Open(file)
			os.Remove(file)
			next, _ := archive.Open(w.files(t)[1])
			at := next.Digests[0].From.Format("15:04")
			// The later digests' chain heads prove every entry of the
			// lost hour was written: each is named by its place.
			want := []string{"chain_broken @" + at, "gap @" + at}
			for _, r := range gone.Records {
				want = append(want, fmt.Sprintf("deleted %s#%d", r.Seal.Epoch, r.Seal.Seq))
			}
			return want
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t)
			w.archive(t)
			file := w.files(t)[1]
			want := tc(t, w, file)
			slices.Sort(want)
			if got := findings(w.verify(t, w.dir)); !slices.Equal(got, want) {
				t.Fatalf("directory: findings %q, want %q", got, want)
			}
			if name != "deleted_object_breaks_the_chain" {
				if got := findings(w.verify(t, file)); !slices.Equal(got, want) {
					t.Fatalf("object alone: findings %q, want %q", got, want)
				}
			}
		})
	}
}
