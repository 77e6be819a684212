package archive

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Dir is an archive bucket in a local directory (vsecure dev, tests, and
// what an auditor downloads the bucket's archive/ prefix into). Objects
// are files under the same keys; a file is written to a temporary name
// and linked into place, so it is never seen half written and never
// replaced.
type Dir struct{ root string }

var _ Bucket = Dir{}

// NewDir returns the archive under root (created 0700 on first Put).
func NewDir(root string) Dir { return Dir{root: root} }

func (d Dir) path(key string) string { return filepath.Join(d.root, filepath.FromSlash(key)) }

// Put writes body under key unless it exists (ErrDiffers if it holds
// other bytes).
func (d Dir) Put(_ context.Context, key string, body []byte) error {
	p := d.path(key)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".put-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(body); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	err = os.Link(tmp.Name(), p) // fails if p exists: never replaced
	if errors.Is(err, fs.ErrExist) {
		old, rerr := os.ReadFile(p)
		if rerr != nil {
			return rerr
		}
		if !bytes.Equal(old, body) {
			return fmt.Errorf("%s: %w", key, ErrDiffers)
		}
		return nil
	}
	return err
}

// keys lists every archive key, in order.
func (d Dir) keys() ([]string, error) {
	var out []string
	base := filepath.Join(d.root, filepath.FromSlash(Prefix))
	err := filepath.WalkDir(base, func(p string, e fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == base {
			return filepath.SkipDir
		}
		if err != nil {
			return err
		}
		if e.Type().IsRegular() && strings.HasSuffix(p, Suffix) {
			rel, err := filepath.Rel(d.root, p)
			if err != nil {
				return err
			}
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	slices.Sort(out)
	return out, nil
}

// Last returns the newest key.
func (d Dir) Last(context.Context) (string, error) {
	ks, err := d.keys()
	if err != nil || len(ks) == 0 {
		return "", err
	}
	return ks[len(ks)-1], nil
}

// Keys returns the keys of objects that may hold digests starting in
// [from, to).
func (d Dir) Keys(_ context.Context, from, to time.Time) ([]string, error) {
	ks, err := d.keys()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, k := range ks {
		if a, b, err := ParseKey(k); err == nil && a.Before(to) && b.After(from) {
			out = append(out, k)
		}
	}
	return out, nil
}

// Get reads the object under key.
func (d Dir) Get(_ context.Context, key string) ([]byte, error) {
	b, err := os.ReadFile(d.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	return b, err
}

func bufReader(r io.Reader) *bufio.Reader {
	if br, ok := r.(*bufio.Reader); ok {
		return br
	}
	return bufio.NewReaderSize(r, 64<<10)
}
