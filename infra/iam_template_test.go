package main

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
)

// iamGolden is the part of the dev stack's template that decides what
// each function may do: roles, policies, the functions (name, role,
// environment), tables (key schema, resource policy), keys with their key policies, secrets and the
// state machine's name. The functions' RIE suite (functions/iam_test.go)
// checks every AWS call the functions make against it, so it is the
// synthesized policy, never one written a second time by hand.
// UPDATE_GOLDEN=1 go test -run TestIAMTemplateIsCurrent rewrites it.
const iamGolden = "testdata/iam.dev.template.json"

func TestIAMTemplateIsCurrent(t *testing.T) {
	s := synth(t, "dev", 30)
	keep := map[string][]string{ // type → properties kept (nil: all)
		"AWS::IAM::Role": nil, "AWS::IAM::Policy": nil, "AWS::IAM::ManagedPolicy": nil, "AWS::KMS::Key": nil,
		"AWS::DynamoDB::Table": {"KeySchema", "ResourcePolicy"}, "AWS::SecretsManager::Secret": {"Description"},
		"AWS::StepFunctions::StateMachine": {"StateMachineName"}, "AWS::S3::Bucket": {},
		"AWS::Lambda::Function": {"FunctionName", "Role", "Environment"}, "AWS::Logs::LogGroup": {},
	}
	out := map[string]resource{}
	for id, r := range s.resources {
		props, ok := keep[r.Type]
		if !ok {
			continue
		}
		if props != nil {
			p := map[string]any{}
			for _, k := range props {
				if v, ok := r.Properties[k]; ok {
					p[k] = v
				}
			}
			r.Properties = p
		}
		r.DeletionPolicy = ""
		out[id] = r
	}
	got, err := json.MarshalIndent(map[string]any{"Resources": out}, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(iamGolden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	golden, err := os.ReadFile(iamGolden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, golden) {
		t.Fatalf("%s is stale: rerun with UPDATE_GOLDEN=1, review the diff, and run the functions' RIE suite (it enforces these policies)", iamGolden)
	}
}
