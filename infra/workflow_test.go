package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"
)

// aslGolden is the approval state machine's definition as synthesized,
// with the function ARNs filled in; asl-validator checks it and reviewers
// read its diff. UPDATE_GOLDEN=1 go test -run TestApprovalWorkflow rewrites it.
const aslGolden = "testdata/approval-workflow.asl.json"

// synthApprovalWorkflow synthesizes the construct alone in a stack and
// returns the template and the definition with Fn::Join resolved.
func synthApprovalWorkflow(t *testing.T) (assertions.Template, map[string]any) {
	t.Helper()
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("WorkflowTest"), &awscdk.StackProps{
		Env: &awscdk.Environment{Account: jsii.String("123456789012"), Region: jsii.String("us-east-1")},
	})
	fn := func(name string) awslambda.IFunction {
		return awslambda.Function_FromFunctionArn(stack, jsii.String(name), jsii.String("arn:aws:lambda:us-east-1:123456789012:function:vsecure-"+name))
	}
	NewApprovalWorkflow(stack, "ApprovalWorkflow", ApprovalWorkflowProps{
		Notify: fn("workflow-notify"), Expire: fn("workflow-expire"), Revoke: fn("workflow-revoke"),
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	tmpl := assertions.Template_FromStack(stack, nil)
	machines := tmpl.FindResources(jsii.String("AWS::StepFunctions::StateMachine"), nil)
	if len(*machines) != 1 {
		t.Fatalf("%d state machines", len(*machines))
	}
	var def map[string]any
	for _, m := range *machines {
		props := (*m)["Properties"].(map[string]any)
		if props["StateMachineType"] != "STANDARD" {
			t.Fatalf("state machine type %v", props["StateMachineType"])
		}
		if err := json.Unmarshal([]byte(resolve(t, props["DefinitionString"])), &def); err != nil {
			t.Fatal(err)
		}
	}
	return tmpl, def
}

// resolve turns a DefinitionString (a string or an Fn::Join of strings and
// tokens) into JSON text; a token left unresolved would be a bug here,
// since every ARN the test passes is literal.
func resolve(t *testing.T, v any) string {
	t.Helper()
	switch v := v.(type) {
	case string:
		return v
	case map[string]any:
		join, ok := v["Fn::Join"].([]any)
		if !ok {
			t.Fatalf("unexpected token in definition: %v", v)
		}
		var b strings.Builder
		for _, part := range join[1].([]any) {
			if p, ok := part.(map[string]any); ok && p["Ref"] == "AWS::Partition" {
				b.WriteString("aws")
				continue
			}
			b.WriteString(resolve(t, part))
		}
		return b.String()
	}
	t.Fatalf("unexpected definition %T", v)
	return ""
}

func state(t *testing.T, def map[string]any, name string) map[string]any {
	t.Helper()
	s, ok := def["States"].(map[string]any)[name].(map[string]any)
	if !ok {
		t.Fatalf("no state %s", name)
	}
	return s
}

func TestApprovalWorkflow(t *testing.T) {
	tmpl, def := synthApprovalWorkflow(t)

	t.Run("structure", func(t *testing.T) {
		if def["StartAt"] != "AutoApproved" {
			t.Fatalf("StartAt %v", def["StartAt"])
		}
		auto := state(t, def, "AutoApproved")
		if c := auto["Choices"].([]any)[0].(map[string]any); c["Variable"] != "$.autoApproved" || c["BooleanEquals"] != true || c["Next"] != "UntilExpiresAt" {
			t.Fatalf("auto-approved requests must skip Notify: %v", c)
		}
		if auto["Default"] != "Notify" {
			t.Fatalf("AutoApproved default %v", auto["Default"])
		}

		notify := state(t, def, "Notify")
		if notify["Resource"] != "arn:aws:states:::lambda:invoke.waitForTaskToken" {
			t.Fatalf("Notify resource %v", notify["Resource"])
		}
		if notify["TimeoutSecondsPath"] != "$.ttl" || notify["HeartbeatSeconds"] != nil {
			t.Fatalf("Notify timeout %v", notify["TimeoutSecondsPath"])
		}
		payload := notify["Parameters"].(map[string]any)["Payload"].(map[string]any)
		if payload["taskToken.$"] != "$$.Task.Token" || payload["approvalId.$"] != "$.approvalId" {
			t.Fatalf("Notify payload %v", payload)
		}
		if notify["ResultPath"] != "$.outcome" || notify["Next"] != "Decision" {
			t.Fatalf("Notify result %v next %v", notify["ResultPath"], notify["Next"])
		}
		catches := notify["Catch"].([]any)
		if c := catches[0].(map[string]any); !reflect.DeepEqual(c["ErrorEquals"], []any{"States.Timeout"}) || c["Next"] != "Expire" {
			t.Fatalf("first catch must send a timeout to Expire: %v", c)
		}
		if c := catches[1].(map[string]any); !reflect.DeepEqual(c["ErrorEquals"], []any{"States.ALL"}) || c["Next"] != "WorkflowFailed" {
			t.Fatalf("second catch must be the catch-all: %v", c)
		}

		decision := state(t, def, "Decision")
		want := map[string]string{"approved": "UntilExpiresAt", "denied": "Denied"}
		for _, c := range decision["Choices"].([]any) {
			c := c.(map[string]any)
			if c["Variable"] != "$.outcome.decision" || want[c["StringEquals"].(string)] != c["Next"] {
				t.Fatalf("decision choice %v", c)
			}
		}
		if decision["Default"] != "Closed" {
			t.Fatalf("Decision default %v", decision["Default"])
		}
		if w := state(t, def, "UntilExpiresAt"); w["TimestampPath"] != "$.expiresAt" || w["Next"] != "Revoke" {
			t.Fatalf("wait %v", w)
		}
		for name, end := range map[string]string{"Revoke": "Revoked", "Expire": "Expired"} {
			s := state(t, def, name)
			if s["Resource"] != "arn:aws:lambda:us-east-1:123456789012:function:vsecure-workflow-"+strings.ToLower(name) || s["Next"] != end {
				t.Fatalf("%s: resource %v next %v", name, s["Resource"], s["Next"])
			}
			if c := s["Catch"].([]any); len(c) != 1 || c[0].(map[string]any)["Next"] != "WorkflowFailed" {
				t.Fatalf("%s catch %v", name, c)
			}
		}
		for _, name := range []string{"Denied", "Closed", "Revoked", "Expired"} {
			if s := state(t, def, name); s["Type"] != "Succeed" {
				t.Fatalf("%s is %v", name, s["Type"])
			}
		}
		if s := state(t, def, "WorkflowFailed"); s["Type"] != "Fail" {
			t.Fatalf("WorkflowFailed is %v", s["Type"])
		}
	})

	t.Run("every_task_retries_with_backoff_and_never_retries_a_timeout", func(t *testing.T) {
		for _, name := range []string{"Notify", "Expire", "Revoke"} {
			var errs []string
			for _, r := range state(t, def, name)["Retry"].([]any) {
				r := r.(map[string]any)
				if r["BackoffRate"] != 2.0 || r["MaxAttempts"].(float64) < 3 {
					t.Fatalf("%s retry without backoff: %v", name, r)
				}
				for _, e := range r["ErrorEquals"].([]any) {
					errs = append(errs, e.(string))
				}
			}
			for _, want := range []string{"Lambda.ServiceException", "Lambda.TooManyRequestsException", "RetryLater"} {
				if !strings.Contains(strings.Join(errs, " "), want) {
					t.Fatalf("%s does not retry %s: %v", name, want, errs)
				}
			}
			for _, e := range errs {
				if strings.HasPrefix(e, "States.") {
					t.Fatalf("%s retries %s (a timeout retried would announce the request again)", name, e)
				}
			}
		}
	})

	t.Run("logging_tracing_and_alarm", func(t *testing.T) {
		tmpl.HasResourceProperties(jsii.String("AWS::StepFunctions::StateMachine"), &map[string]any{
			"LoggingConfiguration": map[string]any{"Level": "ALL", "IncludeExecutionData": false},
			"TracingConfiguration": map[string]any{"Enabled": true},
		})
		tmpl.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), &map[string]any{
			"MetricName": "ExecutionsFailed", "Namespace": "AWS/States", "Threshold": 1,
		})
	})

	t.Run("asl_validator_accepts_the_definition", func(t *testing.T) {
		got, err := json.MarshalIndent(def, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, '\n')
		if os.Getenv("UPDATE_GOLDEN") != "" {
			if err := os.WriteFile(aslGolden, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		golden, err := os.ReadFile(aslGolden)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, golden) {
			t.Fatalf("%s is stale: rerun with UPDATE_GOLDEN=1 and review the diff", aslGolden)
		}
		bin := filepath.Join("asl", "node_modules", ".bin", "asl-validator")
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("asl-validator is not installed (%v): run `make asl-deps`", err)
		}
		out, err := exec.CommandContext(t.Context(), bin, "--json-path", aslGolden).CombinedOutput()
		if err != nil {
			t.Fatalf("asl-validator rejected %s: %v\n%s", aslGolden, err, out)
		}
		t.Logf("asl-validator: %s", bytes.TrimSpace(out))
	})
}

// walk runs the definition for one approval: tasks either fail with the
// error in fails or succeed (Notify with decision). It returns the states
// entered (each one a billed state transition in a Standard workflow) and
// the Lambda functions invoked.
func walk(t *testing.T, def map[string]any, autoApproved bool, decision string, fails map[string]string) (states []string, invoked int) {
	t.Helper()
	outcome := map[string]any{}
	name := def["StartAt"].(string)
	for range 50 {
		states = append(states, name)
		s := state(t, def, name)
		switch s["Type"] {
		case "Succeed", "Fail":
			return states, invoked
		case "Wait", "Pass":
			name = s["Next"].(string)
		case "Choice":
			name = s["Default"].(string)
			for _, c := range s["Choices"].([]any) {
				c := c.(map[string]any)
				if (c["Variable"] == "$.autoApproved" && c["BooleanEquals"] == autoApproved) ||
					(c["Variable"] == "$.outcome.decision" && c["StringEquals"] == outcome["decision"]) {
					name = c["Next"].(string)
					break
				}
			}
		case "Task":
			invoked++
			errName, failed := fails[name]
			if !failed {
				if name == "Notify" {
					outcome["decision"] = decision
				}
				name = s["Next"].(string)
				continue
			}
			next := ""
			for _, c := range s["Catch"].([]any) {
				c := c.(map[string]any)
				for _, e := range c["ErrorEquals"].([]any) {
					if next == "" && (e == errName || e == "States.ALL") {
						next = c["Next"].(string)
					}
				}
			}
			if next == "" {
				t.Fatalf("%s: %s is not caught", name, errName)
			}
			name = next
		default:
			t.Fatalf("state %s has type %v", name, s["Type"])
		}
	}
	t.Fatalf("no end after 50 states: %v", states)
	return nil, 0
}

// TestApprovalWorkflowPaths counts state transitions and Lambda invocations
// per approval on each path, and the Step Functions cost per thousand
// approvals at $0.025 per 1,000 transitions (no free tier, no retries).
func TestApprovalWorkflowPaths(t *testing.T) {
	_, def := synthApprovalWorkflow(t)
	for _, tc := range []struct {
		name        string
		auto        bool
		decision    string
		fails       map[string]string
		end         string
		transitions int
		lambdas     int
	}{
		{"approved", false, "approved", nil, "Revoked", 6, 2},
		{"auto_approved", true, "", nil, "Revoked", 4, 1},
		{"denied", false, "denied", nil, "Denied", 4, 1},
		{"expired", false, "", map[string]string{"Notify": "States.Timeout"}, "Expired", 4, 2},
		{"decided_after_revoke_or_missing", false, "closed", nil, "Closed", 4, 1},
		{"task_keeps_failing", false, "approved", map[string]string{"Revoke": "States.TaskFailed"}, "WorkflowFailed", 6, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			states, lambdas := walk(t, def, tc.auto, tc.decision, tc.fails)
			if states[len(states)-1] != tc.end || len(states) != tc.transitions || lambdas != tc.lambdas {
				t.Fatalf("path %v (%d Lambda invocations), want end %s, %d transitions, %d invocations",
					states, lambdas, tc.end, tc.transitions, tc.lambdas)
			}
			t.Logf("%s: %d transitions %v, %d task Lambda invocations, $%.3f per 1,000 approvals",
				tc.name, len(states), states, lambdas, float64(len(states))*0.025)
		})
	}
}
