package main

import (
	"os"
	"testing"
)

// The README's CLI walkthrough starts with `mcp:configure -f
// examples/policy.json`: the file must be a policy the CLI accepts as is.
func TestExamplePolicyIsAccepted(t *testing.T) {
	raw, err := os.ReadFile("../../examples/policy.json")
	if err != nil {
		t.Fatal(err)
	}
	ps, err := decodePolicies(raw)
	if err != nil {
		t.Fatalf("examples/policy.json: %v", err)
	}
	if len(ps) != 1 || ps[0].URI != "vsecure://secrets/production/*" || !ps[0].RequiresApproval || len(ps[0].Approvers) != 1 || ps[0].Approvers[0] != "oncall-engineer" {
		t.Fatalf("examples/policy.json decodes to %+v; the README's walkthrough expects production/* gated on oncall-engineer", ps)
	}
}
