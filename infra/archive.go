package main

import (
	"strconv"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"
)

// The audit archive (shared/archive): the digest step writes each sealed
// hour of the log under archive/ of the witness bucket, locked for the
// archive retention, long before the audit table's TTL (the audit
// retention) removes the entries.
const (
	archivePrefix = "archive/" // shared/archive.Prefix
	// defaultAuditRetentionDays is how long entries stay in the table.
	defaultAuditRetentionDays = 400
	// Archive objects: seven years in prod, a day in dev (so a dev
	// bucket can be emptied soon after the stack is gone).
	defaultArchiveRetentionDaysProd = 2557
	defaultArchiveRetentionDaysDev  = 1
	// archiveLagMetric is lambdafn.ArchiveLagMetric (seconds).
	archiveLagMetric = "AuditArchiveLag"
	// archiveLagAlarmSeconds: a sealed hour is archived within minutes
	// of its end, so the archive normally ends less than 1 h 10 min
	// behind now; three hours means archiving stopped.
	archiveLagAlarmSeconds = 3 * 3600
)

// archiveStatements are a function's grants on the archive prefix: the
// digest step puts locked objects (GetObject: a retried put compares with
// what is stored; ListBucket on the prefix: the newest key is where it
// resumes); audit-verify reads them. Nobody may delete or shorten a lock.
func (v *Vsecure) archiveStatements(spec functionSpec) []awsiam.PolicyStatement {
	objects := jsii.String(*v.WitnessBucket.BucketArn() + "/" + archivePrefix + "*")
	list := awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("ArchiveList"),
		Actions:    jsii.Strings("s3:ListBucket"),
		Resources:  &[]*string{v.WitnessBucket.BucketArn()},
		Conditions: &map[string]any{"StringLike": map[string]any{"s3:prefix": archivePrefix + "*"}},
	})
	switch spec.Digest {
	case digestSign:
		return []awsiam.PolicyStatement{awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("ArchiveWrite"),
			Actions:   jsii.Strings("s3:GetObject", "s3:PutObject", "s3:PutObjectRetention"),
			Resources: &[]*string{objects},
		}), list}
	case digestVerify:
		return []awsiam.PolicyStatement{awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("ArchiveRead"),
			Actions:   jsii.Strings("s3:GetObject"),
			Resources: &[]*string{objects},
		}), list}
	}
	return nil
}

// archiveEnvironment sets the retentions: every function that writes or
// verifies audit entries knows the audit retention (entries get their TTL
// from it; the verifier its horizon), the digest step the archive's.
func (v *Vsecure) archiveEnvironment(spec functionSpec, env map[string]*string) {
	if writesAudit(spec) || spec.Digest.checks() {
		env["VSECURE_AUDIT_RETENTION"] = jsii.String(strconv.Itoa(v.Config.auditRetentionDays()) + "d")
	}
	if spec.Digest == digestSign {
		env["VSECURE_ARCHIVE_RETENTION_DAYS"] = jsii.String(strconv.Itoa(v.Config.archiveRetentionDays()))
	}
}

// archiveLagAlarm fires when the archive ends more than three hours behind
// now, or when the digest step stops reporting it: entries would reach
// their TTL unarchived only after the audit retention, but every hour
// unarchived is an hour an insider's table edit goes unwitnessed.
func (v *Vsecure) archiveLagAlarm(fn awslambda.Function) {
	alarm := awscloudwatch.NewAlarm(v.Stack, jsii.String("AuditArchiveLagging"), &awscloudwatch.AlarmProps{
		AlarmDescription: jsii.String("The audit archive (witness bucket, archive/) ends more than 3 hours behind now, or the digest step stopped reporting it: sealed hours are not being archived"),
		Metric: awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String(metricNamespace), MetricName: jsii.String(archiveLagMetric),
			DimensionsMap: &map[string]*string{"FunctionName": fn.FunctionName()},
			Statistic:     jsii.String("Maximum"), Period: awscdk.Duration_Minutes(jsii.Number(15)),
		}),
		Threshold:          jsii.Number(archiveLagAlarmSeconds),
		EvaluationPeriods:  jsii.Number(1),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		TreatMissingData:   awscloudwatch.TreatMissingData_BREACHING,
	})
	alarm.AddAlarmAction(awscloudwatchactions.NewSnsAction(v.AlarmTopic))
}
