package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// `make invoke` twice in one emulator session: each run seeds its own
// tables, so the second succeeds like the first.
func TestInvokeTwiceInOneSession(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for i := range 2 {
		var out, errb bytes.Buffer
		if err := run(ctx, []string{"invoke", "-fn", "health"}, &out, &errb); err != nil {
			t.Fatalf("invoke %d: %v\n%s", i+1, err, errb.String())
		}
		if !strings.Contains(out.String(), `"statusCode": 200`) {
			t.Fatalf("invoke %d: %s", i+1, out.String())
		}
	}
}

// workflow-notify without a state machine fails its init; invoke must
// report that, not wait for a REPORT line that never comes.
func TestInvokeWorkflowNotifyReturns(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	err := run(ctx, []string{"invoke", "-fn", "workflow-notify"}, &out, &errb)
	if err == nil || !strings.Contains(errb.String(), "VSECURE_STATE_MACHINE_ARN") {
		t.Fatalf("err %v, log:\n%s", err, errb.String())
	}
	if ctx.Err() != nil {
		t.Fatal("invoke returned only because the test's deadline passed")
	}
}
