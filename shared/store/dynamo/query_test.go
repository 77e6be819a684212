package dynamo_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vsecure/vsecure/shared/auditlog"
	"github.com/vsecure/vsecure/shared/store/dynamo"
	"github.com/vsecure/vsecure/shared/store/dynamo/schema"
	"github.com/vsecure/vsecure/shared/store/storetest"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// queries records the audit Queries (partition, consistency) and how many
// shard Queries were in flight together at most.
type queries struct {
	dynamo.API
	mu       sync.Mutex
	got      []string // pk, "+strong" when consistent
	inFlight int
	most     int
	all      chan struct{} // closed once 16 shard Queries are in flight
	once     sync.Once
}

func (q *queries) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	pk := sv(in.ExpressionAttributeValues, ":p")
	rec := pk
	if aws.ToBool(in.ConsistentRead) {
		rec += "+strong"
	}
	q.mu.Lock()
	q.got = append(q.got, rec)
	shard := strings.HasPrefix(pk, "T#")
	if shard {
		q.inFlight++
		q.most = max(q.most, q.inFlight)
		if q.inFlight == schema.AuditShards {
			q.once.Do(func() { close(q.all) })
		}
	}
	q.mu.Unlock()
	if shard {
		// Hold each shard Query until all 16 are in flight (or a while
		// has passed: sequential Queries then show as most == 1).
		select {
		case <-q.all:
		case <-time.After(2 * time.Second):
		}
		defer func() { q.mu.Lock(); q.inFlight--; q.mu.Unlock() }()
	}
	return q.API.Query(ctx, in, o...)
}

func (q *queries) reset() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	got := q.got
	q.got, q.most = nil, 0
	q.all, q.once = make(chan struct{}), sync.Once{}
	return got
}

func count(got []string, prefix string) int {
	n := 0
	for _, g := range got {
		if strings.HasPrefix(g, prefix) {
			n++
		}
	}
	return n
}

// TestQueryAuditRoundTrips: a filtered query whose range ends below the
// watermark reads no tail, and once the Store has seen that watermark
// not even the watermark; the watermark read is eventually consistent
// (a stale one only moves entries from the index to the tail); a query
// reaching the tail sends its 16 shard Queries at once.
func TestQueryAuditRoundTrips(t *testing.T) {
	q := &queries{API: client(t), all: make(chan struct{})}
	w := newLogWorld(t, q, dynamo.WithIndexTiming(0, 0, 0))
	w.secret("vsecure://secrets/production/DB")
	for range 20 {
		w.read("vsecure://secrets/production/DB", "agent-1", true)
	}
	w.drain(w.at.Add(time.Millisecond))
	mid := w.all[10].Timestamp
	for range 5 { // the tail
		w.read("vsecure://secrets/production/DB", "agent-1", true)
	}
	f := vsecure.AuditFilter{Actor: "agent-1", To: mid}
	for i := range 2 {
		q.reset()
		if got, want := w.query(f), w.want(f); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("query %d: %v, want %v", i, got, want)
		}
		got := q.reset()
		if n := count(got, "T#"); n != 0 {
			t.Fatalf("query %d below the watermark read the tail: %v", i, got)
		}
		if n := count(got, schema.AuditWatermarkPK+"+strong"); n != 0 {
			t.Fatalf("query %d read the watermark strongly: %v", i, got)
		}
		if n := count(got, schema.AuditWatermarkPK); i == 1 && n != 0 {
			t.Fatalf("second query read the watermark again: %v", got)
		}
		if count(got, schema.AuditIndexPrefix) == 0 {
			t.Fatalf("query %d: no segment read: %v", i, got)
		}
		for _, g := range got {
			if strings.HasPrefix(g, schema.AuditIndexPrefix) && !strings.HasSuffix(g, "+strong") {
				t.Fatalf("segments read eventually consistent: %v", got)
			}
		}
	}
	f = vsecure.AuditFilter{Actor: "agent-1"}
	q.reset()
	if _, _, err := w.s.QueryAudit(t.Context(), f, "", 3); err != nil {
		t.Fatal(err)
	}
	q.mu.Lock()
	most, got := q.most, q.got
	q.mu.Unlock()
	if n := count(got, "T#"); n != schema.AuditShards || most != schema.AuditShards {
		t.Fatalf("tail: %d shard Queries, %d at once, want %d at once: %v", n, most, schema.AuditShards, got)
	}
	for _, g := range got {
		if strings.HasPrefix(g, "T#") && !strings.HasSuffix(g, "+strong") {
			t.Fatalf("tail read eventually consistent: %v", got)
		}
	}
}

// staleReplica drops every other item from eventually consistent
// BatchGetItem answers, as a replica that has not seen them yet would.
type staleReplica struct {
	dynamo.API
	mu      sync.Mutex
	dropped int
}

func (s *staleReplica) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	out, err := s.API.BatchGetItem(ctx, in, o...)
	if err != nil {
		return out, err
	}
	for table, ka := range in.RequestItems {
		if aws.ToBool(ka.ConsistentRead) {
			continue
		}
		var keep []map[string]types.AttributeValue
		for i, it := range out.Responses[table] {
			if i%2 == 1 {
				s.mu.Lock()
				s.dropped++
				s.mu.Unlock()
				continue
			}
			keep = append(keep, it)
		}
		out.Responses[table] = keep
	}
	return out, nil
}

// TestQueryAuditStaleEntries: the indexed part fetches its entries
// eventually consistent; one a stale replica does not return yet is read
// again strongly, never left out of the page.
func TestQueryAuditStaleEntries(t *testing.T) {
	stale := &staleReplica{API: client(t)}
	w := newLogWorld(t, stale, dynamo.WithIndexTiming(0, 0, 0))
	w.secret("vsecure://secrets/production/DB")
	for i := range 30 {
		w.read("vsecure://secrets/production/DB", "agent-1", i%4 != 0)
	}
	w.drain(w.at.Add(time.Millisecond))
	for _, f := range []vsecure.AuditFilter{{Actor: "agent-1"}, {Success: ptr(false)}, {Resource: "vsecure://secrets/*"}} {
		if got, want := w.query(f), w.want(f); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("filter %+v: %d entries, want %d", f, len(got), len(want))
		}
	}
	if stale.dropped == 0 {
		t.Fatal("no eventually consistent BatchGetItem: the test tested nothing")
	}
}

// TestAuditEpochKeepsNoTTL: with a retention, every entry item gets a
// ttl except an epoch's opening entry, which holds the wrapped MAC key
// that any later entry of its chain needs to be checked.
func TestAuditEpochKeepsNoTTL(t *testing.T) {
	db := client(t)
	table, audit := tables(t, db)
	s, err := dynamo.New(db, table, audit, dynamo.WithSeal(storetest.MACKeys(t), "test", 1),
		dynamo.WithAuditPutBudget(0), dynamo.WithAuditRetention(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	for i := range 3 {
		e := vsecure.Entry{ID: storetest.NewID("log_", at), Timestamp: at.Add(time.Duration(i) * time.Second), Operation: vsecure.AuditListSecrets, Actor: "admin", Success: true}
		if err := s.AppendAudit(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	epochs, others := 0, 0
	for _, pk := range schema.AuditShardPKs() {
		out, err := db.Query(t.Context(), &dynamodb.QueryInput{
			TableName: aws.String(audit), KeyConditionExpression: aws.String("pk = :p"), ConsistentRead: aws.Bool(true),
			ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: pk}},
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range out.Items {
			_, hasTTL := it[schema.AuditTTL]
			if strings.Contains(sv(it, "data"), `"operation":"`+auditlog.OpEpoch+`"`) {
				epochs++
				if hasTTL {
					t.Fatalf("opening entry %s has a ttl", sv(it, "sk"))
				}
			} else {
				others++
				if !hasTTL {
					t.Fatalf("entry %s has no ttl", sv(it, "sk"))
				}
			}
		}
	}
	if epochs != 1 || others != 3 {
		t.Fatalf("%d opening entries and %d others, want 1 and 3", epochs, others)
	}
}
