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
