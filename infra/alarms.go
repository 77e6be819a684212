package main

import (
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/jsii-runtime-go"
)

// alarmTopic receives every alarm; it is encrypted with the stack key and
// refuses publishes that are not over TLS.
func (v *Vsecure) alarmTopic() awssns.Topic {
	t := awssns.NewTopic(v.Stack, jsii.String("Alarms"), &awssns.TopicProps{
		DisplayName: jsii.String("vsecure " + v.Config.Env + " alarms"),
		MasterKey:   v.Key,
		EnforceSSL:  jsii.Bool(true),
	})
	if v.Config.AlarmEmail != "" {
		t.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(v.Config.AlarmEmail), nil))
	}
	return t
}

// alarms: any 5xx from the API, and any error or throttle of any function.
// A secrets gate should have none of either, so every threshold is one
// event in five minutes; missing data (no traffic) is healthy.
//
// The authorizer's errors get their own alarm name: when it fails, every
// authenticated route answers 500 at once.
func (v *Vsecure) alarms() {
	action := awscloudwatchactions.NewSnsAction(v.AlarmTopic)
	alarm := func(id, desc string, m awscloudwatch.IMetric) {
		a := awscloudwatch.NewAlarm(v.Stack, jsii.String(id), &awscloudwatch.AlarmProps{
			AlarmDescription:   jsii.String(desc),
			Metric:             m,
			Threshold:          jsii.Number(1),
			EvaluationPeriods:  jsii.Number(1),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		a.AddAlarmAction(action)
	}
	sum := &awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(5)), Statistic: jsii.String("Sum")}

	alarm("Api5xx", "vsecure API answered 5xx (includes audit_unavailable 503)", v.API.MetricServerError(sum))

	names := make([]string, 0, len(v.Functions))
	for n := range v.Functions {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fn := v.Functions[n]
		errID, errDesc := "Fn-"+n+"-errors", "Lambda "+n+" failed (crash, timeout or out of memory)"
		if n == authorizerFunction {
			errID, errDesc = "AuthorizerFailures", "The API key authorizer failed: authenticated routes answer 500 until it recovers"
		}
		alarm(errID, errDesc, fn.MetricErrors(sum))
		alarm("Fn-"+n+"-throttles", "Lambda "+n+" was throttled (account or reserved concurrency exhausted)", fn.MetricThrottles(sum))
	}
}
