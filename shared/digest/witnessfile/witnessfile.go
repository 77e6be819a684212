// Package witnessfile is the local audit witness: an append-only JSON-lines
// file of digest.WitnessRecord, kept in the keys directory, away from the
// data directory and its store. Someone who deletes the newest digests and
// entries from the store must also find and edit this file to go unseen.
package witnessfile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/vsecure/vsecure/shared/digest"
)

// Name is the witness file's name in the keys directory.
const Name = "audit-witness.jsonl"

// File is an open witness file. Appends from one process are serialized;
// each record is one write(2) on an O_APPEND descriptor and is fsynced
// before Append returns, so an acknowledged record survives a crash.
type File struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

var _ digest.Witness = (*File)(nil)

// Open opens (creating, 0600) the witness file at path. It refuses a file
// that others can read or write: the witness is only worth what its
// permissions are. A torn last line (a crash during an append, never
// acknowledged) is cut off, so the next record starts on its own line.
func Open(path string) (*File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("witnessfile: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("witnessfile: %w", err)
	}
	if err := checkMode(f); err != nil {
		f.Close()
		return nil, err
	}
	if err := cutTornTail(path); err != nil {
		f.Close()
		return nil, err
	}
	return &File{path: path, f: f}, nil
}

func checkMode(f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("witnessfile: %w", err)
	}
	if p := st.Mode().Perm(); p&0o077 != 0 {
		return fmt.Errorf("witnessfile: %s is accessible by others (mode %v); chmod 600 it", f.Name(), p)
	}
	return nil
}

func cutTornTail(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("witnessfile: %w", err)
	}
	if len(b) == 0 || b[len(b)-1] == '\n' {
		return nil
	}
	if err := os.Truncate(path, int64(bytes.LastIndexByte(b, '\n')+1)); err != nil {
		return fmt.Errorf("witnessfile: cut torn last line: %w", err)
	}
	return nil
}

// Append writes r as one line and fsyncs it.
func (w *File) Append(ctx context.Context, r digest.WitnessRecord) error {
	line, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("witnessfile: %w", err)
	}
	line = append(line, '\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return errors.New("witnessfile: closed")
	}
	if _, err := w.f.Write(line); err != nil {
		return fmt.Errorf("witnessfile: append: %w", err)
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("witnessfile: fsync: %w", err)
	}
	return nil
}

// Records reads every record, oldest first. A last line without its
// newline is an append in progress (or torn by a crash) and is left out;
// any other line that does not parse is an error: the file was changed.
func (w *File) Records(ctx context.Context) ([]digest.WitnessRecord, error) {
	f, err := os.Open(w.path)
	if err != nil {
		return nil, fmt.Errorf("witnessfile: %w", err)
	}
	defer f.Close()
	if err := checkMode(f); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("witnessfile: %w", err)
	}
	if i := bytes.LastIndexByte(b, '\n'); i+1 < len(b) {
		b = b[:i+1] // torn last line
	}
	var out []digest.WitnessRecord
	if len(b) == 0 {
		return out, nil
	}
	for n, line := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
		var r digest.WitnessRecord
		if err := json.Unmarshal(line, &r); err != nil {
			return nil, fmt.Errorf("witnessfile: %s line %d is not a witness record: %w", w.path, n+1, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// Close closes the file.
func (w *File) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}
