package main

import (
	"fmt"

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
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
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
	// Name, if set, is the state machine's name. Its ARN is then known
	// without referencing the resource (StateMachineArn), which lets the
	// task functions that the state machine invokes hold permissions on it
	// without a dependency cycle.
	Name string
}

// ApprovalWorkflow is the deployed approval state machine.
type ApprovalWorkflow struct {
	StateMachine sfn.StateMachine
	LogGroup     awslogs.LogGroup
	// FailedAlarm fires when an execution ends in WorkflowFailed: a task
	// kept failing past its retries. Access is still safe (expiry is
	// enforced at read time); the table may need tidying by hand.
	FailedAlarm awscloudwatch.Alarm
	// Arn is the state machine's ARN and ExecutionArns the pattern of its
	// executions' ARNs: built from Name when set, else references.
	Arn, ExecutionArns *string
}

// StateMachineArn is the ARN of the state machine named name in stack's
// account and region.
func StateMachineArn(stack awscdk.Stack, name string) *string {
	return stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("states"), Resource: jsii.String("stateMachine"),
		ResourceName: jsii.String(name), ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME})
}

// executionArns is the ARN pattern of every execution of state machine name
// (executions are named after approval ids, unknown at deploy time).
func executionArns(stack awscdk.Stack, name string) *string {
	return stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("states"), Resource: jsii.String("execution"),
		ResourceName: jsii.String(name + ":*"), ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME})
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
	var name *string
	if p.Name != "" {
		name = jsii.String(p.Name)
	}
	sm := sfn.NewStateMachine(c, jsii.String("StateMachine"), &sfn.StateMachineProps{
		StateMachineName: name,
		Comment:          jsii.String("vsecure approval: notify approvers, wait for the decision until ttl, expire or revoke at expiresAt"),
		StateMachineType: sfn.StateMachineType_STANDARD,
		DefinitionBody:   sfn.DefinitionBody_FromChainable(start),
		// Task inputs carry the task token: log every event, never data.
		Logs:           &sfn.LogOptions{Destination: logs, Level: sfn.LogLevel_ALL, IncludeExecutionData: jsii.Bool(false)},
		TracingEnabled: jsii.Bool(true),
	})
	// The state machine's role, as CDK writes it: lambda:InvokeFunction on
	// each task function and its versions, and the log-delivery and X-Ray
	// actions.
	cdknag.NagSuppressions_AddResourceSuppressions(sm.Role(), &[]*cdknag.NagPackSuppression{{
		Id:        jsii.String("AwsSolutions-IAM5"),
		Reason:    jsii.String("Invoking a task function by qualified ARN (function:version) needs <function ARN>:*; the grant is on exactly the three task functions."),
		AppliesTo: &[]any{&cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::<.+\.Arn>:\*$/g`)}},
	}, {
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("CloudWatch Logs delivery (logs:CreateLogDelivery, ...) and X-Ray (xray:PutTraceSegments, ...) support no resource-level permissions; " +
			"AWS documents \"*\" as the only resource for them."),
		AppliesTo: &[]any{jsii.String("Resource::*")},
	}}, jsii.Bool(true))
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
	w := &ApprovalWorkflow{StateMachine: sm, LogGroup: logs, FailedAlarm: alarm, Arn: sm.StateMachineArn()}
	if p.Name != "" {
		stack := awscdk.Stack_Of(c)
		w.Arn, w.ExecutionArns = StateMachineArn(stack, p.Name), executionArns(stack, p.Name)
	} else {
		// The execution ARN is the state machine's with "stateMachine"
		// replaced by "execution" and ":*" appended.
		parts := awscdk.Fn_Split(jsii.String(":"), sm.StateMachineArn(), jsii.Number(7))
		w.ExecutionArns = awscdk.Fn_Join(jsii.String(":"), &[]*string{
			awscdk.Fn_Select(jsii.Number(0), parts), awscdk.Fn_Select(jsii.Number(1), parts), awscdk.Fn_Select(jsii.Number(2), parts),
			awscdk.Fn_Select(jsii.Number(3), parts), awscdk.Fn_Select(jsii.Number(4), parts), jsii.String("execution"),
			awscdk.Fn_Select(jsii.Number(6), parts), jsii.String("*"),
		})
	}
	return w
}

// Grant allows g exactly the Step Functions calls named (the sfn adapter's
// StartExecution, SendTaskSuccess, StopExecution): starting and completing
// tasks act on the state machine, stopping acts on an execution.
func (w *ApprovalWorkflow) Grant(g awsiam.IGrantable, calls ...string) error {
	var onMachine, onExecutions []*string
	for _, c := range calls {
		switch c {
		case "StartExecution", "SendTaskSuccess":
			onMachine = append(onMachine, jsii.String("states:"+c))
		case "StopExecution", "DescribeExecution":
			onExecutions = append(onExecutions, jsii.String("states:"+c))
		default:
			return fmt.Errorf("workflow call %q is not one the sfn adapter makes", c)
		}
	}
	add := func(actions []*string, arn *string) {
		if len(actions) > 0 {
			awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{Grantee: g, Actions: &actions, ResourceArns: &[]*string{arn}})
		}
	}
	add(onMachine, w.Arn)
	add(onExecutions, w.ExecutionArns)
	if len(onExecutions) > 0 {
		if c, ok := g.GrantPrincipal().(constructs.IConstruct); ok {
			cdknag.NagSuppressions_AddResourceSuppressions(c, &[]*cdknag.NagPackSuppression{{
				Id: jsii.String("AwsSolutions-IAM5"),
				Reason: jsii.String("Executions are named after approval ids, created at run time; StopExecution and DescribeExecution are allowed on this state machine's " +
					"executions only (execution:<state machine name>:*)."),
				AppliesTo: &[]any{&cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:[^:]+:\*$/g`)}},
			}}, jsii.Bool(true))
		}
	}
	return nil
}

// GrantAPI lets an API function drive executions: start one per request,
// complete the Notify task with a decision, stop one on revocation. The
// stack grants each function only the calls it makes (functionSpec).
func (w *ApprovalWorkflow) GrantAPI(g awsiam.IGrantable) {
	_ = w.Grant(g, "StartExecution", "SendTaskSuccess", "StopExecution")
}

// GrantNotify lets workflow-notify complete its own task when the decision
// reached the table before its task token.
func (w *ApprovalWorkflow) GrantNotify(g awsiam.IGrantable) {
	_ = w.Grant(g, "SendTaskSuccess")
}
