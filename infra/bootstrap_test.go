package main

import (
	"testing"

	"github.com/aws/jsii-runtime-go"
)

// admin-bootstrap has no route and no resource-based invoke permission
// (only an IAM principal granted lambda:InvokeFunction may call it), and
// the stack names it in an output, never a key.
func TestAdminBootstrapIsInvokedDirectlyOnly(t *testing.T) {
	s := synth(t, "dev", 30)
	fn := s.functionIDs(t)[bootstrapFunction]
	if fn == "" {
		t.Fatal("no admin-bootstrap function")
	}
	for _, p := range s.ofType("AWS::Lambda::Permission") {
		if getAtt(p.Properties["FunctionName"]) == fn {
			t.Errorf("admin-bootstrap may be invoked by %v", p.Properties["Principal"])
		}
	}
	outs := *s.template.FindOutputs(jsii.String("AdminBootstrapFunctionName"), nil)
	op, ok := outs["AdminBootstrapFunctionName"]
	if !ok || op == nil {
		t.Fatalf("no AdminBootstrapFunctionName output")
	}
	o := *op
	if ref, _ := o["Value"].(map[string]any)["Ref"].(string); ref != fn {
		t.Errorf("AdminBootstrapFunctionName = %v, want a Ref to %s", o["Value"], fn)
	}
}
