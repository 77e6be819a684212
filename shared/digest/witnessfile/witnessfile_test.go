package witnessfile

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/digest"
)

func rec(i int) digest.WitnessRecord {
	from := time.Date(2026, 5, 1, 10, i, 0, 0, time.UTC)
	return digest.WitnessRecord{DigestFrom: from, DigestTo: from.Add(time.Minute), DigestHash: strings.Repeat("ab", 16) + string(rune('a'+i%26)), At: from.Add(90 * time.Second)}
}

func open(t *testing.T, path string) *File {
	t.Helper()
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func TestAppendReadBackAcrossReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keys", Name)
	w := open(t, path)
	if got, err := w.Records(ctx); err != nil || len(got) != 0 {
		t.Fatalf("new witness: %v, %v; want none", got, err)
	}
	for i := range 3 {
		if err := w.Append(ctx, rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v; want 0600", st.Mode().Perm(), err)
	}
	w = open(t, path)
	if err := w.Append(ctx, rec(3)); err != nil {
		t.Fatal(err)
	}
	got, err := w.Records(ctx)
	if err != nil || len(got) != 4 {
		t.Fatalf("records %v, %v; want 4", got, err)
	}
	for i, r := range got {
		if want := rec(i); !r.DigestFrom.Equal(want.DigestFrom) || r.DigestHash != want.DigestHash || !r.At.Equal(want.At) {
			t.Errorf("record %d = %+v; want %+v", i, r, want)
		}
	}
}

func TestConcurrentAppendsAreWholeLines(t *testing.T) {
	ctx := context.Background()
	w := open(t, filepath.Join(t.TempDir(), Name))
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			if err := w.Append(ctx, rec(i)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got, err := w.Records(ctx); err != nil || len(got) != 40 {
		t.Fatalf("got %d records, %v; want 40", len(got), err)
	}
}

func TestRefusesFileOthersCanRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), Name)
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("Open of a 0644 witness: %v; want a refusal", err)
	}
	w := open(t, filepath.Join(t.TempDir(), Name))
	if err := os.Chmod(w.path, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Records(context.Background()); err == nil {
		t.Fatal("Records of a file made group-readable: no error")
	}
}

func TestTornLastLine(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), Name)
	w := open(t, path)
	for i := range 2 {
		if err := w.Append(ctx, rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	// A crash in the middle of the third append.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"digestFrom":"2026-05-01T10:0`); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if got, err := w.Records(ctx); err != nil || len(got) != 2 {
		t.Fatalf("read with a torn last line: %d records, %v; want the 2 whole ones", len(got), err)
	}
	w.Close()
	// Reopening cuts the torn tail, so the next record is a line of its own.
	w = open(t, path)
	if err := w.Append(ctx, rec(2)); err != nil {
		t.Fatal(err)
	}
	got, err := w.Records(ctx)
	if err != nil || len(got) != 3 || got[2].DigestHash != rec(2).DigestHash {
		t.Fatalf("after reopen: %+v, %v; want 3 records", got, err)
	}
}

func TestCorruptLineInsideIsAnError(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), Name)
	w := open(t, path)
	if err := w.Append(ctx, rec(0)); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("not json\n")
	f.Close()
	if err := w.Append(ctx, rec(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Records(ctx); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("Records over an edited line: %v; want an error naming line 2", err)
	}
}
