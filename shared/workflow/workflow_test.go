package workflow_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/vsecure/vsecure/shared/workflow"
	"github.com/vsecure/vsecure/shared/workflow/workflowtest"
)

func TestLogNotifier(t *testing.T) {
	t.Run("never_logs_tokens_or_the_reason", func(t *testing.T) {
		var buf bytes.Buffer
		n := workflow.LogNotifier{Log: slog.New(slog.NewJSONHandler(&buf, nil)), URL: func(id string) string { return "http://x/" + id }}
		a := workflowtest.Pending("appr_a", 60)
		a.TaskToken, a.TokenHash, a.Reason = "TASKTOKEN-SECRET", "HASH-SECRET", "REASON-TEXT"
		if _, err := n.Requested(t.Context(), a); err != nil {
			t.Fatal(err)
		}
		if err := n.Closed(t.Context(), a); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		for _, s := range []string{"TASKTOKEN-SECRET", "HASH-SECRET", "REASON-TEXT"} {
			if strings.Contains(out, s) {
				t.Fatalf("log contains %s: %s", s, out)
			}
		}
		if !strings.Contains(out, `"approvalId":"appr_a"`) || !strings.Contains(out, "http://x/appr_a") {
			t.Fatalf("log lacks the approval id or link: %s", out)
		}
	})
}
