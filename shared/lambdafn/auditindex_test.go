package lambdafn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/vsecure/vsecure/shared/store/dynamo"
)

// indexingStore is the fake store with an audit indexer answering from a
// script of passes (the last answer repeats).
type indexingStore struct {
	*fakeStore
	passes []indexPass
	calls  int
}

type indexPass struct {
	st  dynamo.IndexStats
	err error
}

func (s *indexingStore) IndexAudit(context.Context, time.Time) (dynamo.IndexStats, error) {
	p := s.passes[min(s.calls, len(s.passes)-1)]
	s.calls++
	return p.st, p.err
}

func indexFunction(t *testing.T, logs *bytes.Buffer, passes ...indexPass) (*Function, *indexingStore) {
	t.Helper()
	f, fs := newTestFunction(t, logs)
	st := &indexingStore{fakeStore: fs, passes: passes}
	g, err := New(f.Config, st, noSealer{}, f.Log)
	if err != nil {
		t.Fatal(err)
	}
	return g, st
}

// invokeIndex runs the handler as Lambda would with the deadline just past
// the margin: one pass, then the run ends.
func invokeIndex(t *testing.T, f *Function) (IndexResult, error) {
	t.Helper()
	h, err := f.IndexHandler()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(indexMargin+200*time.Millisecond))
	defer cancel()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: "req-index"})
	return h(ctx, events.EventBridgeEvent{ID: "ev-1"})
}

func TestIndexRunEmitsTheLagAsAnEMFMetric(t *testing.T) {
	var logs bytes.Buffer
	through := time.Now().Add(-42 * time.Second).UTC().Truncate(time.Second)
	f, st := indexFunction(t, &logs, indexPass{st: dynamo.IndexStats{Entries: 300, Segments: 20, Through: through, Lag: 42 * time.Second}})
	res, err := invokeIndex(t, f)
	if err != nil || st.calls != 1 {
		t.Fatalf("run: %+v, %v after %d passes", res, err, st.calls)
	}
	if res.Passes != 1 || res.Entries != 300 || res.Segments != 20 || res.LagSeconds != 42 || !res.Through.Equal(through) {
		t.Errorf("result %+v", res)
	}
	var run, pass map[string]any
	for line := range strings.Lines(logs.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %s", line)
		}
		switch m["message"] {
		case "audit index run":
			run = m
		case "audit index pass":
			pass = m
		}
	}
	if pass == nil || pass["entries"] != float64(300) || pass["awsRequestId"] != "req-index" {
		t.Errorf("pass line %v, want its counts and the invocation's request id", pass)
	}
	if run == nil || run[AuditIndexLagMetric] != float64(42) || run["awsRequestId"] != "req-index" {
		t.Fatalf("run line %v, want %s=42", run, AuditIndexLagMetric)
	}
	aws, _ := run["_aws"].(map[string]any)
	b, _ := json.Marshal(aws["CloudWatchMetrics"])
	if want := `[{"Dimensions":[["FunctionName"]],"Metrics":[{"Name":"AuditIndexLag","Unit":"Seconds"}],"Namespace":"vsecure"}]`; string(b) != want {
		t.Errorf("EMF directive %s, want %s", b, want)
	}
}

// A failed pass is logged and the run goes on; only a run in which every
// pass failed fails (and then reports no lag it does not know).
func TestIndexRunFailsOnlyWhenEveryPassFailed(t *testing.T) {
	throttled := errors.New("ProvisionedThroughputExceededException")
	var logs bytes.Buffer
	f, _ := indexFunction(t, &logs, indexPass{err: throttled})
	res, err := invokeIndex(t, f)
	if !errors.Is(err, throttled) || res.Passes != 1 || res.Failed != 1 {
		t.Fatalf("run: %+v, %v; want the pass's error", res, err)
	}
	if out := logs.String(); strings.Contains(out, AuditIndexLagMetric) || !strings.Contains(out, "audit index run failed") {
		t.Errorf("log of a failed run:\n%s", out)
	}

	// Three passes a second apart: the first fails, the rest succeed.
	logs.Reset()
	f, st := indexFunction(t, &logs, indexPass{err: throttled}, indexPass{st: dynamo.IndexStats{Lag: 12 * time.Second}})
	h, err := f.IndexHandler()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(indexMargin+1500*time.Millisecond))
	defer cancel()
	res, err = h(ctx, events.EventBridgeEvent{ID: "ev-2"})
	if err != nil || st.calls < 2 || res.Failed != 1 || res.Passes != st.calls || res.LagSeconds != 12 {
		t.Fatalf("run: %+v, %v after %d passes; want success with one failed pass", res, err, st.calls)
	}
	if out := logs.String(); !strings.Contains(out, "audit index pass failed") || !strings.Contains(out, `"AuditIndexLag":12`) {
		t.Errorf("log:\n%s", out)
	}
}

func TestIndexHandlerNeedsAnIndexingStore(t *testing.T) {
	f, _ := newTestFunction(t, &bytes.Buffer{})
	if _, err := f.IndexHandler(); err == nil || !strings.Contains(err.Error(), IndexFunction) {
		t.Fatalf("a store without IndexAudit: %v", err)
	}
}

// The indexer writes no audit entry: the stack gives it no MAC key, and its
// configuration needs none; everything else of the store is still required.
func TestIndexConfigNeedsNoMACKey(t *testing.T) {
	env := map[string]string{
		"VSECURE_TABLE": "t", "VSECURE_AUDIT_TABLE": "a", "VSECURE_PUBLIC_URL": "https://api.example.com",
		"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "s",
	}
	get := func(k string) string { return env[k] }
	if c, err := configFromEnv(get, true, optionalWithoutAudit...); err != nil || c.AuditMACKeyID != "" || c.AuditTable != "a" {
		t.Fatalf("indexer config: %+v, %v", c, err)
	}
	if _, err := ConfigFromEnv(get); err == nil {
		t.Error("every other store function still needs VSECURE_AUDIT_MAC_KEY_ID")
	}
	delete(env, "VSECURE_AUDIT_TABLE")
	if _, err := configFromEnv(get, true, optionalWithoutAudit...); err == nil || !strings.Contains(err.Error(), "VSECURE_AUDIT_TABLE") {
		t.Errorf("without the audit table: %v", err)
	}
}
