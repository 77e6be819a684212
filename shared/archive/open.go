package archive

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/vsecure/vsecure/shared/digest"
)

// Open reads what an auditor verifies offline: one archive object, one
// export, or a directory holding archive objects (the bucket's archive/
// prefix, downloaded), merged in key order into one export. A directory
// whose first digest opens the log (no previous digest) is checked as the
// whole log; otherwise from its first digest on.
func Open(name string) (*digest.Export, error) {
	st, err := os.Stat(name)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return openFile(name)
	}
	var files []string
	err = filepath.WalkDir(name, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.Type().IsRegular() && strings.HasSuffix(p, Suffix) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no archive objects (*%s)", name, Suffix)
	}
	// Keys sort by time; so do their paths under one root.
	slices.Sort(files)
	all := &digest.Export{}
	for i, f := range files {
		exp, err := openFile(f)
		if err != nil {
			return nil, err
		}
		h := exp.Header
		if i == 0 {
			all.Header = h
		}
		if h.To.After(all.Header.To) {
			all.Header.To = h.To
		}
		if h.ExportedAt.After(all.Header.ExportedAt) {
			all.Header.ExportedAt = h.ExportedAt
		}
		if all.Header.KeyID == "" {
			all.Header.KeyID = h.KeyID
		}
		all.Records = append(all.Records, exp.Records...)
		all.Digests = append(all.Digests, exp.Digests...)
	}
	if len(all.Digests) > 0 && all.Digests[0].Previous == "" {
		all.Header.From = time.Time{} // the whole log: every chain from Seq 0
	}
	return all, nil
}

func openFile(name string) (*digest.Export, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	exp, err := Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return exp, nil
}
