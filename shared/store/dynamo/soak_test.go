package dynamo_test

import (
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// randomFaults fails a fixed share of DynamoDB requests with throttling or
// a 500, below the SDK, at random.
type randomFaults struct {
	base  http.RoundTripper
	share float64
	hits  atomic.Int64
}

func (f *randomFaults) RoundTrip(req *http.Request) (*http.Response, error) {
	if rand.Float64() >= f.share {
		return f.base.RoundTrip(req)
	}
	f.hits.Add(1)
	if rand.IntN(2) == 0 {
		return awsError(req, 400, "ProvisionedThroughputExceededException"), nil
	}
	return awsError(req, 500, "InternalServerError"), nil
}

// BenchmarkSoakUnderFaults drives audited secret reads through the gate on
// DynamoDB Local from 16 goroutines while 5% of DynamoDB requests fail
// (throttling or 500s, retried by the bounded retryer) — and, to compare,
// with none — and reports
// throughput, p50/p99 and the share of reads that still failed. It then
// checks what a security reviewer cares about under faults: the access
// count equals the reads that succeeded, and every successful read has
// exactly one audit entry — none lost, none doubled.
//
//	.ci/emulators.sh run go test -run '^$' -bench SoakUnderFaults -benchtime 4000x ./shared/store/dynamo/
func BenchmarkSoakUnderFaults(b *testing.B) {
	for _, c := range []struct {
		name  string
		share float64
	}{{"no_faults", 0}, {"5pct_faults", 0.05}} {
		b.Run(c.name, func(b *testing.B) { soak(b, c.share) })
	}
}

func soak(b *testing.B, share float64) {
	f := &randomFaults{base: http.DefaultTransport.(*http.Transport).Clone(), share: share}
	db := client(b, func(o *dynamodb.Options) {
		o.HTTPClient = &http.Client{Transport: f, Timeout: 5 * time.Second}
	})
	s := newStore(b, db)
	w := newWorld(b, s)
	granted := w.approve(b)
	uri := w.uri.String()
	before, err := s.LoadAccess(b.Context(), vsecure.AccessQuery{Principal: "agent-1", Resource: w.uri, Operation: vsecure.OpRead})
	if err != nil {
		b.Fatal(err)
	}
	f.hits.Store(0)

	var (
		mu      sync.Mutex
		lat     []time.Duration
		ok, bad atomic.Int64
		next    atomic.Int64
		wg      sync.WaitGroup
	)
	b.ResetTimer()
	start := time.Now()
	for range 16 {
		wg.Go(func() {
			local := make([]time.Duration, 0, b.N/16+1)
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				r, err := w.g.ReadSecret(b.Context(), w.agent, w.uri, 0)
				switch {
				case err == nil && r.ApprovalID == granted.ID:
					ok.Add(1)
					local = append(local, time.Since(t0))
				case vsecure.IsCode(err, vsecure.EUnavailable) || vsecure.IsCode(err, vsecure.EAuditUnavailable):
					bad.Add(1)
				default:
					b.Errorf("read under faults: %v", err)
				}
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()

	slices.Sort(lat)
	pct := func(q float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(ok.Load())/elapsed.Seconds(), "reads/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(100*float64(bad.Load())/float64(b.N), "failed-%")
	b.ReportMetric(float64(f.hits.Load()), "faults")

	after, err := s.LoadAccess(b.Context(), vsecure.AccessQuery{Principal: "agent-1", Resource: w.uri, Operation: vsecure.OpRead})
	if err != nil {
		b.Fatal(err)
	}
	if got := after.Secret.AccessCount - before.Secret.AccessCount; got != ok.Load() {
		b.Fatalf("access count rose by %d for %d successful reads", got, ok.Load())
	}
	var entries int64
	cursor := ""
	for {
		page, next, err := s.QueryAudit(b.Context(), vsecure.AuditFilter{Resource: uri, Operation: vsecure.AuditRead, Success: new(true)}, cursor, 200)
		if err != nil {
			b.Fatal(err)
		}
		entries += int64(len(page))
		if next == "" {
			break
		}
		cursor = next
	}
	if entries != ok.Load() {
		b.Fatalf("%d successful read entries for %d successful reads", entries, ok.Load())
	}
}
