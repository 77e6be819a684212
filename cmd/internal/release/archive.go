package main

import (
	"archive/tar"
	"archive/zip"
	"compress/flate"
	"compress/gzip"
	"io"
	"io/fs"
	"sort"
	"time"
)

// file is one entry of an archive.
type file struct {
	name string // slash-separated path inside the archive
	mode fs.FileMode
	data []byte
}

// The archives are byte-for-byte functions of their entries and mtime:
// entries sorted by name, one fixed time for every entry, owner root with
// no names, and nothing of the machine that wrote them (no gzip name or
// time, no atime, no extended attributes). That is what lets anyone
// rebuild a release and compare its SHA256SUMS.

func sorted(files []file) []file {
	s := append([]file(nil), files...)
	sort.Slice(s, func(i, j int) bool { return s[i].name < s[j].name })
	return s
}

// writeTarGz writes files as a gzipped ustar archive.
func writeTarGz(w io.Writer, files []file, mtime time.Time) error {
	// The gzip header's Name and ModTime stay zero: gzip writes neither.
	gz, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(gz)
	for _, f := range sorted(files) {
		h := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     f.name,
			Mode:     int64(f.mode.Perm()),
			Size:     int64(len(f.data)),
			ModTime:  mtime.UTC().Truncate(time.Second),
			Format:   tar.FormatUSTAR,
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

// writeZip writes files as a deflated zip archive (Windows' native format).
func writeZip(w io.Writer, files []file, mtime time.Time) error {
	zw := zip.NewWriter(w)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(w, flate.BestCompression)
	})
	for _, f := range sorted(files) {
		h := &zip.FileHeader{Name: f.name, Method: zip.Deflate, Modified: mtime.UTC().Truncate(time.Second)}
		h.SetMode(f.mode.Perm())
		fw, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		if _, err := fw.Write(f.data); err != nil {
			return err
		}
	}
	return zw.Close()
}

// restampZip copies the zip archive in r to w with every entry's time set
// to mtime, entries sorted by name and modes reduced to 0755 or 0644. Each
// entry's compressed bytes, CRC and sizes are copied as they are, so the
// result is what the packer made, less the time it ran (the mcpb CLI
// stamps every entry with the time of packing).
func restampZip(r io.ReaderAt, size int64, w io.Writer, mtime time.Time) error {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return err
	}
	entries := append([]*zip.File(nil), zr.File...)
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	date, clock := msDosTime(mtime)
	zw := zip.NewWriter(w)
	for _, f := range entries {
		perm := fs.FileMode(0o644)
		if f.Mode().Perm()&0o111 != 0 {
			perm = 0o755
		}
		h := &zip.FileHeader{
			Name: f.Name, Method: f.Method, Flags: f.Flags &^ 0x8, // sizes in the local header, no data descriptor
			CRC32: f.CRC32, CompressedSize64: f.CompressedSize64, UncompressedSize64: f.UncompressedSize64,
			ReaderVersion: f.ReaderVersion,
			// CreateRaw takes the MS-DOS fields as they are (only
			// CreateHeader derives them from Modified).
			ModifiedDate: date, ModifiedTime: clock,
		}
		h.SetMode(perm)
		raw, err := f.OpenRaw()
		if err != nil {
			return err
		}
		fw, err := zw.CreateRaw(h)
		if err != nil {
			return err
		}
		if _, err := io.Copy(fw, raw); err != nil {
			return err
		}
	}
	return zw.Close()
}

// msDosTime is t (UTC, to the even second) as a zip entry's MS-DOS date
// and time, which have no zone.
func msDosTime(t time.Time) (date, clock uint16) {
	t = t.UTC()
	date = uint16(t.Day() + int(t.Month())<<5 + (t.Year()-1980)<<9)
	clock = uint16(t.Second()/2 + t.Minute()<<5 + t.Hour()<<11)
	return date, clock
}
