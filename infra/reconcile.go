package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/jsii-runtime-go"
)

// reconcileEveryMinutes is the workflow reconciler's schedule; a lost
// execution is repaired within one run plus the reconciler's grace.
const reconcileEveryMinutes = 5

// The reconciler's metric (lambdafn.MetricNamespace, ReconciledMetric):
// an embedded metric format record in its log, by FunctionName.
const (
	metricNamespace  = "vsecure"
	reconciledMetric = "Reconciled"
)

// reconcileSchedule declares the scheduled workflow reconciler: an
// EventBridge rule invokes workflow-reconcile every few minutes, and an
// alarm fires when it repaired anything in 15 minutes, since each repair
// means an approval had lost its execution (StartExecution failed after
// its retries). It runs after workflow(), so it grants its own Step
// Functions calls.
func (v *Vsecure) reconcileSchedule() error {
	fn, err := v.function(reconcileFunction, "scheduled workflow reconciler (every 5 minutes): starts missing executions, expires due approvals that have none")
	if err != nil {
		return err
	}
	if err := v.Workflow.Grant(fn, functionSpecs[reconcileFunction].Workflow...); err != nil {
		return err
	}
	rule := awsevents.NewRule(v.Stack, jsii.String("WorkflowReconcileSchedule"), &awsevents.RuleProps{
		Description: jsii.String("vsecure " + v.Config.Env + ": reconcile live approvals with their Step Functions executions"),
		Schedule:    awsevents.Schedule_Rate(awscdk.Duration_Minutes(jsii.Number(reconcileEveryMinutes))),
	})
	// A failed run is alarmed (its Errors alarm) and the next run checks
	// everything again, so EventBridge's retries would only overlap runs.
	rule.AddTarget(awseventstargets.NewLambdaFunction(fn, &awseventstargets.LambdaFunctionProps{
		RetryAttempts: jsii.Number(0),
	}))
	alarm := awscloudwatch.NewAlarm(v.Stack, jsii.String("WorkflowReconciled"), &awscloudwatch.AlarmProps{
		AlarmDescription: jsii.String("The workflow reconciler repaired approvals (started a missing execution or expired an approval that had none): " +
			"StartExecution is failing after its retries"),
		Metric: awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String(metricNamespace), MetricName: jsii.String(reconciledMetric),
			DimensionsMap: &map[string]*string{"FunctionName": fn.FunctionName()},
			Statistic:     jsii.String("Sum"), Period: awscdk.Duration_Minutes(jsii.Number(15)),
		}),
		Threshold:          jsii.Number(0),
		EvaluationPeriods:  jsii.Number(1),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
	alarm.AddAlarmAction(awscloudwatchactions.NewSnsAction(v.AlarmTopic))
	return nil
}
