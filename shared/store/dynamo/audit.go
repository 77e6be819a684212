package dynamo

import (
	"container/heap"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vsecure/vsecure/shared/auditlog"
	"github.com/vsecure/vsecure/shared/store/dynamo/schema"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// auditPutBudget is how long after its timestamp an entry's write may
// still finish. The indexer ends each pass indexSettle (10 s) behind now
// and never looks below it again, so an entry must be visible well before
// then: a write that cannot finish in time fails (closed) instead of
// landing in a window that is already indexed, where filtered queries
// would never find it. The margin covers a request still in flight when
// the client gives up.
const auditPutBudget = 5 * time.Second

// auditDeadline bounds ctx by e's put budget, refusing an entry already
// past it before any call.
func (s *Store) auditDeadline(ctx context.Context, e vsecure.Entry) (context.Context, context.CancelFunc, error) {
	if s.putBudget <= 0 {
		return ctx, func() {}, nil
	}
	deadline := e.Timestamp.Add(s.putBudget)
	if !time.Now().Before(deadline) {
		return nil, nil, vsecure.Errorf(vsecure.EUnavailable, "audit entry %s is older than %s: not written", e.ID, s.putBudget)
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	return ctx, cancel, nil
}

// auditSK is an entry's sort key: its fixed-width timestamp, then its id.
func auditSK(e vsecure.Entry) string { return stamp(e.Timestamp) + "#" + e.ID }

// entryID is the id part of an entry's sort key.
func entryID(sk string) string {
	_, id, _ := strings.Cut(sk, "#")
	return id
}

// auditItem is e's item: its shard and sort key, the entry's JSON (which
// the seal's MAC covers, returned too) and, with a retention, its ttl.
// Nothing else: no index reads an entry's other attributes. An epoch's
// opening entry gets no ttl: it holds the wrapped MAC key, so any later
// entry of its chain that is still kept can be checked.
func (s *Store) auditItem(e vsecure.Entry) (item, []byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, nil, vsecure.Wrap(vsecure.EInternal, err, "encode item")
	}
	it := item{
		schema.AuditPK:   str(schema.AuditEntryPK(e.ID)),
		schema.AuditSK:   str(auditSK(e)),
		schema.AuditData: str(string(b)),
	}
	if s.retention > 0 && e.Operation != auditlog.OpEpoch {
		it[schema.AuditTTL] = num(e.Timestamp.Add(s.retention).Unix())
	}
	return it, b, nil
}

// AppendAudit puts e unless its key exists (PutItem, attribute_not_exists).
func (s *Store) AppendAudit(ctx context.Context, e vsecure.Entry) error {
	if e.ID == "" {
		return vsecure.Errorf(vsecure.EInvalid, "audit entry has no id")
	}
	return s.sealed(ctx, e, func(ctx context.Context, it item) error { return s.putAudit(ctx, "AppendAudit", it) })
}

// --- reading the shards ---

// shard pages through one entry partition between two sort keys.
type shard struct {
	in   *dynamodb.QueryInput
	buf  []item
	done bool
}

// shards are the entry partitions read between lo and hi (inclusive; ""
// for no bound), in order, per page at most pageSize items, strongly
// consistent.
func (s *Store) shards(lo, hi string, ascending bool, pageSize int) []*shard {
	out := make([]*shard, 0, schema.AuditShards)
	for _, pk := range schema.AuditShardPKs() {
		cond := "#p = :p"
		vals := item{":p": str(pk)}
		switch {
		case lo != "" && hi != "":
			cond += " AND #s BETWEEN :lo AND :hi"
			vals[":lo"], vals[":hi"] = str(lo), str(hi)
		case lo != "":
			cond += " AND #s >= :lo"
			vals[":lo"] = str(lo)
		case hi != "":
			cond += " AND #s <= :hi"
			vals[":hi"] = str(hi)
		}
		names := map[string]string{"#p": schema.AuditPK}
		if strings.Contains(cond, "#s") {
			names["#s"] = schema.AuditSK
		}
		in := &dynamodb.QueryInput{
			TableName:                 aws.String(s.audit),
			KeyConditionExpression:    aws.String(cond),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: vals,
			ScanIndexForward:          aws.Bool(ascending),
			ConsistentRead:            aws.Bool(true),
		}
		if pageSize > 0 {
			in.Limit = aws.Int32(int32(pageSize))
		}
		out = append(out, &shard{in: in})
	}
	return out
}

// fill reads sh's next page if its buffer is empty.
func (s *Store) fill(ctx context.Context, op string, sh *shard) error {
	for len(sh.buf) == 0 && !sh.done {
		out, err := s.query(ctx, op, sh.in)
		if err != nil {
			return err
		}
		sh.buf = out.Items
		if len(out.LastEvaluatedKey) == 0 {
			sh.done = true
		}
		sh.in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	return nil
}

// merged yields the items of shards in sort-key order (ascending or not),
// reading every shard's first page at once and each further page only
// when that shard's buffer runs out, so a caller that stops early has
// read about what it took.
type merged struct {
	s         *Store
	op        string
	ascending bool
	h         shardHeap
	empty     *shard // taken from the heap with more to read
}

func (s *Store) merge(ctx context.Context, op string, shards []*shard, ascending bool) (*merged, error) {
	var wg sync.WaitGroup
	errs := make([]error, len(shards))
	for i, sh := range shards {
		wg.Go(func() { errs[i] = s.fill(ctx, op, sh) })
	}
	wg.Wait()
	m := &merged{s: s, op: op, ascending: ascending, h: shardHeap{ascending: ascending}}
	for i, sh := range shards {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if len(sh.buf) > 0 {
			m.h.shards = append(m.h.shards, sh)
		}
	}
	heap.Init(&m.h)
	return m, nil
}

// next returns the next item, or nil at the end. A shard whose buffer
// ran out is read again only when the next item is asked for.
func (m *merged) next(ctx context.Context) (item, error) {
	if sh := m.empty; sh != nil {
		m.empty = nil
		if err := m.s.fill(ctx, m.op, sh); err != nil {
			return nil, err
		}
		if len(sh.buf) > 0 {
			heap.Push(&m.h, sh)
		}
	}
	if len(m.h.shards) == 0 {
		return nil, nil
	}
	sh := m.h.shards[0]
	it := sh.buf[0]
	sh.buf = sh.buf[1:]
	if len(sh.buf) == 0 {
		heap.Pop(&m.h)
		if !sh.done {
			m.empty = sh
		}
	} else {
		heap.Fix(&m.h, 0)
	}
	return it, nil
}

// peek returns the sort key of the first item ("" if none), before any
// next.
func (m *merged) peek() string {
	if len(m.h.shards) == 0 {
		return ""
	}
	return getS(m.h.shards[0].buf[0], schema.AuditSK)
}

type shardHeap struct {
	ascending bool
	shards    []*shard
}

func (h shardHeap) Len() int { return len(h.shards) }
func (h shardHeap) Less(i, j int) bool {
	a, b := getS(h.shards[i].buf[0], schema.AuditSK), getS(h.shards[j].buf[0], schema.AuditSK)
	if h.ascending {
		return a < b
	}
	return a > b
}
func (h shardHeap) Swap(i, j int) { h.shards[i], h.shards[j] = h.shards[j], h.shards[i] }
func (h *shardHeap) Push(x any)   { h.shards = append(h.shards, x.(*shard)) }
func (h *shardHeap) Pop() any {
	n := len(h.shards)
	x := h.shards[n-1]
	h.shards = h.shards[:n-1]
	return x
}

// watermark is the indexer's through: every entry with a smaller sort key
// is in the filter index ("" before the first pass). A strongly consistent
// Query, not a GetItem: the audit table's readers are granted Query only.
func (s *Store) watermark(ctx context.Context, op string) (string, error) {
	out, err := s.query(ctx, op, &dynamodb.QueryInput{
		TableName:                 aws.String(s.audit),
		KeyConditionExpression:    aws.String("#p = :p AND #s = :s"),
		ExpressionAttributeNames:  map[string]string{"#p": schema.AuditPK, "#s": schema.AuditSK},
		ExpressionAttributeValues: item{":p": str(schema.AuditWatermarkPK), ":s": str(schema.AuditWatermarkSK)},
		ConsistentRead:            aws.Bool(true),
	})
	if err != nil {
		return "", err
	}
	if len(out.Items) == 0 {
		return "", nil
	}
	return getS(out.Items[0], schema.AuditThrough), nil
}

// seenMark is the highest watermark this Store has read.
type seenMark struct {
	mu sync.Mutex
	v  string
}

func (m *seenMark) get() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.v
}

func (m *seenMark) raise(v string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.v = max(m.v, v)
	return m.v
}

// queryWatermark is a watermark for QueryAudit: an eventually consistent
// read (half the cost), raised to the highest this Store has seen. It may
// be behind the true watermark, never ahead of it (the watermark only
// moves forward, and a stale read returns a value it had), and a query is
// exact for any value at or below the true one: the entries between it
// and the true one come from the shards, and the segments below it were
// written before the watermark passed them.
func (s *Store) queryWatermark(ctx context.Context) (string, error) {
	out, err := s.query(ctx, "QueryAudit", &dynamodb.QueryInput{
		TableName:                 aws.String(s.audit),
		KeyConditionExpression:    aws.String("#p = :p AND #s = :s"),
		ExpressionAttributeNames:  map[string]string{"#p": schema.AuditPK, "#s": schema.AuditSK},
		ExpressionAttributeValues: item{":p": str(schema.AuditWatermarkPK), ":s": str(schema.AuditWatermarkSK)},
	})
	if err != nil {
		return "", err
	}
	v := ""
	if len(out.Items) > 0 {
		v = getS(out.Items[0], schema.AuditThrough)
	}
	return s.seen.raise(v), nil
}

// --- QueryAudit ---

// filterKey is the one index key that serves f best (exact resource >
// actor > pattern > failures > operation), or "" for a time-only query.
func filterKey(f vsecure.AuditFilter) string {
	if f.Resource != "" {
		if u, err := vsecure.ParseURI(f.Resource); err == nil && u.IsPattern() {
			if f.Actor != "" {
				return "a:" + f.Actor
			}
			return "p:" + u.String()
		}
		return "r:" + f.Resource
	}
	switch {
	case f.Actor != "":
		return "a:" + f.Actor
	case f.Success != nil && !*f.Success:
		return "f:"
	case f.Operation != "":
		return "o:" + f.Operation
	}
	return ""
}

// QueryAudit returns entries matching f, newest first. A time-only query
// merges the 16 shards; a filtered one reads the tail not yet indexed
// from the shards, then the filter index's segments of one key and the
// entries they name (BatchGetItem). The rest of f is applied in Go. The
// cursor is the last sort key returned.
func (s *Store) QueryAudit(ctx context.Context, f vsecure.AuditFilter, cursor string, limit int) ([]vsecure.Entry, string, error) {
	limit = pageLimit(limit)
	lo, hi := "", "~"
	if !f.From.IsZero() {
		lo = stamp(f.From) + "#"
	}
	if !f.To.IsZero() {
		hi = stamp(f.To) + "#~"
	}
	after := "" // exclusive upper bound from the cursor
	if cursor != "" {
		k, err := decodeCursor(cursor, []string{schema.AuditSK}, "", "")
		if err != nil {
			return nil, "", err
		}
		after = getS(k, schema.AuditSK)
		if after < lo || after > hi || entryID(after) == "" {
			return nil, "", vsecure.Errorf(vsecure.EInvalid, "invalid cursor")
		}
		hi = after
	}
	var out []vsecure.Entry
	var lastSK string
	// take adds it if it matches; it reports whether the page is full
	// (limit+1 found: there is a next page).
	full := false
	take := func(it item) (bool, error) {
		sk := getS(it, schema.AuditSK)
		if sk == after {
			return false, nil
		}
		var e vsecure.Entry
		if err := decodeData(it, &e); err != nil {
			return false, err
		}
		if !f.Matches(&e) {
			return false, nil
		}
		if len(out) == limit {
			full = true
			return true, nil
		}
		out = append(out, e)
		lastSK = sk
		return false, nil
	}
	key := filterKey(f)
	through := ""
	if key != "" {
		// A range that ends below a watermark seen before needs neither
		// the watermark nor the tail.
		if through = s.seen.get(); through == "" || hi >= through {
			var err error
			if through, err = s.queryWatermark(ctx); err != nil {
				return nil, "", err
			}
		}
	}
	// The shards: everything (time-only) or the tail at or above through.
	tailLo := lo
	if through > tailLo {
		tailLo = through
	}
	if through == "" || hi >= through {
		// A Query costs at least 1 RRU (strong) up to 4 KB, about 7
		// entries: asking each shard for a few more than its share costs
		// nothing more and saves the refills an uneven page would need.
		pageSize := limit/schema.AuditShards + 4
		if key != "" {
			pageSize = 0 // the tail is filtered: read it in 1 MB pages
		}
		m, err := s.merge(ctx, "QueryAudit", s.shards(tailLo, hi, false, pageSize), false)
		if err != nil {
			return nil, "", err
		}
		for !full {
			it, err := m.next(ctx)
			if err != nil {
				return nil, "", err
			}
			if it == nil {
				break
			}
			if _, err := take(it); err != nil {
				return nil, "", err
			}
		}
	}
	if key != "" && through != "" && !full {
		upper := min(hi, through) // refs below through only: a claimed pass's segments may reach past it
		if err := s.indexed(ctx, key, lo, upper, after, through, limit+1-len(out), take, func() bool { return full }); err != nil {
			return nil, "", err
		}
	}
	if !full {
		return out, "", nil
	}
	return out, encodeCursor(item{schema.AuditSK: str(lastSK)}), nil
}

// indexed feeds take the entries of key's segments with lo <= sk <= upper,
// sk < through and sk != after, newest first, until done says so. want is
// how many more the caller can use: refs are fetched in batches of about
// that many (at most 100, BatchGetItem's limit).
func (s *Store) indexed(ctx context.Context, key, lo, upper, after, through string, want int,
	take func(item) (bool, error), done func() bool,
) error {
	in := &dynamodb.QueryInput{
		TableName:                aws.String(s.audit),
		KeyConditionExpression:   aws.String("#p = :p AND #s <= :u"),
		ExpressionAttributeNames: map[string]string{"#p": schema.AuditPK, "#s": schema.AuditSK},
		ExpressionAttributeValues: item{
			":p": str(schema.AuditIndexPrefix + key), ":u": str(upper),
		},
		ScanIndexForward: aws.Bool(false),
		// Segments are written just before the watermark moves past them:
		// an eventually consistent read could miss the newest.
		ConsistentRead: aws.Bool(true),
		// A segment is at most 4 KB (about 95 refs): start with two and
		// read more at a time only while the key is sparse.
		Limit: aws.Int32(2),
	}
	var refs []string
	flush := func() error {
		for len(refs) > 0 && !done() {
			n := min(len(refs), max(want, 8), 100)
			batch := refs[:n]
			refs = refs[n:]
			got, err := s.entries(ctx, batch)
			if err != nil {
				return err
			}
			for _, sk := range batch {
				if it, ok := got[sk]; ok {
					if _, err := take(it); err != nil {
						return err
					}
					if done() {
						return nil
					}
				}
			}
			want = max(want-n, 8)
		}
		return nil
	}
	for !done() {
		out, err := s.query(ctx, "QueryAudit", in)
		if err != nil {
			return err
		}
		for _, seg := range out.Items {
			if lo != "" && getS(seg, schema.AuditTo) <= lo {
				return flush() // this segment and every older one end below lo
			}
			rs, err := segmentRefs(seg)
			if err != nil {
				return err
			}
			for _, sk := range rs {
				if sk == "" || sk > upper || sk < lo || sk >= through || sk == after {
					continue
				}
				refs = append(refs, sk)
			}
			if len(refs) >= want {
				if err := flush(); err != nil || done() {
					return err
				}
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return flush()
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
		in.Limit = aws.Int32(min(*in.Limit*2, 16))
	}
	return nil
}

// entries reads the entry items with sort keys sks, keyed by sk: an
// eventually consistent BatchGetItem (half the cost; entries never change
// once written), then a strongly consistent one for any it missed, since
// a ref names an entry that exists (one gone is past its ttl).
func (s *Store) entries(ctx context.Context, sks []string) (map[string]item, error) {
	keys := make([]item, len(sks))
	for i, sk := range sks {
		keys[i] = item{schema.AuditPK: str(schema.AuditEntryPK(entryID(sk))), schema.AuditSK: str(sk)}
	}
	out := make(map[string]item, len(sks))
	if err := s.auditBatchGet(ctx, keys, false, out); err != nil {
		return nil, err
	}
	var missed []item
	for i, sk := range sks {
		if _, ok := out[sk]; !ok {
			missed = append(missed, keys[i])
		}
	}
	if len(missed) > 0 {
		if err := s.auditBatchGet(ctx, missed, true, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// auditBatchGet reads the audit items keys (at most 100) into out by sk,
// retrying unprocessed keys a bounded number of times.
func (s *Store) auditBatchGet(ctx context.Context, keys []item, consistent bool, out map[string]item) error {
	pending := keys
	for try := 0; len(pending) > 0; try++ {
		if try > 0 {
			if try > 4 {
				return vsecure.Errorf(vsecure.EUnavailable, "the store is unavailable")
			}
			if err := sleep(ctx, try); err != nil {
				return storeError(err, "QueryAudit")
			}
		}
		in := &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
			s.audit: {Keys: pending, ConsistentRead: aws.Bool(consistent)},
		}}
		res, err := s.db.BatchGetItem(ctx, in)
		if err != nil {
			return storeError(err, "QueryAudit")
		}
		for _, it := range res.Responses[s.audit] {
			out[getS(it, schema.AuditSK)] = it
		}
		pending = res.UnprocessedKeys[s.audit].Keys
	}
	return nil
}

// tailReads counts the successful reads per secret among the entries with
// sort keys at or above through, and the timestamp of each secret's last
// one, with the sort key of that read.
func (s *Store) tailReads(ctx context.Context, op, through string) (map[string][]string, error) {
	m, err := s.merge(ctx, op, s.shards(through, "", true, 0), true)
	if err != nil {
		return nil, err
	}
	reads := map[string][]string{} // uri → sks of its successful reads, ascending
	for {
		it, err := m.next(ctx)
		if err != nil || it == nil {
			return reads, err
		}
		var e vsecure.Entry
		if err := decodeData(it, &e); err != nil {
			return nil, err
		}
		if vsecure.CountsAccess(e.Operation) && e.Success && e.Resource != "" {
			reads[e.Resource] = append(reads[e.Resource], getS(it, schema.AuditSK))
		}
	}
}

// skTime is the timestamp at the start of a sort key.
// segmentRefs reads a segment's refs: packed (refs.go), or the
// newline-separated text of segments written before the packing.
func segmentRefs(seg item) ([]string, error) {
	switch v := seg[schema.AuditRefs].(type) {
	case *types.AttributeValueMemberB:
		rs, err := decodeRefs(v.Value)
		if err != nil {
			return nil, vsecure.Wrap(vsecure.EInternal, err, "decode stored item")
		}
		return rs, nil
	case *types.AttributeValueMemberS:
		return strings.Split(v.Value, "\n"), nil
	}
	return nil, nil
}

func skTime(sk string) time.Time {
	t, _ := time.Parse("2006-01-02T15:04:05.000000000Z", strings.SplitN(sk, "#", 2)[0])
	return t
}
