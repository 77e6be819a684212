package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/vsecure/vsecure/internal/sample"
	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/auditlog"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/lambdafn"
	"github.com/vsecure/vsecure/shared/store/dynamo"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// The indexer's workload: a realistic mix of audited reads by a few agents
// over a few dozen secrets, with some writes and refusals, arriving at a
// steady rate while the indexer runs its passes a second apart, as the
// audit-index function's loop does (shared/auditindex.Every).
const (
	indexAgents  = 5
	indexSecrets = 40  // staging|production × 20 names: two pattern levels each
	indexRate    = 4.0 // entries per second: below 1,000 per 110 s, so the skip rule's 120 s age cuts the passes
	writeEvery   = 100 // one secret write per 100 entries
	refuseEvery  = 50  // one refused read per 50 entries
)

// indexerRun is what the indexer cost on a seeded workload.
type indexerRun struct {
	entries, reads     int                // entries written (and of them successful reads)
	hot                map[string]float64 // billed units of writing them (RecordRead / AppendAudit)
	passes, segments   int                // IndexAudit calls that indexed, and their segments
	pass               map[string]float64 // billed units of those calls
	passOps            map[string]int     // their requests by operation
	idle               int                // IndexAudit calls that indexed nothing (skipped or caught up)
	idleUnits          map[string]float64 // billed units of those
	emptyIdle          map[string]float64 // billed units of one idle call on a caught-up table
	lastThroughLagSecs float64
}

// perEntry is the passes' billed units of kind per indexed entry.
func (r *indexerRun) perEntry(kind string) float64 { return units(r.pass, kind) / float64(r.entries) }

// measureIndexer seeds n audit entries through the store's real RecordRead
// and AppendAudit (the store the functions build, sealed with the KMS MAC
// key) into a fresh sample world, and runs the store's real IndexAudit a
// simulated second apart with its default timing, everything through the
// recording proxies. The seeding of secrets and of the sample world is not
// counted; the world's own entries are indexed (uncounted) first.
func measureIndexer(ctx context.Context, env map[string]string, ddbURL, kmsURL string, rec *recorder, n int) (*indexerRun, error) {
	senv := maps(env)
	senv["VSECURE_TABLE"] += "-indexer"
	senv["VSECURE_AUDIT_TABLE"] += "-indexer"
	if err := sample.Deploy(ctx, senv); err != nil {
		return nil, err
	}
	open := func(e map[string]string) (*lambdafn.Function, *dynamo.Store, error) {
		e = maps(e)
		e["AWS_LAMBDA_FUNCTION_NAME"] = "vsecure-cost-indexer"
		cfg, err := lambdafn.ConfigFromEnv(func(k string) string { return e[k] })
		if err != nil {
			return nil, nil, err
		}
		f, err := lambdafn.Open(cfg, slog.New(slog.DiscardHandler), dynamo.WithAuditPutBudget(0))
		if err != nil {
			return nil, nil, err
		}
		st, ok := f.Indexer.(*dynamo.Store)
		if !ok {
			return nil, nil, fmt.Errorf("the function's indexer is %T, not the DynamoDB store", f.Indexer)
		}
		return f, st, nil
	}
	direct, dst, err := open(senv)
	if err != nil {
		return nil, err
	}
	admin := gate.Call{Principal: vsecure.Principal{ID: "admin", Roles: []vsecure.Role{vsecure.RoleAdmin}, KeyID: sample.AdminKeyID}, RequestID: "seed"}
	var uris []string
	for i := range indexSecrets {
		uri := fmt.Sprintf("vsecure://secrets/%s/SERVICE_%d_TOKEN", []string{"staging", "production"}[i%2], i/2)
		u, err := vsecure.ParseURI(uri)
		if err != nil {
			return nil, err
		}
		v := "value-" + strconv.Itoa(i)
		if _, err := direct.Gate.WriteSecret(ctx, admin, u, api.SecretWrite{Value: &v}); err != nil {
			return nil, fmt.Errorf("seed %s: %w", uri, err)
		}
		uris = append(uris, uri)
	}
	// Index the sample world's own entries, uncounted, so the measured
	// passes see only the workload.
	start := time.Now().UTC().Add(time.Minute).Truncate(time.Second)
	for {
		st, err := dst.IndexAudit(ctx, start)
		if err != nil {
			return nil, fmt.Errorf("index the seed: %w", err)
		}
		if st.Entries == 0 {
			break
		}
	}

	_, st, err := open(withEndpoints(senv, ddbURL, kmsURL))
	if err != nil {
		return nil, err
	}
	rec.take()
	r := &indexerRun{hot: map[string]float64{}, pass: map[string]float64{}, passOps: map[string]int{}, idleUnits: map[string]float64{}}
	add := func(m map[string]float64, calls []call) {
		for _, c := range calls {
			for k, v := range c.billed {
				m[k] += v
			}
		}
	}
	index := func(now time.Time) (dynamo.IndexStats, error) {
		rec.take()
		s, err := st.IndexAudit(ctx, now)
		calls := rec.take()
		if err != nil {
			return s, err
		}
		if s.Entries > 0 {
			r.passes++
			r.segments += s.Segments
			add(r.pass, calls)
			for _, c := range calls {
				r.passOps[c.op]++
			}
		} else {
			r.idle++
			add(r.idleUnits, calls)
		}
		return s, nil
	}
	every := time.Duration(float64(time.Second) / indexRate)
	at := start.Add(time.Second)
	next := at.Add(time.Second)
	var last time.Time
	for i := range n {
		for !at.Before(next) { // the loop's pass of this simulated second
			if _, err := index(next); err != nil {
				return nil, err
			}
			next = next.Add(time.Second)
		}
		agent := fmt.Sprintf("agent-%d", i%indexAgents)
		uri := uris[(i*7+i/indexSecrets)%len(uris)]
		e := vsecure.Entry{ID: auditlog.NewEntryID(at), Timestamp: at.Truncate(time.Second), Resource: uri,
			Operation: vsecure.AuditRead, Actor: agent, Success: true,
			Metadata: map[string]string{"requestId": fmt.Sprintf("c5f%05d-3a1b-4e2f-9d8c-7b6a5e4d3c2b", i),
				"ipAddress": "203.0.113.7", "userAgent": "vsecure-mcp/1.4 (agent)"}}
		switch {
		case i%writeEvery == writeEvery-1:
			// A write's entry as the index sees it (its state transaction
			// is priced with the write operation, not here).
			e.Operation = vsecure.AuditWrite
			e.Metadata["version"] = "2"
			err = st.AppendAudit(ctx, e)
		case i%refuseEvery == refuseEvery-1:
			e.Success, e.Error = false, string(vsecure.EForbidden)
			err = st.AppendAudit(ctx, e)
		default:
			err = st.RecordRead(ctx, uri, at, e)
			r.reads++
		}
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		add(r.hot, rec.take())
		r.entries++
		last = at
		at = at.Add(every)
	}
	// Keep the loop going until every entry is indexed.
	for deadline := next.Add(10 * time.Minute); ; next = next.Add(time.Second) {
		s, err := index(next)
		if err != nil {
			return nil, err
		}
		if !s.Through.Before(last.Add(time.Nanosecond)) {
			break
		}
		if next.After(deadline) {
			return nil, fmt.Errorf("the indexer did not catch up: through %v, last entry %v", s.Through, last)
		}
	}
	// One idle call on a caught-up table: what every second of the
	// scheduled loop costs with no traffic.
	rec.take()
	if _, err := st.IndexAudit(ctx, next.Add(time.Second)); err != nil {
		return nil, err
	}
	r.emptyIdle = map[string]float64{}
	add(r.emptyIdle, rec.take())
	return r, nil
}

func withEndpoints(env map[string]string, ddb, kms string) map[string]string {
	e := maps(env)
	e["AWS_ENDPOINT_URL_DYNAMODB"], e["AWS_ENDPOINT_URL_KMS"] = ddb, kms
	return e
}

// opsSummary renders request counts by operation, stable.
func opsSummary(m map[string]int) string {
	f := map[string]float64{}
	for k, v := range m {
		f[k] = float64(v)
	}
	var l []string
	for _, k := range sortedKeys(f) {
		l = append(l, fmt.Sprintf("%d %s", m[k], k))
	}
	return strings.Join(l, ", ")
}
