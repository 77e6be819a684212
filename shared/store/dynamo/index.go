package dynamo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vsecure/vsecure/shared/store/dynamo/schema"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// The indexer's defaults (WithIndexTiming changes them).
const (
	// indexSettle: a pass ends this far behind now. Every entry's write
	// finishes within auditPutBudget of its timestamp or fails, so no
	// entry can still appear below the end of a pass.
	indexSettle = 10 * time.Second
	// A pass waits while its window holds fewer than indexMinEntries
	// entries and the oldest is younger than indexMaxDelay: at low traffic
	// a pass still covers a minute, which bounds index writes per entry.
	indexMinEntries = 200
	indexMaxDelay   = 60 * time.Second
	// indexMaxEntries keeps a segment under DynamoDB's 400 KB item limit
	// (about 40 bytes a ref).
	indexMaxEntries = 5000
	// indexMaxSecrets heads plus the watermark fit one transaction (100).
	indexMaxSecrets = 98
	// A claim outlives any pass by far.
	claimTTL = 24 * time.Hour
)

// attrIndexed on a secret head is the end of the last pass that counted
// reads into it (ListSecrets adds the reads after it).
const attrIndexed = "indexedThrough"

// IndexStats describes one IndexAudit call.
type IndexStats struct {
	// Entries indexed by this call's pass (0: nothing to do, or skipped).
	Entries int
	// Segments written.
	Segments int
	// Through is the time up to which every entry is indexed afterwards.
	Through time.Time
	// Lag is how far Through is behind now.
	Lag time.Duration
}

// IndexAudit runs at most one indexer pass over the audit entries not yet
// indexed: it writes the filter index's segments of the window and then,
// in one transaction, moves the watermark past it and adds the window's
// successful reads to the secrets' access counts. Runners may overlap:
// the window of a pass is fixed by its claim, its segments are the same
// whoever writes them, and only one runner's transaction can move the
// watermark from the pass's start, so no read is ever counted twice.
func (s *Store) IndexAudit(ctx context.Context, now time.Time) (IndexStats, error) {
	through, err := s.watermark(ctx, "IndexAudit")
	if err != nil {
		return IndexStats{}, err
	}
	st := IndexStats{Through: skTime(through)}
	w := through
	if w == "" { // the first pass starts at the oldest entry
		m, err := s.merge(ctx, "IndexAudit", s.shards("", "", true, 1), true)
		if err != nil {
			return st, err
		}
		if w = m.peek(); w == "" {
			return st, nil
		}
	}
	end, err := s.claimOf(ctx, w)
	if err != nil {
		return st, err
	}
	var entries []item
	if end != "" {
		// A pass claimed before (its runner stopped or is still going):
		// its window is fixed.
		if entries, _, err = s.window(ctx, w, end, false); err != nil {
			return st, err
		}
	} else {
		bound := stamp(now.Add(-s.settle))
		if bound <= w {
			return s.lag(st, now), nil
		}
		if entries, end, err = s.window(ctx, w, bound, true); err != nil {
			return st, err
		}
		if len(entries) == 0 {
			return s.lag(st, now), nil
		}
		oldest := skTime(getS(entries[0], schema.AuditSK))
		if len(entries) < s.minEntries && now.Sub(oldest) < s.maxDelay {
			return s.lag(st, now), nil
		}
		won, err := s.claim(ctx, w, end, now)
		if err != nil {
			return st, err
		}
		if won != end { // another runner claimed this pass first
			end = won
			if entries, _, err = s.window(ctx, w, end, false); err != nil {
				return st, err
			}
		}
	}
	segs, reads, err := s.segments(w, end, entries)
	if err != nil {
		return st, err
	}
	if err := s.batchWrite(ctx, segs); err != nil {
		return st, err
	}
	if err := s.advance(ctx, through, w, end, reads); err != nil {
		return st, err
	}
	st.Entries, st.Segments, st.Through = len(entries), len(segs), skTime(end)
	return s.lag(st, now), nil
}

func (s *Store) lag(st IndexStats, now time.Time) IndexStats {
	if !st.Through.IsZero() {
		st.Lag = now.Sub(st.Through)
	}
	return st
}

// window reads the entries with w <= sk < end from the shards, oldest
// first. With cut, it stops early, at most indexMaxEntries entries with
// successful reads of at most indexMaxSecrets secrets, and returns the
// sort key it stopped at as the window's end (else end).
func (s *Store) window(ctx context.Context, w, end string, cut bool) ([]item, string, error) {
	m, err := s.merge(ctx, "IndexAudit", s.shards(w, end, true, indexMaxEntries/schema.AuditShards+2), true)
	if err != nil {
		return nil, "", err
	}
	var out []item
	secrets := map[string]bool{}
	for {
		it, err := m.next(ctx)
		if err != nil {
			return nil, "", err
		}
		if it == nil {
			return out, end, nil
		}
		sk := getS(it, schema.AuditSK)
		if sk >= end {
			return out, end, nil
		}
		if cut {
			if len(out) == indexMaxEntries {
				return out, sk, nil
			}
			if uri, ok := readOf(it); ok && !secrets[uri] {
				if len(secrets) == indexMaxSecrets {
					return out, sk, nil
				}
				secrets[uri] = true
			}
		}
		out = append(out, it)
	}
}

// readOf is the secret a successful read entry counts for.
func readOf(it item) (string, bool) {
	var e vsecure.Entry
	if decodeData(it, &e) != nil {
		return "", false
	}
	return e.Resource, e.Operation == vsecure.AuditRead && e.Success && e.Resource != ""
}

func claimKey(w string) item {
	return item{schema.AuditPK: str(schema.AuditClaimPK), schema.AuditSK: str(w)}
}

// claimOf is the end of the pass claimed at w ("" if none).
func (s *Store) claimOf(ctx context.Context, w string) (string, error) {
	out, err := s.query(ctx, "IndexAudit", &dynamodb.QueryInput{
		TableName:                 aws.String(s.audit),
		KeyConditionExpression:    aws.String("#p = :p AND #s = :s"),
		ExpressionAttributeNames:  map[string]string{"#p": schema.AuditPK, "#s": schema.AuditSK},
		ExpressionAttributeValues: item{":p": str(schema.AuditClaimPK), ":s": str(w)},
		ConsistentRead:            aws.Bool(true),
	})
	if err != nil || len(out.Items) == 0 {
		return "", err
	}
	return getS(out.Items[0], schema.AuditTo), nil
}

// claim puts the claim of the pass [w, end) unless one exists, and
// returns the end of the claim that holds.
func (s *Store) claim(ctx context.Context, w, end string, now time.Time) (string, error) {
	it := claimKey(w)
	it[schema.AuditTo] = str(end)
	it[schema.AuditTTL] = num(now.Add(claimTTL).Unix())
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                           aws.String(s.audit),
		Item:                                it,
		ConditionExpression:                 aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames:            map[string]string{"#pk": schema.AuditPK},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		if to := getS(ccf.Item, schema.AuditTo); to != "" {
			return to, nil
		}
		return s.claimOf(ctx, w)
	}
	if err != nil {
		return "", storeError(err, "IndexAudit")
	}
	return end, nil
}

// indexKeys are the filter index keys of e: its actor, exact resource,
// every pattern covering the resource (each level up to the kind, and a
// pattern resource itself), operation, and failure.
func indexKeys(e vsecure.Entry) []string {
	var keys []string
	if e.Actor != "" {
		keys = append(keys, "a:"+e.Actor)
	}
	if e.Resource != "" {
		keys = append(keys, "r:"+e.Resource)
		if u, err := vsecure.ParseURI(e.Resource); err == nil {
			for _, c := range u.Candidates() {
				if c.IsPattern() {
					keys = append(keys, "p:"+c.String())
				}
			}
		}
	}
	if e.Operation != "" {
		keys = append(keys, "o:"+e.Operation)
	}
	if !e.Success {
		keys = append(keys, "f:")
	}
	return keys
}

// passReads is one secret's successful reads in a pass.
type passReads struct {
	n    int64
	last time.Time
}

// segments builds the window's segment items, one per index key, and
// counts its successful reads per secret. The same window always gives
// the same items.
func (s *Store) segments(w, end string, entries []item) ([]item, map[string]passReads, error) {
	refs := map[string][]string{}
	reads := map[string]passReads{}
	for i := len(entries) - 1; i >= 0; i-- { // newest first
		sk := getS(entries[i], schema.AuditSK)
		var e vsecure.Entry
		if err := decodeData(entries[i], &e); err != nil {
			return nil, nil, err
		}
		for _, k := range indexKeys(e) {
			refs[k] = append(refs[k], sk)
		}
		if e.Operation == vsecure.AuditRead && e.Success && e.Resource != "" {
			r := reads[e.Resource]
			if r.n == 0 {
				r.last = e.Timestamp.UTC().Truncate(time.Second)
			}
			r.n++
			reads[e.Resource] = r
		}
	}
	keys := make([]string, 0, len(refs))
	for k := range refs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	segs := make([]item, 0, len(keys))
	for _, k := range keys {
		it := item{
			schema.AuditPK:   str(schema.AuditIndexPrefix + k),
			schema.AuditSK:   str(w),
			schema.AuditTo:   str(end),
			schema.AuditRefs: str(strings.Join(refs[k], "\n")),
		}
		if s.retention > 0 {
			it[schema.AuditTTL] = num(skTime(end).Add(s.retention).Unix())
		}
		segs = append(segs, it)
	}
	return segs, reads, nil
}

// batchWrite puts items into the audit table 25 at a time, retrying
// unprocessed items a bounded number of times.
func (s *Store) batchWrite(ctx context.Context, items []item) error {
	for len(items) > 0 {
		n := min(len(items), 25)
		reqs := make([]types.WriteRequest, n)
		for i, it := range items[:n] {
			reqs[i] = types.WriteRequest{PutRequest: &types.PutRequest{Item: it}}
		}
		items = items[n:]
		for try := 0; len(reqs) > 0; try++ {
			if try > 0 {
				if try > 8 {
					return vsecure.Errorf(vsecure.EUnavailable, "the store is unavailable")
				}
				if err := sleep(ctx, try); err != nil {
					return storeError(err, "IndexAudit")
				}
			}
			in := &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{s.audit: reqs}}
			if s.capacity != nil {
				in.ReturnConsumedCapacity = types.ReturnConsumedCapacityIndexes
			}
			out, err := s.db.BatchWriteItem(ctx, in)
			if err != nil {
				return storeError(err, "IndexAudit")
			}
			if s.capacity != nil {
				s.capacity("IndexAudit", out.ConsumedCapacity)
			}
			reqs = out.UnprocessedItems[s.audit]
		}
	}
	return nil
}

// advance moves the watermark from through (its value read by this pass,
// "" for none) to end, with the pass's reads added to their heads, in one
// transaction. Lost on the watermark: another runner did it, which is
// fine. A head that no longer exists is dropped and the rest retried.
func (s *Store) advance(ctx context.Context, through, w, end string, reads map[string]passReads) error {
	wm := item{
		schema.AuditPK: str(schema.AuditWatermarkPK), schema.AuditSK: str(schema.AuditWatermarkSK),
		schema.AuditThrough: str(end),
	}
	put := &types.Put{TableName: aws.String(s.audit), Item: wm, ExpressionAttributeNames: map[string]string{"#pk": schema.AuditPK}}
	if through == "" {
		put.ConditionExpression = aws.String("attribute_not_exists(#pk)")
	} else {
		put.ConditionExpression = aws.String("#t = :w")
		put.ExpressionAttributeNames = map[string]string{"#t": schema.AuditThrough}
		put.ExpressionAttributeValues = item{":w": str(through)}
	}
	uris := make([]string, 0, len(reads))
	for u := range reads {
		uris = append(uris, u)
	}
	slices.Sort(uris)
	for try := 0; ; try++ {
		txItems := []types.TransactWriteItem{{Put: put}}
		for _, u := range uris {
			r := reads[u]
			txItems = append(txItems, types.TransactWriteItem{Update: &types.Update{
				TableName:                aws.String(s.table),
				Key:                      headKey(u),
				UpdateExpression:         aws.String("ADD #ac :n SET #at = :at, #ix = :e"),
				ConditionExpression:      aws.String("attribute_exists(#pk)"),
				ExpressionAttributeNames: map[string]string{"#ac": "accessCount", "#at": "accessedAt", "#ix": attrIndexed, "#pk": schema.PK},
				ExpressionAttributeValues: item{
					":n": num(r.n), ":at": str(r.last.Format(time.RFC3339Nano)), ":e": str(end),
				},
			}})
		}
		sum := sha256.Sum256([]byte("index#" + w + "#" + end + "#" + strings.Join(uris, "\n") + "#" + strconv.Itoa(try)))
		in := &dynamodb.TransactWriteItemsInput{TransactItems: txItems, ClientRequestToken: aws.String(hex.EncodeToString(sum[:18]))}
		if s.capacity != nil {
			in.ReturnConsumedCapacity = types.ReturnConsumedCapacityIndexes
		}
		out, err := s.db.TransactWriteItems(ctx, in)
		if err == nil {
			if s.capacity != nil {
				s.capacity("IndexAudit", out.ConsumedCapacity)
			}
			return nil
		}
		var tce *types.TransactionCanceledException
		if !errors.As(err, &tce) || try >= 6 {
			return storeError(err, "IndexAudit")
		}
		c := &canceled{reasons: tce.CancellationReasons, err: err}
		if f, _ := c.failed(0); f {
			return nil // another runner moved the watermark past this pass
		}
		var keep []string
		for i, u := range uris {
			if f, _ := c.failed(i + 1); !f {
				keep = append(keep, u)
			}
		}
		if len(keep) == len(uris) { // a conflict or throttling: back off
			if err := sleep(ctx, try); err != nil {
				return storeError(err, "IndexAudit")
			}
		}
		uris = keep
	}
}
