package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// stackDefinition is the approval state machine's definition as the STACK
// template holds it, with each task function's Fn::GetAtt replaced by the
// literal ARN the construct test uses for that function, so the two can be
// compared byte for byte.
func stackDefinition(t *testing.T, s *synthesized) (resource, map[string]any, []byte) {
	t.Helper()
	machines := s.ofType("AWS::StepFunctions::StateMachine")
	if len(machines) != 1 {
		t.Fatalf("%d state machines in the stack, want 1", len(machines))
	}
	sm := machines[firstID(machines)]
	byID := map[string]string{}
	for name, id := range s.functionIDs(t) {
		byID[id] = name
	}
	var render func(v any) string
	render = func(v any) string {
		switch v := v.(type) {
		case string:
			return v
		case map[string]any:
			if ref, ok := v["Ref"].(string); ok && ref == "AWS::Partition" {
				return "aws"
			}
			if ga, ok := v["Fn::GetAtt"].([]any); ok && len(ga) == 2 && ga[1] == "Arn" {
				name, ok := byID[ga[0].(string)]
				if !ok || !strings.HasPrefix(name, "workflow-") {
					t.Fatalf("the definition references %v, not a workflow task function", ga[0])
				}
				return "arn:aws:lambda:us-east-1:123456789012:function:vsecure-" + name
			}
			if j, ok := v["Fn::Join"].([]any); ok {
				var b strings.Builder
				for _, p := range j[1].([]any) {
					b.WriteString(render(p))
				}
				return b.String()
			}
		}
		t.Fatalf("unexpected token in the stack's definition: %v", v)
		return ""
	}
	text := render(sm.Properties["DefinitionString"])
	var def map[string]any
	if err := json.Unmarshal([]byte(text), &def); err != nil {
		t.Fatal(err)
	}
	pretty, err := json.MarshalIndent(def, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return sm, def, append(pretty, '\n')
}

// TestStackRunsTheApprovalWorkflow checks the workflow as deployed: the
// stack's own state machine (Standard, named, logged, traced, alarmed)
// runs exactly the validated definition over the three task functions,
// asl-validator accepts the definition extracted from the stack template,
// and exactly the functions that call Step Functions know its ARN.
func TestStackRunsTheApprovalWorkflow(t *testing.T) {
	for _, env := range []string{"dev", "prod"} {
		s := synth(t, env, 30)
		sm, _, text := stackDefinition(t, s)
		p := sm.Properties
		if p["StateMachineType"] != "STANDARD" || p["StateMachineName"] != "vsecure-"+env+"-approvals" {
			t.Errorf("%s: state machine %v %v", env, p["StateMachineType"], p["StateMachineName"])
		}
		if lc, _ := p["LoggingConfiguration"].(map[string]any); lc["Level"] != "ALL" || lc["IncludeExecutionData"] != false {
			t.Errorf("%s: logging %v", env, lc)
		}
		golden, err := os.ReadFile(aslGolden)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(text, golden) {
			t.Errorf("%s: the stack's definition differs from %s (the construct's, validated):\n%s", env, aslGolden, text)
		}
		file := filepath.Join(t.TempDir(), "stack.asl.json")
		if err := os.WriteFile(file, text, 0o644); err != nil {
			t.Fatal(err)
		}
		bin := filepath.Join("asl", "node_modules", ".bin", "asl-validator")
		out, err := exec.CommandContext(t.Context(), bin, "--json-path", file).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: asl-validator rejected the stack's definition: %v\n%s", env, err, out)
		}

		want := "arn:AWS::Partition:states:AWS::Region:AWS::AccountId:stateMachine:vsecure-" + env + "-approvals"
		for name, id := range s.functionIDs(t) {
			vars, _ := s.resources[id].Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
			got, has := vars["VSECURE_STATE_MACHINE_ARN"]
			if wants := len(functionSpecs[name].Workflow) > 0; has != wants {
				t.Errorf("%s %s: has VSECURE_STATE_MACHINE_ARN = %v, want %v", env, name, has, wants)
				continue
			}
			if has && joinedRef(got) != want {
				t.Errorf("%s %s: VSECURE_STATE_MACHINE_ARN = %s, want %s", env, name, joinedRef(got), want)
			}
		}
	}
	s := synth(t, "dev", 30)
	var callers []string
	for name, spec := range functionSpecs {
		if len(spec.Workflow) > 0 {
			callers = append(callers, name)
		}
	}
	slices.Sort(callers)
	if want := []string{"approvals-cancel", "approvals-request", "approvals-respond", "approvals-revoke", "console-cancel", "console-decide", "console-revoke", "mcp", "slack-interactions", "workflow-notify", "workflow-reconcile"}; !slices.Equal(callers, want) {
		t.Errorf("functions calling Step Functions: %v, want %v", callers, want)
	}
	var topic string
	for id := range s.ofType("AWS::SNS::Topic") {
		topic = id
	}
	var alarmed bool
	for _, a := range s.ofType("AWS::CloudWatch::Alarm") {
		if a.Properties["MetricName"] == "ExecutionsFailed" && a.Properties["Namespace"] == "AWS/States" {
			actions, _ := a.Properties["AlarmActions"].([]any)
			alarmed = len(actions) == 1 && getAtt(actions[0]) == topic
		}
	}
	if !alarmed {
		t.Error("no ExecutionsFailed alarm notifying the alarm topic")
	}
}
