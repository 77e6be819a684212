package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"
)

// The audit indexer's metric (lambdafn.AuditIndexLagMetric, seconds): how
// far the indexed watermark trails the clock, one value per run.
const auditIndexLagMetric = "AuditIndexLag"

// The lag alarm: healthy is at most ~190 s (a quiet pass waits for 1,000
// entries or a 120 s old entry, the runs come a minute apart, the settle
// is 10 s), so 5 minutes is an indexer that is stuck or falling behind,
// and 10 minutes of it pages.
const (
	indexLagAlarmSeconds = 300
	indexLagAlarmMinutes = 10
)

// indexSchedule declares the scheduled audit indexer: an EventBridge rule
// invokes audit-index every minute, and each run indexes until shortly
// before its 70 s timeout, so one run follows the other. Reserved
// concurrency 1 (limits.go) keeps it to one runner; a tick that finds it
// still running is throttled and retried by Lambda within a minute, and
// dropped after that (the next tick comes anyway), as is a failed run.
func (v *Vsecure) indexSchedule() error {
	fn, err := v.function(indexFunction, "scheduled audit indexer (every minute): filter index segments, accessCount of read secrets")
	if err != nil {
		return err
	}
	fn.ConfigureAsyncInvoke(&awslambda.EventInvokeConfigOptions{
		MaxEventAge:   awscdk.Duration_Minutes(jsii.Number(1)),
		RetryAttempts: jsii.Number(0),
	})
	rule := awsevents.NewRule(v.Stack, jsii.String("AuditIndexSchedule"), &awsevents.RuleProps{
		Description: jsii.String("vsecure " + v.Config.Env + ": index new audit entries and apply their reads to accessCount"),
		Schedule:    awsevents.Schedule_Rate(awscdk.Duration_Minutes(jsii.Number(1))),
	})
	rule.AddTarget(awseventstargets.NewLambdaFunction(fn, &awseventstargets.LambdaFunctionProps{
		RetryAttempts: jsii.Number(0),
	}))
	// Minimum over each 5 minutes: the lag stayed above the threshold for
	// the whole 10 minutes, so one slow pass does not page. No value at
	// all (every pass failing, or the function not running) is breaching:
	// an unknown lag is not a healthy one.
	alarm := awscloudwatch.NewAlarm(v.Stack, jsii.String("AuditIndexLag"), &awscloudwatch.AlarmProps{
		AlarmDescription: jsii.String("The audit indexer has trailed the clock by more than 5 minutes for 10 minutes (or reported nothing): " +
			"filtered audit queries read an ever longer unindexed tail and accessCount lags"),
		Metric: awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String(metricNamespace), MetricName: jsii.String(auditIndexLagMetric),
			DimensionsMap: &map[string]*string{"FunctionName": fn.FunctionName()},
			Statistic:     jsii.String("Minimum"), Period: awscdk.Duration_Minutes(jsii.Number(indexLagAlarmMinutes / 2)),
		}),
		Threshold:          jsii.Number(indexLagAlarmSeconds),
		EvaluationPeriods:  jsii.Number(2),
		DatapointsToAlarm:  jsii.Number(2),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		TreatMissingData:   awscloudwatch.TreatMissingData_BREACHING,
	})
	alarm.AddAlarmAction(awscloudwatchactions.NewSnsAction(v.AlarmTopic))
	return nil
}
