package lambdafn

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/vsecure/vsecure/shared/catalog"
	"github.com/vsecure/vsecure/shared/workflow/task"
)

// ReconcileFunction is the scheduled workflow reconciler. It serves no
// route: an EventBridge rule invokes it every few minutes.
const ReconcileFunction = catalog.Reconcile

// MetricNamespace and ReconciledMetric name the CloudWatch metric of
// repairs the reconciler made; infra alarms on it.
const (
	MetricNamespace  = "vsecure"
	ReconciledMetric = "Reconciled"
)

// ReconcileHandler checks every live approval against its execution
// (task.Reconciler) and logs the run's counts as a CloudWatch embedded
// metric format record: the metric costs no PutMetricData call or grant.
// A failed listing is returned, so Lambda records the error (alarms).
func (f *Function) ReconcileHandler() (func(context.Context, events.EventBridgeEvent) (task.Counts, error), error) {
	if f.Workflow == nil {
		return nil, errors.New("lambdafn: " + ReconcileFunction + ": missing required environment variable VSECURE_STATE_MACHINE_ARN")
	}
	r := &task.Reconciler{Live: f.Gate.Store(), Executions: f.Workflow, Tasks: f.TaskHandlers()}
	return func(ctx context.Context, ev events.EventBridgeEvent) (task.Counts, error) {
		c, err := r.Run(ctx)
		if err != nil {
			f.Log.ErrorContext(ctx, "workflow reconcile run failed", "event", ev.ID, "err", err)
			return c, err
		}
		f.Log.InfoContext(ctx, "workflow reconcile run", "event", ev.ID, "scheduled", ev.Time,
			"checked", c.Checked, "started", c.Started, "expired", c.Expired, "errors", c.Errors,
			"_aws", emf(time.Now(), ReconciledMetric), ReconciledMetric, c.Reconciled(), "FunctionName", lambdacontext.FunctionName)
		return c, nil
	}, nil
}

// emf is the _aws member of an embedded metric format record: metric
// (a count, a top-level member of the record) by FunctionName.
func emf(now time.Time, metric string) map[string]any { return emfUnit(now, metric, "Count") }

// emfUnit is emf for a metric in unit (a CloudWatch unit name).
func emfUnit(now time.Time, metric, unit string) map[string]any {
	return map[string]any{
		"Timestamp": now.UnixMilli(),
		"CloudWatchMetrics": []map[string]any{{
			"Namespace":  MetricNamespace,
			"Dimensions": [][]string{{"FunctionName"}},
			"Metrics":    []map[string]string{{"Name": metric, "Unit": unit}},
		}},
	}
}

// ServeReconcile runs the scheduled reconciler; ext may install a
// notifier (Slack), as for the Expire and Revoke tasks whose path it takes.
func ServeReconcile(ext ...Extension) {
	f, log := mustOpen(os.Stdout, true, ext)
	h, err := f.ReconcileHandler()
	if err != nil {
		fatal(log, err)
	}
	lambda.Start(h)
}
