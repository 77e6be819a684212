package functions_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// approvalLimit: approval requests per requester are limited by the
// store, so two functions (two containers, two processes) draw on one
// bucket. approvals-request asks as agent-1 until it is refused; then the
// mcp function, asking as agent-1 too, is refused as well (for a resource
// with no pending request: the tool would reuse one without asking).
func approvalLimit(t *testing.T, ctx context.Context, w *world) {
	refused := false
	// The suite has asked as agent-1 before; a full bucket holds Burst.
	for i := 0; i <= vsecure.ApprovalRequestLimit.Burst && !refused; i++ {
		var ev events.APIGatewayV2HTTPRequest
		w.readEvent(t, "approvals-request", &ev)
		ev.RequestContext.RequestID = fmt.Sprintf("limit-approvals-request-%d", i)
		var resp events.APIGatewayV2HTTPResponse
		w.invoke(t, ctx, "approvals-request", ev, &resp)
		switch {
		case resp.StatusCode == 429:
			if !strings.Contains(resp.Body, `"rate_limited"`) || resp.Headers["Retry-After"] == "" {
				t.Fatalf("refusal %d: headers %v body %s, want rate_limited with Retry-After", i, resp.Headers, resp.Body)
			}
			refused = true
		case resp.StatusCode != 201:
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, resp.Body)
		}
	}
	if !refused {
		t.Fatalf("%d approval requests in a row were all accepted; the burst is %d", vsecure.ApprovalRequestLimit.Burst+1, vsecure.ApprovalRequestLimit.Burst)
	}
	var ev events.APIGatewayV2HTTPRequest
	w.readEvent(t, "mcp", &ev)
	ev.Body = `{"jsonrpc":"2.0","id":90,"method":"tools/call","params":{"name":"request_approval","arguments":{"uri":"vsecure://secrets/production/LIMIT_PROBE","operation":"read","reason":"limit"}}}`
	ev.Headers["content-length"] = fmt.Sprint(len(ev.Body))
	ev.RequestContext.RequestID = "limit-mcp"
	var resp events.APIGatewayV2HTTPResponse
	w.invoke(t, ctx, "mcp", ev, &resp)
	if resp.StatusCode != 200 || !strings.Contains(resp.Body, `"isError":true`) || !strings.Contains(resp.Body, "too many approval requests") {
		t.Fatalf("mcp request_approval after approvals-request drained the bucket: %d %s, want the rate limit's refusal", resp.StatusCode, resp.Body)
	}
}
