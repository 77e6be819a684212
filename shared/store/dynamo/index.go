package dynamo

import (
	"context"
	"errors"
	"slices"
	"sync"
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
	// a pass still covers two minutes, which bounds index writes per entry
	// (a pass's segments and heads are shared by all its entries), while
	// the lag (at most indexMaxDelay + indexSettle + the minute between
	// runs) stays well below the AuditIndexLag alarm's 300 s.
	indexMinEntries = 1000
	indexMaxDelay   = 120 * time.Second
	// indexMaxEntries keeps a segment under DynamoDB's 400 KB item limit
	// (about 40 bytes a ref).
	indexMaxEntries = 5000
	// indexParallel bounds the segment writes one pass has in flight at
	// once, headParallel its head updates (small single-item calls).
	indexParallel = 4
	headParallel  = 16
	// segmentBytes bounds the refs of one segment item, so that a segment
	// is read for 1 RRU (4 KB, strongly consistent) with its other
	// attributes: a page of a filtered query reads about what it returns
	// however large the pass.
	segmentBytes = 3800
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
	// Lag is how long the oldest entry not yet indexed has waited: now −
	// Through after a pass, that entry's age when a small young window is
	// left for a bigger pass, 0 when nothing settled is unindexed (a quiet
	// table's watermark may be old: it only moves when a pass runs).
	Lag time.Duration
}

// IndexAudit runs at most one indexer pass over the audit entries not yet
// indexed: it writes the filter index's segments of the window, adds the
// window's successful reads to the secrets' access counts in chunks of
// heads, and then moves the watermark past it. Runners may overlap: the
// window of a pass is fixed by its claim, its segments are the same
// whoever writes them, each head's update is conditional on the head not
// being counted through the pass's end yet, and only one runner can move
// the watermark from the pass's start, so no read is ever counted twice.
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
			return st, nil // caught up: Lag 0
		}
		if entries, end, err = s.window(ctx, w, bound, true); err != nil {
			return st, err
		}
		if len(entries) == 0 {
			// Nothing settled is unindexed: a quiet table is caught up
			// however old its watermark (the lag alarm must not page).
			return st, nil
		}
		oldest := skTime(getS(entries[0], schema.AuditSK))
		if len(entries) < s.minEntries && now.Sub(oldest) < s.maxDelay {
			// Waiting for a bigger pass: the lag is the oldest unindexed
			// entry's age, under maxDelay.
			st.Lag = now.Sub(oldest)
			return st, nil
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
	segs, reads, err := s.segments(end, entries)
	if err != nil {
		return st, err
	}
	if err := s.batchWrite(ctx, segs); err != nil {
		return st, err
	}
	if err := s.advance(ctx, through, end, reads); err != nil {
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
// first. With cut, it stops after indexMaxEntries entries and returns the
// sort key it stopped at as the window's end (else end).
func (s *Store) window(ctx context.Context, w, end string, cut bool) ([]item, string, error) {
	m, err := s.merge(ctx, "IndexAudit", s.shards(w, end, true, indexMaxEntries/schema.AuditShards+2), true)
	if err != nil {
		return nil, "", err
	}
	var out []item
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
		if cut && len(out) == indexMaxEntries {
			return out, sk, nil
		}
		out = append(out, it)
	}
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

// segments builds the window's segment items and counts its successful
// reads per secret. A key's refs (newest first) are cut into segments of
// at most segmentBytes; each segment's sort key is its oldest ref and its
// to the next newer segment's oldest ref (the window's end for the
// newest), so every ref r of a segment has sk <= r < to. The same window
// always gives the same items.
func (s *Store) segments(end string, entries []item) ([]item, map[string]passReads, error) {
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
		if vsecure.CountsAccess(e.Operation) && e.Success && e.Resource != "" {
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
	var segs []item
	for _, k := range keys {
		to := end
		for rs := refs[k]; len(rs) > 0; {
			enc := newRefsEncoder()
			n, size := 0, 1
			for n < len(rs) {
				m := enc.next(rs[n])
				if n > 0 && size+m > segmentBytes {
					break
				}
				enc.add()
				size += m
				n++
			}
			oldest := rs[n-1]
			it := item{
				schema.AuditPK:   str(schema.AuditIndexPrefix + k),
				schema.AuditSK:   str(oldest),
				schema.AuditTo:   str(to),
				schema.AuditRefs: &types.AttributeValueMemberB{Value: enc.bytes()},
			}
			if s.retention > 0 {
				it[schema.AuditTTL] = num(skTime(end).Add(s.retention).Unix())
			}
			segs = append(segs, it)
			to, rs = oldest, rs[n:]
		}
	}
	return segs, reads, nil
}

// parallel runs fn(0..n-1) with at most limit in flight and returns
// their errors.
func parallel(n, limit int, fn func(i int) error) error {
	errs := make([]error, n)
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = fn(i)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// batchWrite puts items into the audit table 25 a call, indexParallel
// calls at once, retrying unprocessed items a bounded number of times.
func (s *Store) batchWrite(ctx context.Context, items []item) error {
	n := (len(items) + 24) / 25
	return parallel(n, indexParallel, func(i int) error {
		batch := items[i*25 : min(len(items), (i+1)*25)]
		reqs := make([]types.WriteRequest, len(batch))
		for j, it := range batch {
			reqs[j] = types.WriteRequest{PutRequest: &types.PutRequest{Item: it}}
		}
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
			out, err := s.db.BatchWriteItem(ctx, in)
			if err != nil {
				return storeError(err, "IndexAudit")
			}
			reqs = out.UnprocessedItems[s.audit]
		}
		return nil
	})
}

// advance adds the pass's reads to their heads and then moves the
// watermark from through (its value read by this pass, "" for none) to
// end. Each head is one plain UpdateItem (1 WRU and its gsi1 copy, half a
// transactional write), headParallel at once; the watermark goes after
// every head has landed, so the next pass cannot start before every count
// of this one is in. Each head's update holds only while its
// indexedThrough is below end, so an update applied by another runner, by
// a runner that stopped before the watermark, or by an SDK retry whose
// first answer was lost, is never applied again (a pass's heads were last
// counted by an earlier pass, whose end is at most this pass's start).
// ListSecrets counts the tail from max(through, indexedThrough) per head,
// so listings stay exact while the heads land.
func (s *Store) advance(ctx context.Context, through, end string, reads map[string]passReads) error {
	uris := make([]string, 0, len(reads))
	for u := range reads {
		uris = append(uris, u)
	}
	slices.Sort(uris)
	if err := parallel(len(uris), headParallel, func(i int) error { return s.countReads(ctx, end, uris[i], reads[uris[i]]) }); err != nil {
		return err
	}
	in := &dynamodb.PutItemInput{
		TableName: aws.String(s.audit),
		Item: item{
			schema.AuditPK: str(schema.AuditWatermarkPK), schema.AuditSK: str(schema.AuditWatermarkSK),
			schema.AuditThrough: str(end),
		},
		ExpressionAttributeNames: map[string]string{"#pk": schema.AuditPK},
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
	}
	if through != "" {
		in.ConditionExpression = aws.String("#t = :w")
		in.ExpressionAttributeNames = map[string]string{"#t": schema.AuditThrough}
		in.ExpressionAttributeValues = item{":w": str(through)}
	}
	_, err := s.db.PutItem(ctx, in)
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return nil // another runner moved the watermark past this pass
	}
	if err != nil {
		return storeError(err, "IndexAudit")
	}
	return nil
}

// countReads adds r, the reads of the pass ending at end, to the head of
// uri. A failed condition (the head is gone, or counted through end
// already) is not an error: there is nothing left to count.
func (s *Store) countReads(ctx context.Context, end, uri string, r passReads) error {
	in := &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.table),
		Key:                      headKey(uri),
		UpdateExpression:         aws.String("ADD #ac :n SET #at = :at, #ix = :e"),
		ConditionExpression:      aws.String("attribute_exists(#pk) AND (attribute_not_exists(#ix) OR #ix < :e)"),
		ExpressionAttributeNames: map[string]string{"#ac": "accessCount", "#at": "accessedAt", "#ix": attrIndexed, "#pk": schema.PK},
		ExpressionAttributeValues: item{
			":n": num(r.n), ":at": str(r.last.Format(time.RFC3339Nano)), ":e": str(end),
		},
	}
	_, err := s.db.UpdateItem(ctx, in)
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return nil
	}
	if err != nil {
		return storeError(err, "IndexAudit")
	}
	return nil
}
