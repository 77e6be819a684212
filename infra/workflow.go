package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	sfn "github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctionstasks"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// ApprovalWorkflowProps are the approval state machine's parts. The three
// task functions run shared/workflow/task's handlers.
type ApprovalWorkflowProps struct {
	Notify, Expire, Revoke awslambda.IFunction
	// AlarmTopic receives the failed-execution alarm (optional).
	AlarmTopic awssns.ITopic
	// LogRetention and RemovalPolicy of the execution log group.
	LogRetention  awslogs.RetentionDays
	RemovalPolicy awscdk.RemovalPolicy
}

// ApprovalWorkflow is the deployed approval state machine.
type ApprovalWorkflow struct {
	StateMachine sfn.StateMachine
	LogGroup     awslogs.LogGroup
	// FailedAlarm fires when an execution ends in WorkflowFailed: a task
	// kept failing past its retries. Access is still safe (expiry is
	// enforced at read time); the table may need tidying by hand.
	FailedAlarm awscloudwatch.Alarm
}

// NewApprovalWorkflow declares the approval state machine (Standard): one
// execution per approval, named after its id by the API.
//
//	AutoApproved? ──true──────────────────────────┐
//	      │ false                                 ▼
//	    Notify (.waitForTaskToken, TimeoutSecondsPath $.ttl)
//	      │ ok                    │ States.Timeout
//	   Decision? ─approved─▶ UntilExpiresAt (Wait, TimestampPath $.expiresAt) ─▶ Revoke ─▶ Revoked
//	      │ denied ─▶ Denied      ▼
//	      │ other  ─▶ Closed    Expire ─▶ Expired
//
// Every task retries Lambda service errors and the handlers' RetryLater
// with backoff; anything else is caught into WorkflowFailed, which alarms.
func NewApprovalWorkflow(scope constructs.Construct, id string, p ApprovalWorkflowProps) *ApprovalWorkflow {
	c := constructs.NewConstruct(scope, jsii.String(id))
	failed := sfn.NewFail(c, jsii.String("WorkflowFailed"), &sfn.FailProps{
		Error: jsii.String("vsecure.WorkflowFailed"),
		Cause: jsii.String("a workflow task kept failing; access still ends at expiresAt (enforced at read time)"),
	})
	// Every task retries Lambda service errors and RetryLater, the Go
	// type name of task.RetryLater that the Lambda Go runtime reports as
	// errorType. States.Timeout is never retried: it means the ttl ran out.
	guard := func(t awsstepfunctionstasks.LambdaInvoke) {
		t.AddRetry(&sfn.RetryProps{
			Errors: jsii.Strings("Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
				"Lambda.TooManyRequestsException", "Lambda.ClientExecutionTimeoutException"), Interval: awscdk.Duration_Seconds(jsii.Number(2)),
			MaxAttempts: jsii.Number(6), BackoffRate: jsii.Number(2), JitterStrategy: sfn.JitterType_FULL,
		})
		t.AddRetry(&sfn.RetryProps{
			Errors: jsii.Strings("RetryLater"), Interval: awscdk.Duration_Seconds(jsii.Number(5)),
			MaxAttempts: jsii.Number(8), BackoffRate: jsii.Number(2), MaxDelay: awscdk.Duration_Minutes(jsii.Number(5)),
			JitterStrategy: sfn.JitterType_FULL,
		})
	}
	byID := sfn.TaskInput_FromObject(&map[string]any{"approvalId": sfn.JsonPath_StringAt(jsii.String("$.approvalId"))})
	tidy := func(name string, fn awslambda.IFunction, end sfn.IChainable) sfn.IChainable {
		t := awsstepfunctionstasks.NewLambdaInvoke(c, jsii.String(name), &awsstepfunctionstasks.LambdaInvokeProps{
			LambdaFunction: fn, Payload: byID, PayloadResponseOnly: jsii.Bool(true), RetryOnServiceExceptions: jsii.Bool(false),
			ResultPath: jsii.String("$.result"), TaskTimeout: sfn.Timeout_Duration(awscdk.Duration_Seconds(jsii.Number(60))),
		})
		guard(t)
		t.AddCatch(failed, &sfn.CatchProps{Errors: jsii.Strings("States.ALL"), ResultPath: jsii.String("$.error")})
		return t.Next(end)
	}

	revoke := tidy("Revoke", p.Revoke, sfn.NewSucceed(c, jsii.String("Revoked"), nil))
	expire := tidy("Expire", p.Expire, sfn.NewSucceed(c, jsii.String("Expired"), nil))
	wait := sfn.NewWait(c, jsii.String("UntilExpiresAt"), &sfn.WaitProps{Time: sfn.WaitTime_TimestampPath(jsii.String("$.expiresAt"))})
	wait.Next(revoke)

	notify := awsstepfunctionstasks.NewLambdaInvoke(c, jsii.String("Notify"), &awsstepfunctionstasks.LambdaInvokeProps{
		LambdaFunction:     p.Notify,
		IntegrationPattern: sfn.IntegrationPattern_WAIT_FOR_TASK_TOKEN,
		Payload: sfn.TaskInput_FromObject(&map[string]any{
			"approvalId": sfn.JsonPath_StringAt(jsii.String("$.approvalId")),
			"taskToken":  sfn.JsonPath_TaskToken(),
		}),
		TaskTimeout:              sfn.Timeout_At(jsii.String("$.ttl")),
		RetryOnServiceExceptions: jsii.Bool(false),
		ResultPath:               jsii.String("$.outcome"),
	})
	guard(notify)
	notify.AddCatch(expire, &sfn.CatchProps{Errors: jsii.Strings("States.Timeout"), ResultPath: jsii.String("$.error")})
	notify.AddCatch(failed, &sfn.CatchProps{Errors: jsii.Strings("States.ALL"), ResultPath: jsii.String("$.error")})
	notify.Next(sfn.NewChoice(c, jsii.String("Decision"), nil).
		When(sfn.Condition_StringEquals(jsii.String("$.outcome.decision"), jsii.String("approved")), wait, nil).
		When(sfn.Condition_StringEquals(jsii.String("$.outcome.decision"), jsii.String("denied")), sfn.NewSucceed(c, jsii.String("Denied"), nil), nil).
		Otherwise(sfn.NewSucceed(c, jsii.String("Closed"), nil)))

	start := sfn.NewChoice(c, jsii.String("AutoApproved"), nil).
		When(sfn.Condition_BooleanEquals(jsii.String("$.autoApproved"), jsii.Bool(true)), wait, nil).
		Otherwise(notify)

	logs := awslogs.NewLogGroup(c, jsii.String("Logs"), &awslogs.LogGroupProps{
		Retention: p.LogRetention, RemovalPolicy: p.RemovalPolicy,
	})
	sm := sfn.NewStateMachine(c, jsii.String("StateMachine"), &sfn.StateMachineProps{
		Comment:          jsii.String("vsecure approval: notify approvers, wait for the decision until ttl, expire or revoke at expiresAt"),
		StateMachineType: sfn.StateMachineType_STANDARD,
		DefinitionBody:   sfn.DefinitionBody_FromChainable(start),
		// Task inputs carry the task token: log every event, never data.
		Logs:           &sfn.LogOptions{Destination: logs, Level: sfn.LogLevel_ALL, IncludeExecutionData: jsii.Bool(false)},
		TracingEnabled: jsii.Bool(true),
	})
	alarm := awscloudwatch.NewAlarm(c, jsii.String("ExecutionsFailed"), &awscloudwatch.AlarmProps{
		AlarmDescription:   jsii.String("An approval workflow execution failed: a task kept failing past its retries. Access still ends at expiresAt; check the approval's state."),
		Metric:             sm.MetricFailed(&awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(5)), Statistic: jsii.String("Sum")}),
		Threshold:          jsii.Number(1),
		EvaluationPeriods:  jsii.Number(1),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
	if p.AlarmTopic != nil {
		alarm.AddAlarmAction(awscloudwatchactions.NewSnsAction(p.AlarmTopic))
	}
	return &ApprovalWorkflow{StateMachine: sm, LogGroup: logs, FailedAlarm: alarm}
}

// GrantAPI lets the API functions drive executions: start one per request,
// complete the Notify task with a decision, stop one on revocation.
func (w *ApprovalWorkflow) GrantAPI(g awsiam.IGrantable) {
	w.StateMachine.GrantStartExecution(g)
	w.StateMachine.GrantTaskResponse(g)
	w.StateMachine.GrantExecution(g, jsii.String("states:StopExecution"))
}

// GrantNotify lets workflow-notify complete its own task when the decision
// reached the table before its task token.
func (w *ApprovalWorkflow) GrantNotify(g awsiam.IGrantable) {
	w.StateMachine.GrantTaskResponse(g)
}
