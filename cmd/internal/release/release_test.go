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
	"slices"
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
	exe := func(name string) string {
		if host.os == "windows" {
			return name + ".exe"
		}
		return name
	}
	var entries []file
	if host.os == "windows" {
		entries = readZip(t, archives[0])
	} else {
		entries = readTarGz(t, archives[0])
	}
	want := []string{base + "/README.md", base + "/" + exe("vsecure"), base + "/" + exe("vsecure-aws")}
	var got []string
	for _, e := range entries {
		got = append(got, e.name)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("entries %v, want %v, sorted", entryNames(entries), want)
	}
	if entries[0].mode != 0o644 || entries[1].mode != 0o755 || entries[2].mode != 0o755 {
		t.Errorf("modes %v %v %v, want 0644, 0755 and 0755", entries[0].mode, entries[1].mode, entries[2].mode)
	}

	// Both binaries report the version the release stamped; only the
	// companion links the AWS SDK.
	for i, name := range []string{"vsecure", "vsecure-aws"} {
		bin := filepath.Join(t.TempDir(), exe(name))
		if err := os.WriteFile(bin, entries[i+1].data, 0o755); err != nil {
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
			t.Errorf("%s version of the released binary: %s; want version %s, commit %s, %s", name, got, version, commit, runtime.Version())
		}
		mods, err := exec.Command("go", "version", "-m", bin).Output()
		if err != nil {
			t.Fatal(err)
		}
		if links := bytes.Contains(mods, []byte("github.com/aws/aws-sdk-go-v2/service/dynamodb")); links != (name == "vsecure-aws") {
			t.Errorf("%s links the AWS SDK: %v", name, links)
		}
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

// A bundle restamped is a function of its entries: two packs of the same
// files at other times, in another order, with other modes of the same
// kind, come out byte-equal, at the release's time, with each entry's
// compressed bytes as the packer made them.
func TestRestampZip(t *testing.T) {
	pack := func(at time.Time, order []int) []byte {
		t.Helper()
		entries := []struct {
			name string
			mode os.FileMode
			data []byte
		}{
			{"server/vsecure-linux-amd64", 0o700, bytes.Repeat([]byte("binary"), 5000)},
			{"manifest.json", 0o664, []byte(`{"name":"vsecure"}`)},
			{"server/vsecure", 0o775, []byte("#!/bin/sh\n")},
		}
		var b bytes.Buffer
		zw := zip.NewWriter(&b)
		for _, i := range order {
			e := entries[i]
			h := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: at}
			h.SetMode(e.mode)
			w, err := zw.CreateHeader(h)
			if err != nil {
				t.Fatal(err)
			}
			w.Write(e.data)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	restamp := func(in []byte) []byte {
		t.Helper()
		var out bytes.Buffer
		if err := restampZip(bytes.NewReader(in), int64(len(in)), &out, testEpoch); err != nil {
			t.Fatal(err)
		}
		return out.Bytes()
	}
	first := pack(time.Date(2026, 12, 2, 9, 15, 4, 0, time.UTC), []int{0, 1, 2})
	a, b := restamp(first), restamp(pack(time.Date(2027, 1, 5, 23, 59, 58, 0, time.UTC), []int{2, 0, 1}))
	if !bytes.Equal(a, b) {
		t.Fatal("the same entries packed at another time, in another order, give other bytes")
	}
	got := readZip(t, a) // checks every entry's time
	if names := entryNames(got); !slices.Equal(names, []string{"manifest.json -rw-r--r--", "server/vsecure -rwxr-xr-x", "server/vsecure-linux-amd64 -rwxr-xr-x"}) {
		t.Fatalf("entries %v", names)
	}
	if !bytes.Equal(got[2].data, bytes.Repeat([]byte("binary"), 5000)) {
		t.Fatal("content changed")
	}
	src, _ := zip.NewReader(bytes.NewReader(first), int64(len(first)))
	dst, _ := zip.NewReader(bytes.NewReader(a), int64(len(a)))
	for _, f := range dst.File {
		i := slices.IndexFunc(src.File, func(s *zip.File) bool { return s.Name == f.Name })
		if s := src.File[i]; f.Method != s.Method || f.CRC32 != s.CRC32 || f.CompressedSize64 != s.CompressedSize64 {
			t.Errorf("%s: method %d crc %x %d bytes, packed as %d %x %d", f.Name, f.Method, f.CRC32, f.CompressedSize64, s.Method, s.CRC32, s.CompressedSize64)
		}
	}
	if err := restampZip(bytes.NewReader([]byte("not a zip")), 9, io.Discard, testEpoch); err == nil {
		t.Fatal("restamped something that is not a zip")
	}
}
