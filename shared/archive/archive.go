// Package archive keeps the audit log past the store's retention. As soon
// as an hour of the log is sealed, the archiver writes that hour's digests
// and the records they seal (entry and seal exactly as stored) as one
// gzip'd audit export to a write-once bucket (S3 Object Lock in AWS,
// package s3lock; a directory locally, Dir). The store then lets the
// entries go (DynamoDB TTL, set to timestamp + retention at write): TTL
// deletion always comes long after the archive exists, and each archive
// object verifies offline with the digests' public key alone, like any
// export (vsecure audit:verify --offline FILE|DIR).
//
// An object holds whole digests: those starting in one UTC hour, cut
// earlier when they seal more than MaxRecords entries, so an object stays
// small enough to build in memory and the archive has about 24 objects a
// day (a digest window, one minute, would make 60 times more objects to
// PUT, list and hand to an auditor, and compress worse). The newest key in
// the bucket is the resume marker: keys sort by time and name the end of
// what they hold, so no mutable marker is needed — one would leave a
// locked version behind in an Object Lock bucket at every run.
package archive

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"strings"
	"time"

	"github.com/vsecure/vsecure/shared/digest"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// Prefix is where archive objects live in the bucket.
const Prefix = "archive/"

// Span is the longest stretch of the log one object holds.
const Span = time.Hour

// Defaults.
const (
	// DefaultMaxRecords bounds an object (≈ 100 bytes gzip'd per record).
	DefaultMaxRecords = 50000
	// DefaultMaxObjects bounds one run, so a run catching up (a first run
	// over a long log) stays inside the digest step's timeout.
	DefaultMaxObjects = 48
)

// Suffix ends every archive object's key.
const Suffix = ".jsonl.gz"

const stampLayout = "20060102T150405.000000000Z"

// Key names the object holding the digests from from to to:
// archive/YYYY/MM/DD/HH/<from>-<to>.jsonl.gz. Keys sort by time, and the
// newest key says where the next object starts.
func Key(from, to time.Time) string {
	from, to = from.UTC(), to.UTC()
	return Prefix + from.Format("2006/01/02/15/") + from.Format(stampLayout) + "-" + to.Format(stampLayout) + Suffix
}

// ParseKey returns the span a key names.
func ParseKey(key string) (from, to time.Time, err error) {
	name := strings.TrimSuffix(path.Base(key), Suffix)
	a, b, ok := strings.Cut(name, "-")
	if !ok || !strings.HasSuffix(key, Suffix) {
		return from, to, fmt.Errorf("archive: %q is not an archive key", key)
	}
	if from, err = time.Parse(stampLayout, a); err == nil {
		to, err = time.Parse(stampLayout, b)
	}
	if err != nil {
		return from, to, fmt.Errorf("archive: %q is not an archive key: %w", key, err)
	}
	return from, to, nil
}

// ErrNotFound is returned by Bucket.Get for a key with no object.
var ErrNotFound = errors.New("archive: no such object")

// ErrDiffers is returned by Bucket.Put when key already holds other bytes:
// the store's copy changed after it was archived (or the archive did).
var ErrDiffers = errors.New("archive: the object already holds different bytes")

// Bucket is the write-once archive store.
type Bucket interface {
	// Put writes body under key once. Putting the bytes already there
	// is a no-op (a retried run); other bytes are ErrDiffers.
	Put(ctx context.Context, key string, body []byte) error
	// Last returns the greatest key under Prefix, "" if there is none.
	Last(ctx context.Context) (string, error)
	// Keys returns the keys under Prefix of the objects that may hold
	// digests starting in [from, to), in key order.
	Keys(ctx context.Context, from, to time.Time) ([]string, error)
	// Get returns the object's bytes, or ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
}

// Encode writes exp as an archive object: the export format, gzip'd.
// The same export always gives the same bytes (no name, no time in the
// gzip header), so a re-run writes the identical object.
func Encode(exp *digest.Export) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if err := digest.WriteExport(zw, exp); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Decode reads an archive object (or a plain export: gzip is detected).
func Decode(r io.Reader) (*digest.Export, error) {
	br := bufReader(r)
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("archive: %w", err)
		}
		defer zr.Close()
		return digest.ReadExport(zr)
	}
	return digest.ReadExport(br)
}

// Store is what the archiver reads: the log and its digests.
type Store interface {
	AuditRange(ctx context.Context, from, to time.Time, fn func(r vsecure.AuditRecord) (bool, error)) error
	OldestAudit(ctx context.Context) (vsecure.Entry, error)
	DigestBefore(ctx context.Context, t time.Time) (vsecure.Digest, error)
	Digests(ctx context.Context, from, to time.Time) ([]vsecure.Digest, error)
}

// Config configures an Archiver.
type Config struct {
	Store      Store
	Bucket     Bucket
	MaxRecords int
	MaxObjects int
	Log        *slog.Logger
	Now        func() time.Time
}

// Archiver writes sealed spans of the log to the bucket. Runs may
// overlap: both write the same bytes under the same key.
type Archiver struct{ cfg Config }

// New validates cfg.
func New(cfg Config) (*Archiver, error) {
	if cfg.Store == nil || cfg.Bucket == nil {
		return nil, errors.New("archive: store and bucket are required")
	}
	if cfg.MaxRecords <= 0 {
		cfg.MaxRecords = DefaultMaxRecords
	}
	if cfg.MaxObjects <= 0 {
		cfg.MaxObjects = DefaultMaxObjects
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Archiver{cfg: cfg}, nil
}

// Stats is what one run did. Through is where the archive ends (the next
// object starts there); Lag is how far that is behind now — at most about
// an hour and a run when the archiver keeps up, which the alarm watches.
type Stats struct {
	Objects int           `json:"objects"`
	Records int           `json:"records"`
	Through time.Time     `json:"through,omitzero"`
	Lag     time.Duration `json:"lag"`
}

// far is after any digest's start.
var far = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// step is how much of the log's digests are read at once (a digest is up
// to 400 KB; an hour at full speed is thousands of them).
const step = 5 * time.Minute

// Archive writes every complete sealed span after the last archived one,
// up to MaxObjects, oldest first.
func (a *Archiver) Archive(ctx context.Context) (Stats, error) {
	c := a.cfg
	now := c.Now().UTC()
	var st Stats
	latest, err := c.Store.DigestBefore(ctx, far)
	if vsecure.IsCode(err, vsecure.ENotFound) {
		return st, nil // nothing sealed, nothing to archive
	}
	if err != nil {
		return st, fmt.Errorf("archive: latest digest: %w", err)
	}
	next, ok, err := a.start(ctx)
	if err != nil || !ok {
		return st, err
	}
	for st.Objects < c.MaxObjects {
		end := next.Truncate(Span).Add(Span)
		ds, full, err := a.digests(ctx, next, end)
		if err != nil {
			return a.lag(st, next, now), err
		}
		if !full && latest.To.Before(end) {
			break // the hour is not sealed to its end yet
		}
		to := end // no digest starts here: a gap in the chain, kept as an empty object so archiving never stalls
		if len(ds) > 0 {
			to = ds[len(ds)-1].To
		}
		n, err := a.write(ctx, next, to, ds)
		if err != nil {
			return a.lag(st, next, now), err
		}
		st.Objects++
		st.Records += n
		next = to
	}
	return a.lag(st, next, now), nil
}

func (a *Archiver) lag(st Stats, through, now time.Time) Stats {
	st.Through = through
	if now.After(through) {
		st.Lag = now.Sub(through)
	}
	return st
}

// start is where the next object begins: the end of the newest one, or
// for an empty archive the digest sealing the oldest entry still stored.
func (a *Archiver) start(ctx context.Context) (time.Time, bool, error) {
	c := a.cfg
	last, err := c.Bucket.Last(ctx)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("archive: newest object: %w", err)
	}
	if last != "" {
		_, to, err := ParseKey(last)
		return to, err == nil, err
	}
	oldest, err := c.Store.OldestAudit(ctx)
	if vsecure.IsCode(err, vsecure.ENotFound) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("archive: oldest entry: %w", err)
	}
	d, err := c.Store.DigestBefore(ctx, oldest.Timestamp.Add(time.Nanosecond))
	if vsecure.IsCode(err, vsecure.ENotFound) {
		return time.Time{}, false, nil // not sealed yet
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("archive: first digest: %w", err)
	}
	return d.From, true, nil
}

// digests reads the digests starting in [from, end), stopping before the
// one that would take the object past MaxRecords (full).
func (a *Archiver) digests(ctx context.Context, from, end time.Time) ([]vsecure.Digest, bool, error) {
	var ds []vsecure.Digest
	n := 0
	for t := from; t.Before(end); {
		u := t.Add(step)
		if u.After(end) {
			u = end
		}
		got, err := a.cfg.Store.Digests(ctx, t, u)
		if err != nil {
			return nil, false, fmt.Errorf("archive: digests from %s: %w", t.Format(time.RFC3339), err)
		}
		for _, d := range got {
			if len(ds) > 0 && n+d.Count > a.cfg.MaxRecords {
				return ds, true, nil
			}
			ds = append(ds, d)
			n += d.Count
		}
		t = u
	}
	return ds, false, nil
}

// write archives ds (spanning [from, to)) with the records they cover.
func (a *Archiver) write(ctx context.Context, from, to time.Time, ds []vsecure.Digest) (int, error) {
	c := a.cfg
	exp := &digest.Export{Header: digest.ExportHeader{From: from, To: to, ExportedAt: to}, Digests: ds}
	if len(ds) > 0 {
		// Deterministic: the bytes depend on the log only.
		exp.Header.ExportedAt, exp.Header.KeyID = ds[len(ds)-1].SealedAt, ds[0].KeyID
		err := c.Store.AuditRange(ctx, ds[0].From, to, func(r vsecure.AuditRecord) (bool, error) {
			exp.Records = append(exp.Records, r)
			return true, nil
		})
		if err != nil {
			return 0, fmt.Errorf("archive: read %s: %w", from.Format(time.RFC3339), err)
		}
	}
	body, err := Encode(exp)
	if err != nil {
		return 0, fmt.Errorf("archive: encode: %w", err)
	}
	key := Key(from, to)
	if err := c.Bucket.Put(ctx, key, body); err != nil {
		if errors.Is(err, ErrDiffers) {
			c.Log.ErrorContext(ctx, "audit archive object differs from the store's log: entries changed after they were archived", "key", key)
		}
		return 0, fmt.Errorf("archive: put %s: %w", key, err)
	}
	c.Log.InfoContext(ctx, "audit span archived", "key", key, "digests", len(ds), "records", len(exp.Records), "bytes", len(body))
	return len(exp.Records), nil
}
