package lambdafn

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/vsecure/vsecure/shared/auditindex"
	"github.com/vsecure/vsecure/shared/catalog"
)

// IndexFunction is the scheduled audit indexer. It serves no route: an
// EventBridge rule invokes it every minute, and it runs indexer passes
// (dynamo.Store.IndexAudit) while they find work, until shortly before its
// deadline.
const IndexFunction = catalog.Index

// AuditIndexLagMetric names the CloudWatch metric (seconds) of how far the
// indexed watermark trails the clock; infra alarms on it.
const AuditIndexLagMetric = "AuditIndexLag"

// indexMargin is how long before the invocation's deadline the last pass
// may start: a pass is a few round trips plus at most one transaction, and
// the run's metric line must be written before Lambda stops the function.
const indexMargin = 5 * time.Second

// IndexResult is what one scheduled run did.
type IndexResult struct {
	Passes     int       `json:"passes"`
	Failed     int       `json:"failed"`
	Entries    int       `json:"entries"`
	Segments   int       `json:"segments"`
	LagSeconds float64   `json:"lagSeconds"`
	Through    time.Time `json:"through,omitzero"`
}

// IndexHandler runs indexer passes about once a second until one indexes
// nothing (caught up: the next run is a minute away) or indexMargin before
// the invocation's deadline, then logs the run with the newest
// pass's lag as an embedded metric format record. A failed pass is logged
// and the next one carries on (passes are resumable); the run fails only
// when no pass succeeded, so Lambda records the error (alarms).
func (f *Function) IndexHandler() (func(context.Context, events.EventBridgeEvent) (IndexResult, error), error) {
	ix := f.Indexer
	if ix == nil {
		return nil, fmt.Errorf("lambdafn: %s: the store has no audit indexer (DynamoDB's has)", IndexFunction)
	}
	return func(ctx context.Context, ev events.EventBridgeEvent) (IndexResult, error) {
		var stop time.Time
		if d, ok := ctx.Deadline(); ok {
			stop = d.Add(-indexMargin)
		}
		r := (&auditindex.Loop{Indexer: ix, Log: f.Log, UntilIdle: true}).Run(ctx, stop)
		res := IndexResult{Passes: r.Passes, Failed: r.Failed, Entries: r.Entries, Segments: r.Segments,
			LagSeconds: r.Lag.Seconds(), Through: r.Through}
		if r.Failed == r.Passes {
			err := r.Err
			if err == nil {
				err = errors.New("no pass ran before the deadline")
			}
			f.Log.ErrorContext(ctx, "audit index run failed", "event", ev.ID, "passes", r.Passes, "err", err)
			return res, fmt.Errorf("%s: every pass failed (%d): %w", IndexFunction, r.Passes, err)
		}
		f.Log.InfoContext(ctx, "audit index run", "event", ev.ID, "scheduled", ev.Time,
			"passes", r.Passes, "failed", r.Failed, "entries", r.Entries, "segments", r.Segments, "through", r.Through,
			"_aws", emfUnit(time.Now(), AuditIndexLagMetric, "Seconds"), AuditIndexLagMetric, r.Lag.Seconds(), "FunctionName", lambdacontext.FunctionName)
		return res, nil
	}, nil
}

// ServeIndex runs the scheduled audit indexer. It writes no audit entry,
// so it is built without the audit MAC key (the stack grants it none).
func ServeIndex() {
	log := NewLogger(os.Stdout, os.Getenv("AWS_LAMBDA_LOG_LEVEL"))
	cfg, err := configFromEnv(os.Getenv, true, optionalWithoutAudit...)
	if err != nil {
		fatal(log, err)
	}
	f, err := Open(cfg, log)
	if err != nil {
		fatal(log, err)
	}
	h, err := f.IndexHandler()
	if err != nil {
		fatal(log, err)
	}
	lambda.Start(h)
}
