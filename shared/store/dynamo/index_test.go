package dynamo_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vsecure/vsecure/shared/store/dynamo"
	"github.com/vsecure/vsecure/shared/store/dynamo/schema"
	"github.com/vsecure/vsecure/shared/store/storetest"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// logWorld writes a log at a test clock's times into fresh tables.
type logWorld struct {
	t     *testing.T
	db    *dynamodb.Client
	table string
	audit string
	s     *dynamo.Store
	at    time.Time
	step  time.Duration // between entries (0: a second)
	all   []vsecure.Entry
	reads map[string]int64 // successful reads per secret
}

func newLogWorld(t *testing.T, api dynamo.API, opts ...dynamo.Option) *logWorld {
	db := client(t)
	table, audit := tables(t, db)
	if api == nil {
		api = db
	}
	s, err := dynamo.New(api, table, audit, append([]dynamo.Option{dynamo.WithAuditPutBudget(0)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return &logWorld{t: t, db: db, table: table, audit: audit, s: s, at: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC), reads: map[string]int64{}}
}

func (w *logWorld) entry(op, resource, actor string, ok bool) vsecure.Entry {
	if w.step == 0 {
		w.step = time.Second
	}
	w.at = w.at.Add(w.step)
	return vsecure.Entry{ID: storetest.NewID("log_", w.at), Timestamp: w.at, Operation: op, Resource: resource, Actor: actor, Success: ok}
}

func (w *logWorld) secret(uri string) {
	w.t.Helper()
	e := w.entry(vsecure.AuditWrite, uri, "admin", true)
	h := vsecure.Secret{URI: uri, Version: 1, CreatedAt: e.Timestamp, UpdatedAt: e.Timestamp}
	v := vsecure.SecretVersion{URI: uri, Version: 1, Sealed: vsecure.Sealed{KeyID: "k", Ciphertext: []byte("x")}, CreatedAt: e.Timestamp}
	if err := w.s.PutSecret(w.t.Context(), h, v, e); err != nil {
		w.t.Fatal(err)
	}
	w.all = append(w.all, e)
}

func (w *logWorld) read(uri, actor string, ok bool) {
	w.t.Helper()
	e := w.entry(vsecure.AuditRead, uri, actor, ok)
	var err error
	if ok {
		err = w.s.RecordRead(w.t.Context(), uri, e.Timestamp, e)
		w.reads[uri]++
	} else {
		err = w.s.AppendAudit(w.t.Context(), e)
	}
	if err != nil {
		w.t.Fatal(err)
	}
	w.all = append(w.all, e)
}

func (w *logWorld) append(e vsecure.Entry) {
	w.t.Helper()
	if err := w.s.AppendAudit(w.t.Context(), e); err != nil {
		w.t.Fatal(err)
	}
	w.all = append(w.all, e)
}

// drain runs passes at now until one indexes nothing.
func (w *logWorld) drain(now time.Time) (passes []dynamo.IndexStats) {
	w.t.Helper()
	for range 100 {
		st, err := w.s.IndexAudit(w.t.Context(), now)
		if err != nil {
			w.t.Fatalf("IndexAudit: %v", err)
		}
		if st.Entries == 0 {
			return passes
		}
		passes = append(passes, st)
	}
	w.t.Fatal("the indexer never caught up")
	return nil
}

// query pages through QueryAudit with a small limit.
func (w *logWorld) query(f vsecure.AuditFilter) []string {
	w.t.Helper()
	var out []string
	cursor := ""
	for range 1000 {
		page, next, err := w.s.QueryAudit(w.t.Context(), f, cursor, 3)
		if err != nil {
			w.t.Fatalf("QueryAudit %+v: %v", f, err)
		}
		for _, e := range page {
			out = append(out, e.ID)
		}
		if next == "" {
			return out
		}
		cursor = next
	}
	w.t.Fatal("cursor never ended")
	return nil
}

// want is every entry matching f, newest first.
func (w *logWorld) want(f vsecure.AuditFilter) []string {
	var out []string
	for i := len(w.all) - 1; i >= 0; i-- {
		if f.Matches(&w.all[i]) {
			out = append(out, w.all[i].ID)
		}
	}
	return out
}

// segments reads every segment item of the filter key.
func (w *logWorld) segments(key string) []map[string]types.AttributeValue {
	w.t.Helper()
	out, err := w.db.Query(w.t.Context(), &dynamodb.QueryInput{
		TableName: aws.String(w.audit), KeyConditionExpression: aws.String("pk = :p"), ConsistentRead: aws.Bool(true),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: schema.AuditIndexPrefix + key}},
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return out.Items
}

func sv(it map[string]types.AttributeValue, name string) string {
	if v, ok := it[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// refsOf unpacks a segment's refs (t nil: panics on corrupt refs).
func refsOf(t *testing.T, it map[string]types.AttributeValue) []string {
	b, ok := it["refs"].(*types.AttributeValueMemberB)
	if !ok {
		if t != nil {
			t.Fatalf("segment %s has no packed refs", sv(it, "sk"))
		}
		panic("segment without packed refs")
	}
	rs, err := dynamo.DecodeRefs(b.Value)
	if err != nil {
		if t != nil {
			t.Fatalf("segment %s: %v", sv(it, "sk"), err)
		}
		panic(err)
	}
	return rs
}

func sk(e vsecure.Entry) string {
	return e.Timestamp.UTC().Format("2006-01-02T15:04:05.000000000Z") + "#" + e.ID
}

var filters = []vsecure.AuditFilter{
	{},
	{Resource: "vsecure://secrets/production/DB"},
	{Resource: "vsecure://secrets/production/*"},
	{Resource: "vsecure://secrets/*"},
	{Resource: "vsecure://custom/*"},
	{Resource: "vsecure://secrets/production/*", Actor: "agent-2"},
	{Actor: "agent-1"},
	{Actor: "agent-1", Operation: vsecure.AuditRead, Success: ptr(false)},
	{Operation: vsecure.AuditWrite},
	{Success: ptr(false)},
	{Success: ptr(true), Operation: vsecure.AuditRead},
}

func ptr[T any](v T) *T { return &v }

// TestIndexSegments: one pass writes a segment per key of its entries,
// including every pattern above each resource, whose refs are exactly
// the window's entries under that key, newest first; every filter then
// answers the same before, between and after passes.
func TestIndexSegments(t *testing.T) {
	w := newLogWorld(t, nil, dynamo.WithIndexTiming(0, 0, 0))
	w.secret("vsecure://secrets/production/DB")
	w.secret("vsecure://secrets/staging/API")
	w.secret("vsecure://custom/team/TOKEN")
	for i := range 30 {
		w.read("vsecure://secrets/production/DB", fmt.Sprint("agent-", i%3), i%5 != 0)
		w.read("vsecure://secrets/staging/API", "agent-1", true)
		if i%7 == 0 {
			w.append(w.entry(vsecure.AuditConfigure, "vsecure://secrets/production/*", "admin", true))
			w.append(w.entry(vsecure.AuditListSecrets, "", "admin", true))
			w.read("vsecure://custom/team/TOKEN", "agent-2", true)
		}
	}
	check := func(when string) {
		t.Helper()
		for _, f := range filters {
			if got, want := w.query(f), w.want(f); !slices.Equal(got, want) {
				t.Fatalf("%s: filter %+v: %d entries, want %d\n got %v\nwant %v", when, f, len(got), len(want), got, want)
			}
		}
	}
	check("nothing indexed")
	half := w.at
	w.drain(half.Add(time.Millisecond))
	check("all indexed")

	byKey := map[string][]string{}
	for i := len(w.all) - 1; i >= 0; i-- {
		e := w.all[i]
		keys := []string{"a:" + e.Actor, "o:" + e.Operation}
		if e.Resource != "" {
			keys = append(keys, "r:"+e.Resource)
			u, _ := vsecure.ParseURI(e.Resource)
			for j := len(u.Segments); j >= 0; j-- {
				p := vsecure.URI{Kind: u.Kind, Segments: u.Segments[:j], Wildcard: true}
				if p.Covers(u) {
					keys = append(keys, "p:"+p.String())
				}
			}
		}
		if !e.Success {
			keys = append(keys, "f:")
		}
		for _, k := range keys {
			byKey[k] = append(byKey[k], sk(e))
		}
	}
	for _, k := range []string{"p:vsecure://secrets/*", "p:vsecure://secrets/production/*", "p:vsecure://custom/*", "p:vsecure://custom/team/*", "f:"} {
		if len(byKey[k]) == 0 {
			t.Fatalf("the fixture has no entry under %s", k)
		}
	}
	for k, want := range byKey {
		segs := w.segments(k)
		var got []string
		for i := len(segs) - 1; i >= 0; i-- { // newest segment first
			got = append(got, refsOf(t, segs[i])...)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("segments of %s: refs\n%v\nwant\n%v", k, got, want)
		}
	}

	// More entries: the tail and the index together, then indexed again.
	for range 5 {
		w.read("vsecure://secrets/production/DB", "agent-1", false)
		w.read("vsecure://secrets/staging/API", "agent-2", true)
	}
	check("partly indexed")
	w.drain(w.at.Add(time.Millisecond))
	check("indexed in two passes")
	w.wantCounts()
}

// wantCounts checks the heads' access counts (LoadAccess, after the
// indexer) and the listing's.
func (w *logWorld) wantCounts() {
	w.t.Helper()
	for uri, n := range w.reads {
		u, _ := vsecure.ParseURI(uri)
		v, err := w.s.LoadAccess(w.t.Context(), vsecure.AccessQuery{Resource: u, Operation: vsecure.OpRead})
		if err != nil || v.Secret == nil {
			w.t.Fatalf("LoadAccess %s: %v", uri, err)
		}
		if v.Secret.AccessCount != n {
			w.t.Fatalf("%s: accessCount %d, want %d successful reads", uri, v.Secret.AccessCount, n)
		}
		l, _, err := w.s.ListSecrets(w.t.Context(), uri, "", 1)
		if err != nil || len(l) != 1 || l[0].AccessCount != n {
			w.t.Fatalf("ListSecrets %s: %+v %v, want count %d", uri, l, err, n)
		}
	}
}

// recorder keeps every segment the indexer writes.
type recorder struct {
	dynamo.API
	mu   sync.Mutex
	segs []map[string]string // pk|sk → refs
}

func (r *recorder) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	m := map[string]string{}
	for _, reqs := range in.RequestItems {
		for _, q := range reqs {
			it := q.PutRequest.Item
			m[sv(it, "pk")+"|"+sv(it, "sk")+"|"+sv(it, "to")] = strings.Join(refsOf(nil, it), "\n")
		}
	}
	r.mu.Lock()
	r.segs = append(r.segs, m)
	r.mu.Unlock()
	return r.API.BatchWriteItem(ctx, in, o...)
}

// TestIndexConcurrentRunners: two runners at once count every successful
// read exactly once and write the same segments for the same pass.
func TestIndexConcurrentRunners(t *testing.T) {
	rec := &recorder{API: client(t)}
	w := newLogWorld(t, rec, dynamo.WithIndexTiming(0, 0, 0))
	uris := []string{"vsecure://secrets/production/A", "vsecure://secrets/production/B", "vsecure://secrets/staging/C"}
	for _, u := range uris {
		w.secret(u)
	}
	for i := range 120 {
		w.read(uris[i%3], "agent-1", i%11 != 0)
	}
	now := w.at.Add(time.Millisecond)
	for round := range 3 {
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				if _, err := w.s.IndexAudit(t.Context(), now); err != nil {
					t.Errorf("IndexAudit: %v", err)
				}
			})
		}
		wg.Wait()
		if round == 0 {
			for range 40 {
				w.read(uris[1], "agent-2", true)
			}
			now = w.at.Add(time.Millisecond)
		}
	}
	w.drain(now)
	w.wantCounts()
	all := map[string]string{}
	for _, m := range rec.segs {
		for k, refs := range m {
			if prev, ok := all[k]; ok && prev != refs {
				t.Fatalf("segment %s written twice with different refs", k)
			}
			all[k] = refs
		}
	}
	if len(all) == 0 {
		t.Fatal("no segments written")
	}
}

// TestIndexResumesAClaimedPass: a runner that stopped between its claim
// and the watermark leaves the claim; the next call finishes exactly
// that window, and the one after it carries on from its end.
func TestIndexResumesAClaimedPass(t *testing.T) {
	w := newLogWorld(t, nil, dynamo.WithIndexTiming(0, 0, 0))
	w.secret("vsecure://secrets/production/DB")
	for range 20 {
		w.read("vsecure://secrets/production/DB", "agent-1", true)
	}
	// The claim of a pass over the first 8 entries, as a stopped runner
	// left it (segments possibly half written: none here).
	end := sk(w.all[8])
	_, err := w.db.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(w.audit), Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: schema.AuditClaimPK}, "sk": &types.AttributeValueMemberS{Value: sk(w.all[0])},
		"to": &types.AttributeValueMemberS{Value: end},
	}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := w.s.IndexAudit(t.Context(), w.at.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if st.Entries != 8 || !st.Through.Equal(w.all[8].Timestamp) {
		t.Fatalf("resumed pass %+v, want the claimed 8 entries through %v", st, w.all[8].Timestamp)
	}
	u, _ := vsecure.ParseURI("vsecure://secrets/production/DB")
	v, err := w.s.LoadAccess(t.Context(), vsecure.AccessQuery{Resource: u, Operation: vsecure.OpRead})
	if err != nil || v.Secret.AccessCount != 7 {
		t.Fatalf("after the claimed pass: %v, count %d, want the 7 reads in it", err, v.Secret.AccessCount)
	}
	w.drain(w.at.Add(time.Hour))
	w.wantCounts()
	if got, want := w.query(vsecure.AuditFilter{Actor: "agent-1"}), w.want(vsecure.AuditFilter{Actor: "agent-1"}); !slices.Equal(got, want) {
		t.Fatalf("by actor: %d entries, want %d", len(got), len(want))
	}
}

// crashBeforeWatermark fails every PutItem that moves the watermark (a
// runner that stopped after its heads), until off.
type crashBeforeWatermark struct {
	dynamo.API
	mu    sync.Mutex
	on    bool
	heads int // head updates sent
}

func (c *crashBeforeWatermark) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	c.mu.Lock()
	on := c.on
	c.mu.Unlock()
	if on && sv(in.Item, "pk") == schema.AuditWatermarkPK {
		return nil, fmt.Errorf("runner stopped")
	}
	return c.API.PutItem(ctx, in, o...)
}

func (c *crashBeforeWatermark) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	c.mu.Lock()
	c.heads++
	c.mu.Unlock()
	return c.API.UpdateItem(ctx, in, o...)
}

// killedRunner lets the first `applied` head updates through, then
// applies `lost` more whose answers it loses (the SDK would retry them),
// then fails every other call, as a runner killed mid-pass.
type killedRunner struct {
	dynamo.API
	mu            sync.Mutex
	applied, lost int
}

func (k *killedRunner) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	k.mu.Lock()
	ok, lost := k.applied > 0, k.applied == 0 && k.lost > 0
	switch {
	case ok:
		k.applied--
	case lost:
		k.lost--
	}
	k.mu.Unlock()
	if !ok && !lost {
		return nil, fmt.Errorf("runner killed")
	}
	out, err := k.API.UpdateItem(ctx, in, o...)
	if lost && err == nil {
		return nil, fmt.Errorf("connection reset after the update")
	}
	return out, err
}

func (k *killedRunner) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if sv(in.Item, "pk") == schema.AuditWatermarkPK {
		return nil, fmt.Errorf("runner killed")
	}
	return k.API.PutItem(ctx, in, o...)
}

// TestIndexRunnerKilledMidHeads: a runner killed after some of its pass's
// head updates (some of them applied with their answers lost) and before
// the watermark leaves listings exact; another runner (a new process)
// resumes the claimed pass and every head ends up counted exactly once,
// the already counted ones not again.
func TestIndexRunnerKilledMidHeads(t *testing.T) {
	kill := &killedRunner{API: client(t), applied: 25, lost: 5}
	w := newLogWorld(t, kill, dynamo.WithIndexTiming(0, 0, 0))
	var uris []string
	for i := range 80 {
		uris = append(uris, fmt.Sprintf("vsecure://secrets/production/K%02d", i))
		w.secret(uris[i])
	}
	for i := range 240 {
		w.read(uris[i*7%len(uris)], "agent-1", i%13 != 0)
	}
	now := w.at.Add(time.Hour)
	if _, err := w.s.IndexAudit(t.Context(), now); err == nil {
		t.Fatal("the killed runner's pass finished")
	}
	w.wantListed("vsecure://secrets/production/*")

	next, err := dynamo.New(client(t), w.table, w.audit, dynamo.WithAuditPutBudget(0), dynamo.WithIndexTiming(0, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	st, err := next.IndexAudit(t.Context(), now)
	if err != nil || st.Entries != len(w.all) {
		t.Fatalf("resumed pass %+v %v, want all %d entries", st, err, len(w.all))
	}
	w.s = next
	if passes := w.drain(now); len(passes) != 0 {
		t.Fatalf("%d more passes after the resumed one: %+v", len(passes), passes)
	}
	w.wantCounts()
	w.wantListed("vsecure://secrets/production/*")
}

// TestIndexPassOf300Secrets: a pass holds every entry of its window
// however many secrets were read in it (here 300 heads): a runner that
// stops after the heads' updates but before the
// watermark leaves listings exact, and two runners finishing that pass
// at once count every read exactly once. No segment is over 4 KB.
func TestIndexPassOf300Secrets(t *testing.T) {
	db := client(t)
	crash := &crashBeforeWatermark{API: db, on: true}
	w := newLogWorld(t, crash, dynamo.WithIndexTiming(0, 0, 0))
	var uris []string
	for i := range 300 {
		uris = append(uris, fmt.Sprintf("vsecure://secrets/production/S%03d", i))
		w.secret(uris[i])
	}
	for _, u := range uris {
		w.read(u, "agent-1", true)
		w.read(u, "agent-2", true)
	}
	now := w.at.Add(time.Hour)
	if _, err := w.s.IndexAudit(t.Context(), now); err == nil {
		t.Fatal("the stopped runner's pass finished")
	}
	if crash.heads != len(uris) {
		t.Fatalf("%d heads counted before the watermark, want all %d", crash.heads, len(uris))
	}
	w.wantListed("vsecure://secrets/production/*")

	crash.mu.Lock()
	crash.on = false
	crash.mu.Unlock()
	stats := make([]dynamo.IndexStats, 2)
	var wg sync.WaitGroup
	for i := range stats {
		wg.Go(func() {
			var err error
			if stats[i], err = w.s.IndexAudit(t.Context(), now); err != nil {
				t.Errorf("IndexAudit: %v", err)
			}
		})
	}
	wg.Wait()
	for _, st := range stats {
		if st.Entries != len(w.all) {
			t.Fatalf("pass %+v, want all %d entries in one pass", st, len(w.all))
		}
	}
	if passes := w.drain(now); len(passes) != 0 {
		t.Fatalf("%d more passes after the first: %+v", len(passes), passes)
	}
	w.wantListed("vsecure://secrets/production/*")
	for _, u := range uris {
		pu, _ := vsecure.ParseURI(u)
		v, err := w.s.LoadAccess(t.Context(), vsecure.AccessQuery{Resource: pu, Operation: vsecure.OpRead})
		if err != nil || v.Secret == nil || v.Secret.AccessCount != w.reads[u] {
			t.Fatalf("LoadAccess %s: %v, want count %d", u, err, w.reads[u])
		}
	}
	segs := w.segments("o:" + vsecure.AuditRead)
	if len(segs) < 2 {
		t.Fatalf("%d segments for 600 reads, want them cut at 4 KB", len(segs))
	}
	var refs []string
	for i := len(segs) - 1; i >= 0; i-- {
		size := 0
		for name, v := range segs[i] {
			size += len(name) + len(sv(map[string]types.AttributeValue{name: v}, name))
			if b, ok := v.(*types.AttributeValueMemberB); ok {
				size += len(b.Value)
			}
		}
		if size > 4096 {
			t.Fatalf("segment %s is %d bytes", sv(segs[i], "sk"), size)
		}
		refs = append(refs, refsOf(t, segs[i])...)
	}
	if want := w.want(vsecure.AuditFilter{Operation: vsecure.AuditRead}); len(refs) != len(want) {
		t.Fatalf("o:read segments hold %d refs, want %d", len(refs), len(want))
	}
	for _, f := range []vsecure.AuditFilter{{Operation: vsecure.AuditRead}, {Actor: "agent-2"}, {Resource: "vsecure://secrets/production/S123"}} {
		if got, want := w.query(f), w.want(f); !slices.Equal(got, want) {
			t.Fatalf("filter %+v: %d entries, want %d", f, len(got), len(want))
		}
	}
}

// wantListed checks the listing's counts of every secret under pattern.
func (w *logWorld) wantListed(pattern string) {
	w.t.Helper()
	seen, cursor := 0, ""
	for {
		l, next, err := w.s.ListSecrets(w.t.Context(), pattern, cursor, 100)
		if err != nil {
			w.t.Fatalf("ListSecrets: %v", err)
		}
		for _, h := range l {
			if h.AccessCount != w.reads[h.URI] {
				w.t.Fatalf("ListSecrets %s: count %d, want %d", h.URI, h.AccessCount, w.reads[h.URI])
			}
			seen++
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if seen == 0 {
		w.t.Fatal("nothing listed")
	}
}

// TestIndexSkipsSmallYoungWindows: with the default timing, a window of
// fewer than 1,000 entries waits until its oldest entry is two minutes
// old, and never covers the last 10 s.
func TestIndexSkipsSmallYoungWindows(t *testing.T) {
	w := newLogWorld(t, nil)
	w.secret("vsecure://secrets/production/DB")
	for range 10 {
		w.read("vsecure://secrets/production/DB", "agent-1", true)
	}
	oldest := w.all[0].Timestamp
	for _, now := range []time.Time{w.at.Add(time.Second), oldest.Add(119 * time.Second)} {
		st, err := w.s.IndexAudit(t.Context(), now)
		if err != nil || st.Entries != 0 {
			t.Fatalf("at %v: %+v %v, want the pass skipped", now.Sub(oldest), st, err)
		}
		// Skipped, the lag is the oldest unindexed entry's age (or 0 while
		// nothing has settled yet).
		if want := now.Sub(oldest); now.Sub(oldest) > 10*time.Second && st.Lag != want {
			t.Fatalf("skipped at %v: lag %v, want %v", now.Sub(oldest), st.Lag, want)
		}
	}
	st, err := w.s.IndexAudit(t.Context(), oldest.Add(120*time.Second))
	if err != nil || st.Entries != 11 {
		t.Fatalf("two minutes on: %+v %v, want all 11 entries", st, err)
	}
	if want := oldest.Add(110 * time.Second); !st.Through.Equal(want) || st.Lag != 10*time.Second {
		t.Fatalf("through %v lag %v, want %v and the 10 s settle", st.Through, st.Lag, want)
	}
	// A quiet table an hour later is caught up: its watermark is an hour
	// old, its lag 0 (the AuditIndexLag alarm must not page on silence).
	if q, err := w.s.IndexAudit(t.Context(), st.Through.Add(time.Hour)); err != nil || q.Entries != 0 || q.Lag != 0 {
		t.Fatalf("quiet hour: %+v %v, want nothing indexed and lag 0", q, err)
	}
	// 999 new entries (after the watermark, 10 ms apart) wait; the 1,000th
	// indexes them at once, up to the settle.
	w.at, w.step = st.Through, 10*time.Millisecond
	for range 999 {
		w.read("vsecure://secrets/production/DB", "agent-1", true)
	}
	if st, err := w.s.IndexAudit(t.Context(), w.at.Add(10*time.Second+time.Millisecond)); err != nil || st.Entries != 0 {
		t.Fatalf("999 entries: %+v %v, want the pass skipped", st, err)
	}
	w.read("vsecure://secrets/production/DB", "agent-1", true)
	st, err = w.s.IndexAudit(t.Context(), w.at.Add(10*time.Second+time.Millisecond))
	if err != nil || st.Entries != 1000 {
		t.Fatalf("1,000 entries: %+v %v", st, err)
	}
	w.wantCounts()
}

// deadlines records the context deadline of every PutItem.
type deadlines struct {
	dynamo.API
	mu  sync.Mutex
	got []time.Time
}

func (d *deadlines) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	dl, _ := ctx.Deadline()
	d.mu.Lock()
	d.got = append(d.got, dl)
	d.mu.Unlock()
	return d.API.PutItem(ctx, in, o...)
}

// TestAuditPutBudget: an audit write must finish within 5 s of its
// entry's timestamp (the indexer's settle relies on it): its call runs
// with that deadline, and an entry already past it is refused unwritten.
func TestAuditPutBudget(t *testing.T) {
	db := client(t)
	table, audit := tables(t, db)
	api := &deadlines{API: db}
	s, err := dynamo.New(api, table, audit)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	now := time.Now().UTC()
	fresh := vsecure.Entry{ID: storetest.NewID("log_", now), Timestamp: now, Operation: vsecure.AuditRead, Resource: "vsecure://secrets/production/DB", Actor: "agent-1", Success: true}
	if err := s.RecordRead(ctx, fresh.Resource, now, fresh); err != nil {
		t.Fatal(err)
	}
	if len(api.got) != 1 || !api.got[0].Equal(now.Add(5*time.Second)) {
		t.Fatalf("put deadlines %v, want [%v]", api.got, now.Add(5*time.Second))
	}
	late := fresh
	late.ID, late.Timestamp = storetest.NewID("log_", now), now.Add(-6*time.Second)
	if err := s.AppendAudit(ctx, late); !vsecure.IsCode(err, vsecure.EUnavailable) {
		t.Fatalf("append of an entry 6 s old: %v, want unavailable", err)
	}
	if len(api.got) != 1 {
		t.Fatalf("the late entry was sent (%d puts)", len(api.got))
	}
	got, _, err := s.QueryAudit(ctx, vsecure.AuditFilter{}, "", 10)
	if err != nil || len(got) != 1 || got[0].ID != fresh.ID {
		t.Fatalf("log %v %v, want only the fresh entry", got, err)
	}
}
