// Package embedded is the vsecure.Store of the local server: one bbolt file
// under the data directory, so `vsecure dev` needs no database to run.
//
// Values are JSON in one bucket per kind (policies, secret heads, secret
// versions, approvals, audit entries, keys) plus small index buckets
// (grants, tokens, keyhash) that point at them. Every state change and its
// audit entry are written in one bbolt transaction, so an entry that cannot
// be stored takes the change down with it (audit is fail-closed).
//
// The hot path is an audited secret read: LoadAccess in a read transaction,
// then RecordRead, which must make its audit entry durable (fsync) before
// the response. One commit per read would cap the server at a few hundred
// reads a second, so RecordRead and AppendAudit share commits: each commit
// takes every call that queued while the previous one was being synced
// (group commit, see groupCommit for why not db.Batch). Less frequent writes
// use transactions of their own.
//
// Audit and approval ids are time-sortable, so iterating those buckets
// backwards lists newest first. Filtered queries iterate and filter, stopping
// at the first match past the page, instead of keeping an index per filter:
// on a development store queries are rare next to writes, and every index
// would add to every audited read. Cursors are the last key returned; the
// service signs them, and this package still rejects any cursor it could not
// have issued.
package embedded

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vsecure/vsecure/shared/auditlog"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// Bucket names.
var (
	bucketPolicies = []byte("policies")
	bucketSecrets  = []byte("secrets")
	// bucketStats holds each secret's access count and time as 16 fixed
	// bytes beside its head, so the hot RecordRead (which runs inside the
	// single committer) touches no JSON.
	bucketStats     = []byte("stats")
	bucketVersions  = []byte("versions")
	bucketGrants    = []byte("grants")
	bucketApprovals = []byte("approvals")
	bucketTokens    = []byte("tokens")
	bucketAudit     = []byte("audit")
	// bucketAuditTime indexes the audit log by time (AuditTimeKey).
	bucketAuditTime = []byte("auditByTime")
	bucketKeys      = []byte("keys")
	bucketKeyHash   = []byte("keyhash")
	bucketDigests   = []byte("digests")
	bucketIdem      = []byte("idempotency")
	// bucketMeta holds store-wide markers (the bootstrap marker).
	bucketMeta = []byte("meta")
)

var allBuckets = [][]byte{
	bucketStats,
	bucketPolicies, bucketSecrets, bucketVersions, bucketGrants, bucketApprovals,
	bucketTokens, bucketAudit, bucketAuditTime, bucketKeys, bucketKeyHash, bucketDigests, bucketIdem, bucketHead, bucketMeta,
}

const (
	// defaultLimit is the page size when a caller passes none.
	defaultLimit = 100
	// maxBatch bounds the calls sharing one commit, and so its size.
	maxBatch = 1000
)

// Store is a vsecure.Store in a bbolt file. It is safe for concurrent use;
// only one process can hold the file at a time.
type Store struct {
	db     *bolt.DB
	shared *groupCommit
	memo   *memo
	chain  *chain // nil: entries are stored unsealed
}

var _ vsecure.Store = (*Store)(nil)

type config struct {
	lockTimeout time.Duration
	macKeys     auditlog.MACKeys
	writer      string
}

// Option adjusts Open.
type Option func(*config)

// WithLockTimeout sets how long Open waits for another process to release
// the file (default 1s); then Open fails with EUnavailable.
func WithLockTimeout(d time.Duration) Option { return func(c *config) { c.lockTimeout = d } }

// Open opens or creates the store file at path with mode 0600, creating its
// directory (0700) if needed.
func Open(path string, opts ...Option) (*Store, error) {
	cfg := config{lockTimeout: time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, unavailable(err)
	}
	// The mapping is sized for a 256 MiB file: growing it waits for every
	// open read transaction, so a mapping large enough for the file keeps
	// reads from stalling writes.
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:         cfg.lockTimeout,
		FreelistType:    bolt.FreelistMapType,
		NoFreelistSync:  true, // rebuilt on open; saves a write per commit
		InitialMmapSize: 256 << 20,
	})
	if errors.Is(err, bolt.ErrTimeout) {
		// bbolt's flock: another process has the file open.
		return nil, vsecure.Errorf(vsecure.EUnavailable, "the data directory %s is in use by another process (another vsecure dev?); stop it or pass another --data", filepath.Dir(path))
	}
	if err != nil {
		return nil, unavailable(err)
	}
	// The file holds sealed secrets, key hashes and the audit log: never
	// readable by others, even if it was created with a looser mode.
	if err := os.Chmod(path, 0o600); err != nil {
		db.Close()
		return nil, unavailable(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return indexAuditByTime(tx)
	})
	if err != nil {
		db.Close()
		return nil, unavailable(err)
	}
	st := &Store{db: db, shared: &groupCommit{db: db, max: maxBatch}, memo: newMemo(4096)}
	if cfg.macKeys != nil {
		st.chain = &chain{keys: cfg.macKeys, writer: cfg.writer}
	}
	return st, nil
}

// Close releases the file. Calls after Close fail with EUnavailable.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return unavailable(err)
	}
	return nil
}

// view runs fn in a read transaction.
func (s *Store) view(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return unavailable(err)
	}
	return domainErr(s.db.View(fn))
}

// update runs fn in a write transaction of its own.
func (s *Store) update(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return unavailable(err)
	}
	return domainErr(s.db.Update(fn))
}

// batch runs fn in a transaction shared with concurrent callers (see
// groupCommit). fn may run more than once, so it must reset whatever it
// reports; and it should report expected refusals through its closure and
// return nil, having written nothing, rather than fail the shared
// transaction and make every other call in it run again.
func (s *Store) batch(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return unavailable(err)
	}
	return domainErr(s.shared.run(fn))
}

func unavailable(err error) error {
	return vsecure.Wrap(vsecure.EUnavailable, err, "store unavailable")
}

// domainErr passes domain errors through and turns anything from bbolt or
// the file system into EUnavailable.
func domainErr(err error) error {
	if err == nil {
		return nil
	}
	var de *vsecure.Error
	if errors.As(err, &de) {
		return err
	}
	return unavailable(err)
}

func put(b *bolt.Bucket, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return vsecure.Wrap(vsecure.EInternal, err, "encode record")
	}
	return b.Put([]byte(key), data)
}

// get decodes the record at key into v and reports whether it exists.
func get(b *bolt.Bucket, key string, v any) (bool, error) {
	data := b.Get([]byte(key))
	if data == nil {
		return false, nil
	}
	return true, decode(data, v)
}

func decodeAs[T any](data []byte, v *T) error { return decode(data, v) }

func decode(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return vsecure.Wrap(vsecure.EInternal, err, "corrupt record in store")
	}
	return nil
}

// putEntry appends e to the audit log in tx, sealed if the store seals; a
// zero entry (no id) writes nothing. An existing id is a conflict: entries
// are immutable.
func (s *Store) putEntry(tx *bolt.Tx, e vsecure.Entry) error {
	if e.ID == "" {
		return nil
	}
	data, err := json.Marshal(e)
	if err != nil {
		return vsecure.Wrap(vsecure.EInternal, err, "encode audit entry")
	}
	return s.putEncodedEntry(tx, e.ID, e.Timestamp, data)
}

// putEncodedEntry appends the entry whose JSON is data and whose
// timestamp is at.
func (s *Store) putEncodedEntry(tx *bolt.Tx, id string, at time.Time, data []byte) error {
	if err := entryFree(tx, id); err != nil {
		return err
	}
	if s.chain != nil {
		var err error
		if data, err = s.chain.seal(tx, data); err != nil {
			return err
		}
	}
	return putAudit(tx, id, at, data)
}

// putAudit stores an audit record under its id and indexes it by time.
func putAudit(tx *bolt.Tx, id string, at time.Time, v []byte) error {
	b := tx.Bucket(bucketAudit)
	b.FillPercent = 0.95 // ids only grow: pack pages instead of splitting them in half
	if err := b.Put([]byte(id), v); err != nil {
		return err
	}
	t := tx.Bucket(bucketAuditTime)
	t.FillPercent = 0.95
	return t.Put(AuditTimeKey(at, id), nil)
}

// AuditTimeKey is an entry's key in the time index: its timestamp as
// fixed-width decimal Unix nanoseconds, "#", its id. Reads of a time range
// (the digest sealer's and verifier's) walk this index, so they never
// depend on how ids sort: an id forged to sort first or last cannot hide
// genuine entries from a window.
func AuditTimeKey(at time.Time, id string) []byte {
	return append(strconv.AppendInt(make([]byte, 0, timeKeyDigits+1+len(id)), at.UnixNano()+timeKeyBias, 10), append([]byte{'#'}, id...)...)
}

// timeKeyBias keeps every representable time positive and timeKeyDigits
// wide, so that byte order is time order.
const (
	timeKeyBias   = 1 << 62
	timeKeyDigits = 19
)

// timeKeyOf parses an AuditTimeKey back into its time and id.
func timeKeyOf(k []byte) (time.Time, string, bool) {
	if len(k) < timeKeyDigits+1 || k[timeKeyDigits] != '#' {
		return time.Time{}, "", false
	}
	n, err := strconv.ParseInt(string(k[:timeKeyDigits]), 10, 64)
	if err != nil {
		return time.Time{}, "", false
	}
	return time.Unix(0, n-timeKeyBias).UTC(), string(k[timeKeyDigits+1:]), true
}

func entryFree(tx *bolt.Tx, id string) error {
	if id != "" && tx.Bucket(bucketAudit).Get([]byte(id)) != nil {
		return vsecure.Errorf(vsecure.EConflict, "audit entry %s already exists", id)
	}
	return nil
}

func pageLimit(limit int) int {
	if limit <= 0 {
		return defaultLimit
	}
	return limit
}

// checkID validates an id used as a cursor: the ids this store keys by are
// short runs of [A-Za-z0-9_-].
func checkID(cursor string) error {
	if len(cursor) > 128 {
		return badCursor()
	}
	for i := 0; i < len(cursor); i++ {
		c := cursor[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return badCursor()
		}
	}
	return nil
}

func badCursor() error { return vsecure.Errorf(vsecure.EInvalid, "invalid cursor") }

// scanCheck is how often long scans look at the context.
const scanCheck = 512

// newestFirst walks b backwards from just before cursor (or from the end),
// calling fn with each value until fn returns false.
func newestFirst(ctx context.Context, b *bolt.Bucket, cursor string, fn func(k, v []byte) (bool, error)) error {
	c := b.Cursor()
	var k, v []byte
	if cursor == "" {
		k, v = c.Last()
	} else if k, _ = c.Seek([]byte(cursor)); k == nil {
		k, v = c.Last() // every key sorts before the cursor
	} else {
		k, v = c.Prev() // Seek landed on the cursor or the first key after it
	}
	for n := 1; k != nil; k, v = c.Prev() {
		if n++; n%scanCheck == 0 {
			if err := ctx.Err(); err != nil {
				return unavailable(err)
			}
		}
		more, err := fn(k, v)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// oldestFirst walks b forwards from just after cursor (or from the first
// key at or after start), calling fn until it returns false.
func oldestFirst(ctx context.Context, b *bolt.Bucket, start, cursor string, fn func(k, v []byte) (bool, error)) error {
	c := b.Cursor()
	from := start
	if cursor > from {
		from = cursor
	}
	k, v := c.Seek([]byte(from))
	if k != nil && cursor != "" && string(k) == cursor {
		k, v = c.Next()
	}
	for n := 1; k != nil; k, v = c.Next() {
		if n++; n%scanCheck == 0 {
			if err := ctx.Err(); err != nil {
				return unavailable(err)
			}
		}
		more, err := fn(k, v)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// indexAuditByTime builds the time index of a log written before it
// existed (once: an empty index beside a non-empty log).
func indexAuditByTime(tx *bolt.Tx) error {
	t := tx.Bucket(bucketAuditTime)
	if k, _ := t.Cursor().First(); k != nil {
		return nil
	}
	return tx.Bucket(bucketAudit).ForEach(func(k, v []byte) error {
		var e vsecure.Entry
		if err := decodeEntry(v, &e); err != nil {
			return err
		}
		return t.Put(AuditTimeKey(e.Timestamp, string(k)), nil)
	})
}
