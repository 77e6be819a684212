package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

var testEpoch = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// TestReleaseIsReproducible builds this machine's platform twice, through
// the same release() that `make release` runs for all five, into two
// directories at different times, and compares the bytes. Then it checks
// what makes them equal (entry order, mtime, owner, gzip header) and that
// the binary reports the version the release stamped.
func TestReleaseIsReproducible(t *testing.T) {
	module, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	commit, err := headCommit(context.Background(), module)
	if err != nil {
		t.Fatal(err)
	}
	host := platform{runtime.GOOS, runtime.GOARCH}
	const version = "v0.0.0-reprotest"
	var sums [2][]byte
	var archives [2][]byte
	var names []string
	for i := range 2 {
		out := t.TempDir()
		var log bytes.Buffer
		names, err = release(context.Background(), config{module: module, out: out, version: version, commit: commit, epoch: testEpoch, platforms: []platform{host}, log: &log})
		if err != nil {
			t.Fatal(err)
		}
		t.Log(strings.TrimSpace(log.String()))
		if sums[i], err = os.ReadFile(filepath.Join(out, "SHA256SUMS")); err != nil {
			t.Fatal(err)
		}
		if archives[i], err = os.ReadFile(filepath.Join(out, names[0])); err != nil {
			t.Fatal(err)
		}
		// SHA256SUMS checks as sha256sum -c would.
		check, err := sha256sums([]string{filepath.Join(out, names[0])})
		if err != nil || !bytes.Equal(check, sums[i]) {
			t.Fatalf("SHA256SUMS %q does not match the archive (%q, %v)", sums[i], check, err)
		}
	}
	if !bytes.Equal(sums[0], sums[1]) || !bytes.Equal(archives[0], archives[1]) {
		t.Fatalf("two builds of the same tree differ:\n%s%s", sums[0], sums[1])
	}
	t.Logf("both builds: %s", sums[0])

	base := "vsecure-" + version + "-" + host.os + "-" + host.arch
	exe := "vsecure"
	if host.os == "windows" {
		exe += ".exe"
	}
	var entries []file
	if host.os == "windows" {
		entries = readZip(t, archives[0])
	} else {
		entries = readTarGz(t, archives[0])
	}
	if len(entries) != 2 || entries[0].name != base+"/README.md" || entries[1].name != base+"/"+exe {
		t.Fatalf("entries %v, want README.md and %s under %s/, sorted", entryNames(entries), exe, base)
	}
	if entries[0].mode != 0o644 || entries[1].mode != 0o755 {
		t.Errorf("modes %v %v, want 0644 and 0755", entries[0].mode, entries[1].mode)
	}

	bin := filepath.Join(t.TempDir(), exe)
	if err := os.WriteFile(bin, entries[1].data, 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := exec.Command(bin, "version", "--json").Output()
	if err != nil {
		t.Fatalf("%s version: %v", bin, err)
	}
	var info struct{ Version, Commit, Go string }
	if err := json.Unmarshal(got, &info); err != nil {
		t.Fatalf("%s: %v", got, err)
	}
	if info.Version != version || info.Commit != commit || info.Go != runtime.Version() {
		t.Errorf("vsecure version of the released binary: %s; want version %s, commit %s, %s", got, version, commit, runtime.Version())
	}
}

// The archive writers' output depends only on the entries and the time,
// not on the order they come in. Both formats, with no build: Windows' zip
// is not this machine's platform in the test above.
func TestArchivesIgnoreInputOrder(t *testing.T) {
	files := []file{
		{name: "vsecure-v1-x/vsecure", mode: 0o755, data: bytes.Repeat([]byte("binary"), 1000)},
		{name: "vsecure-v1-x/README.md", mode: 0o644, data: []byte("# vsecure\n")},
	}
	reversed := []file{files[1], files[0]}
	for _, tc := range []struct {
		name  string
		write func(io.Writer, []file, time.Time) error
		read  func(*testing.T, []byte) []file
	}{
		{"tar.gz", writeTarGz, readTarGz},
		{"zip", writeZip, readZip},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a, b bytes.Buffer
			if err := tc.write(&a, files, testEpoch); err != nil {
				t.Fatal(err)
			}
			if err := tc.write(&b, reversed, testEpoch); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a.Bytes(), b.Bytes()) {
				t.Fatal("the same entries in another order give other bytes")
			}
			got := tc.read(t, a.Bytes())
			if len(got) != 2 || got[0].name != files[1].name || got[1].mode != 0o755 || !bytes.Equal(got[1].data, files[0].data) {
				t.Errorf("read back %v", entryNames(got))
			}
		})
	}
}

func entryNames(fs []file) []string {
	var n []string
	for _, f := range fs {
		n = append(n, f.name+" "+f.mode.String())
	}
	return n
}

// readTarGz reads the archive back, failing on anything machine-dependent.
func readTarGz(t *testing.T, b []byte) []file {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if gz.Name != "" || !gz.ModTime.IsZero() || gz.Comment != "" {
		t.Errorf("gzip header carries name %q, mtime %v, comment %q", gz.Name, gz.ModTime, gz.Comment)
	}
	var out []file
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !h.ModTime.Equal(testEpoch) || h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" || h.Typeflag != tar.TypeReg || len(h.PAXRecords) > 0 {
			t.Errorf("%s: mtime %v, owner %d:%d %q:%q, type %c, pax %v; want %v, 0:0, no names, a regular file, no pax", h.Name, h.ModTime, h.Uid, h.Gid, h.Uname, h.Gname, h.Typeflag, h.PAXRecords, testEpoch)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, file{name: h.Name, mode: os.FileMode(h.Mode), data: data})
	}
	return out
}

func readZip(t *testing.T, b []byte) []file {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	var out []file
	for _, f := range zr.File {
		if !f.Modified.Equal(testEpoch) {
			t.Errorf("%s: modified %v, want %v", f.Name, f.Modified, testEpoch)
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, file{name: f.Name, mode: f.Mode().Perm(), data: data})
	}
	return out
}
