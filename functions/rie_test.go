package functions_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/vsecure/vsecure/internal/awsrec"
	"github.com/vsecure/vsecure/internal/iampolicy"
	"github.com/vsecure/vsecure/internal/rie"
	"github.com/vsecure/vsecure/internal/sample"
	"github.com/vsecure/vsecure/shared/catalog"
	"github.com/vsecure/vsecure/shared/httpapi"
	"github.com/vsecure/vsecure/shared/lambdafn"
	"github.com/vsecure/vsecure/shared/vsecure"
	"github.com/vsecure/vsecure/shared/workflow"
	"github.com/vsecure/vsecure/shared/workflow/sfn/sfntest"
	"github.com/vsecure/vsecure/shared/workflow/task"
)

// lastCall is the latest recorded Step Functions call of op.
func lastCall(w *world, op string) *sfntest.Call {
	calls := w.sfn.Calls()
	for i := len(calls) - 1; i >= 0; i-- {
		if calls[i].Op == op {
			return &calls[i]
		}
	}
	return nil
}

// world is one deployment under the emulators: fresh tables seeded with the
// sample world, every function built for the host, and the environment a
// function gets from the CDK stack (pointed at DynamoDB Local and
// local-kms).
type world struct {
	sfn *sfntest.Fake // the Step Functions API the functions call
	// rec records every AWS call of every function (each function has its
	// own endpoint for all services); stack is the synthesized template
	// those calls are checked against (iam_test.go).
	rec    *awsrec.Recorder
	stack  *iampolicy.Template
	ends   map[string]string // function → its recording endpoint
	stops  []func()
	rieBin string
	bins   string
	env    []string
	events string
	rts    map[string]*rie.Runtime
	// vars is the functions' environment (tables, endpoints), for tests
	// that change the world behind the functions' backs.
	vars map[string]string
}

// open builds the functions' parts (gate, store) in-process from the
// world's environment, to seed and inspect what the functions see.
func (w *world) open(t *testing.T) *lambdafn.Function {
	t.Helper()
	cfg, err := lambdafn.ConfigFromEnv(func(k string) string { return w.vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	f, err := lambdafn.Open(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func newWorld(t *testing.T, ctx context.Context) *world {
	t.Helper()
	return newWorldOf(t, ctx, nil)
}

// newWorldOf is newWorld with extra environment for every function, and
// only the functions named in fns built (nil: all of them).
func newWorldOf(t *testing.T, ctx context.Context, extra map[string]string, fns ...string) *world {
	t.Helper()
	vars, err := sample.EmulatorEnv(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	maps.Copy(vars, extra)
	pkgs := []string{"./functions/..."}
	if len(fns) > 0 {
		pkgs = nil
		for _, fn := range fns {
			pkgs = append(pkgs, "./functions/"+fn)
		}
	}
	root, err := rie.Root()
	if err != nil {
		t.Fatal(err)
	}
	// As in the stack, the functions that call Step Functions get the state
	// machine's ARN; here it points at a recording fake of the API.
	fake := sfntest.New(t)
	vars["VSECURE_STATE_MACHINE_ARN"] = stateMachineARN
	vars["AWS_ENDPOINT_URL_SFN"] = fake.Server.URL
	w := &world{sfn: fake, bins: t.TempDir(), events: filepath.Join(root, "events"), rts: map[string]*rie.Runtime{}, ends: map[string]string{}}
	if w.rieBin, err = rie.Install(ctx, root); err != nil {
		t.Fatal(err)
	}
	if err := rie.Build(ctx, root, w.bins, pkgs...); err != nil {
		t.Fatal(err)
	}
	// Deploy adds the audit signing key it creates to vars.
	if err := sample.Deploy(ctx, vars); err != nil {
		t.Fatal(err)
	}
	w.env, w.vars = sample.EnvList(vars), vars
	w.record(t, root)
	t.Cleanup(func() {
		for _, r := range w.rts {
			r.Close()
		}
		for _, stop := range w.stops {
			stop()
		}
	})
	return w
}

// runtime returns the running emulator for function fn, starting it once.
func (w *world) runtime(t *testing.T, ctx context.Context, fn string) *rie.Runtime {
	t.Helper()
	if r, ok := w.rts[fn]; ok {
		return r
	}
	r, err := rie.Start(ctx, w.rieBin, filepath.Join(w.bins, fn), append(w.env, w.stackEnv(t, fn)...))
	if err != nil {
		t.Fatal(err)
	}
	w.rts[fn] = r
	return r
}

func (w *world) readEvent(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(w.events, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func (w *world) invoke(t *testing.T, ctx context.Context, fn string, ev, out any) {
	t.Helper()
	payload, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	r := w.runtime(t, ctx, fn)
	body, err := r.Invoke(ctx, payload)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(body), `"errorMessage"`) && !strings.Contains(string(body), `"statusCode"`) && !strings.Contains(string(body), `"isAuthorized"`) {
		t.Fatalf("%s returned a function error: %s\n%s", fn, body, r.Output())
	}
	if err := json.Unmarshal(body, out); err != nil {
		t.Fatalf("%s: response %s: %v", fn, body, err)
	}
}

// stateMachineARN is the dev stack's approval workflow in the account and
// region the template is resolved to (iam_test.go).
const stateMachineARN = "arn:aws:states:" + region + ":" + account + ":stateMachine:vsecure-dev-approvals"

// expectation of one sample event's main success case.
type expectation struct {
	status int
	keys   []string          // top-level body fields that must be present
	equal  map[string]string // top-level string fields with a fixed value
}

// emptyAnswer lists the functions whose success is an empty 200: Slack's
// acknowledgement of a press (its effect is checked by slackPress).
var emptyAnswer = map[string]bool{"slack-interactions": true}

// linesAnswer lists the functions that answer JSON lines; the first line
// is checked against the expectation.
var linesAnswer = map[string]bool{"audit-export": true}

var expectations = map[string]expectation{
	"health":              {200, []string{"status"}, map[string]string{"status": "ok"}},
	"resources-list":      {200, []string{"resources"}, nil},
	"resources-configure": {200, []string{"uri", "permissions"}, map[string]string{"uri": "vsecure://secrets/dev/*"}},
	"resources-get":       {200, []string{"uri", "value", "version"}, map[string]string{"uri": sample.StagingSecret, "value": sample.StagingValue}},
	"resources-put":       {200, []string{"uri", "version"}, map[string]string{"uri": sample.StagingSecret}},
	"secrets-list":        {200, []string{"secrets", "pagination"}, nil},
	// After resources-put's sample: the value is the rotated one.
	"secrets-use":        {200, []string{"uri", "value", "version"}, map[string]string{"uri": sample.StagingSecret}},
	"approvals-request":  {201, []string{"approvalId", "approvalUrl", "expiresAt"}, map[string]string{"status": "pending"}},
	"approvals-list":     {200, []string{"data", "pagination"}, nil},
	"approvals-get":      {200, []string{"approvalId", "status"}, map[string]string{"approvalId": sample.PendingApproval}},
	"approvals-respond":  {200, []string{"approvalId", "accessToken"}, map[string]string{"status": "approved", "approvedBy": "alice"}},
	"approvals-revoke":   {200, []string{"approvalId", "revokedAt"}, map[string]string{"status": "revoked"}},
	"approvals-cancel":   {200, []string{"approvalId", "cancelledAt"}, map[string]string{"status": "cancelled", "cancelledBy": "agent-1"}},
	"audit-list":         {200, []string{"logs", "pagination"}, nil},
	"keys-create":        {201, []string{"id", "key", "roles"}, map[string]string{"principal": "carol"}},
	"keys-list":          {200, []string{"keys", "pagination"}, nil},
	"keys-delete":        {200, []string{"id", "revokedAt"}, map[string]string{"id": sample.SpareKeyID}},
	"keys-rotate":        {201, []string{"id", "key", "replaces"}, map[string]string{"principal": "dave"}},
	"keys-update":        {200, []string{"id", "slackUserId"}, map[string]string{"id": sample.ErinKeyID, "slackUserId": "U0SAMPLEERIN"}},
	"whoami":             {200, []string{"principal", "roles", "keyId", "credential"}, map[string]string{"principal": "agent-1", "keyId": "key_sample_agent", "credential": "api_key"}},
	"audit-verify":       {200, []string{"digests", "entries", "findings", "sealedTo", "trustedKey"}, nil},
	"audit-export":       {200, []string{"export"}, nil},
	"slack-interactions": {200, nil, nil},
	"mcp":                {200, []string{"jsonrpc", "result"}, map[string]string{"jsonrpc": "2.0"}},
	// The console's pages, without a session: the sign-in page and the
	// stylesheet are public, a page redirects to sign-in, a POST is 401.
	"console-signin":   {200, nil, nil},
	"console-inbox":    {303, nil, nil},
	"console-approval": {303, nil, nil},
	"console-decide":   {401, nil, nil},
	"console-revoke":   {401, nil, nil},
	"console-cancel":   {401, nil, nil},
	"console-audit":    {303, nil, nil},
	"console-keys":     {303, nil, nil},
	"console-policies": {303, nil, nil},
	"console-passkeys": {303, nil, nil},
	"console-stepup":   {401, nil, nil},
	"console-static":   {200, nil, nil},
}

// TestFunctionsUnderRIE runs every real bootstrap under aws-lambda-rie
// against DynamoDB Local and local-kms.
func TestFunctionsUnderRIE(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	w := newWorld(t, ctx)

	// Before the route samples: approvals-respond decides the pending
	// approval that workflow-notify announces.
	t.Run("workflow_tasks_with_their_sample_events", func(t *testing.T) {
		for _, tc := range []struct{ fn, id, status, outcome string }{
			{catalog.Notify, sample.PendingApproval, "pending", "notified"},
			{catalog.Expire, sample.OverdueApproval, "expired", "expired"},
			{catalog.Revoke, sample.LapsedApproval, "expired", "expired"},
		} {
			t.Run(tc.fn, func(t *testing.T) {
				var ev map[string]any
				w.readEvent(t, tc.fn, &ev)
				var res task.Result
				w.invoke(t, ctx, tc.fn, ev, &res)
				if res.ApprovalID != tc.id || res.Status != tc.status || res.Outcome != tc.outcome {
					t.Fatalf("result %+v, want %s %s %s", res, tc.id, tc.status, tc.outcome)
				}
				// Run again: the task is idempotent (Step Functions may retry it).
				w.invoke(t, ctx, tc.fn, ev, &res)
				if res.Outcome == "" || res.Status != tc.status {
					t.Fatalf("second run: %+v", res)
				}
			})
		}
	})
	t.Run("every_function_with_its_sample_event", func(t *testing.T) {
		for _, fn := range catalog.Names(catalog.KindRoute) {
			exp, ok := expectations[fn]
			if !ok {
				t.Errorf("%s: no expectation for its sample event; add one", fn)
				continue
			}
			t.Run(fn, func(t *testing.T) {
				var ev events.APIGatewayV2HTTPRequest
				w.readEvent(t, fn, &ev)
				if fn == "slack-interactions" {
					sample.SignSlackEvent(&ev, time.Now()) // as Slack would sign it now
				}
				var resp events.APIGatewayV2HTTPResponse
				w.invoke(t, ctx, fn, ev, &resp)
				if resp.StatusCode != exp.status {
					t.Fatalf("status %d, want %d: %s", resp.StatusCode, exp.status, resp.Body)
				}
				if got := resp.Headers["X-Request-Id"]; got != ev.RequestContext.RequestID {
					t.Errorf("X-Request-Id %q, want the API Gateway request id %q", got, ev.RequestContext.RequestID)
				}
				if rs := httpapi.RoutesOf(fn); rs[0].Mount == httpapi.MountConsole {
					checkPageHeaders(t, resp)
					return
				}
				if emptyAnswer[fn] {
					if resp.Body != "" {
						t.Errorf("body %q, want none", resp.Body)
					}
					return
				}
				wantType, text := "application/json", resp.Body
				if linesAnswer[fn] {
					wantType = "application/x-ndjson"
					text, _, _ = strings.Cut(resp.Body, "\n")
				}
				if ct := resp.Headers["Content-Type"]; !strings.HasPrefix(ct, wantType) {
					t.Errorf("Content-Type %q, want %s", ct, wantType)
				}
				var body map[string]any
				if err := json.Unmarshal([]byte(text), &body); err != nil {
					t.Fatalf("body is not a JSON object: %s", resp.Body)
				}
				for _, k := range exp.keys {
					if _, ok := body[k]; !ok {
						t.Errorf("body lacks %q: %s", k, resp.Body)
					}
				}
				for k, v := range exp.equal {
					if body[k] != v {
						t.Errorf("body %s = %v, want %q", k, body[k], v)
					}
				}
			})
		}
		t.Run(catalog.Authorizer, func(t *testing.T) {
			for name, want := range map[string]bool{"authorizer-valid": true, "authorizer-invalid": false, "authorizer-missing-key": false} {
				var ev events.APIGatewayV2CustomAuthorizerV2Request
				w.readEvent(t, name, &ev)
				var resp events.APIGatewayV2CustomAuthorizerSimpleResponse
				w.invoke(t, ctx, catalog.Authorizer, ev, &resp)
				if resp.IsAuthorized != want {
					t.Errorf("%s: isAuthorized %v, want %v", name, resp.IsAuthorized, want)
				}
				if want && (resp.Context["principal"] != "admin" || resp.Context["roles"] != "admin" || resp.Context["keyId"] != sample.AdminKeyID) {
					t.Errorf("%s: context %v", name, resp.Context)
				}
			}
		})
		// The $default route's function: its sample (a known path, another
		// method, a key it never looks at) is the local server's 405; an
		// unknown path is the JSON 404; an unclean one the 400 whose
		// refusal is audited, which it answers only once the entry is
		// written (without the store it would be a 500).
		t.Run(catalog.Fallback, func(t *testing.T) {
			for _, tc := range []struct {
				method, path string
				status       int
				allow, code  string
			}{
				{"", "", 405, "GET, POST", "method_not_allowed"},
				{"GET", "/v1/nope", 404, "", "not_found"},
				{"GET", "/v1/security/mcp/resources/vsecure://secrets/staging/API_TOKEN", 400, "", "invalid_request"},
			} {
				var ev events.APIGatewayV2HTTPRequest
				w.readEvent(t, catalog.Fallback, &ev)
				if tc.method != "" {
					ev.RequestContext.HTTP.Method, ev.RawPath, ev.RequestContext.HTTP.Path = tc.method, tc.path, tc.path
					ev.RequestContext.RequestID += tc.code
				}
				var resp events.APIGatewayV2HTTPResponse
				w.invoke(t, ctx, catalog.Fallback, ev, &resp)
				var body struct {
					Error struct{ Code, RequestID string }
				}
				if err := json.Unmarshal([]byte(resp.Body), &body); err != nil || resp.StatusCode != tc.status ||
					resp.Headers["Allow"] != tc.allow || body.Error.Code != tc.code || body.Error.RequestID != ev.RequestContext.RequestID ||
					!strings.HasPrefix(resp.Headers["Content-Type"], "application/json") {
					t.Errorf("%s %s: %d Allow=%q %v %s, want %d Allow=%q %s", ev.RequestContext.HTTP.Method, ev.RawPath,
						resp.StatusCode, resp.Headers["Allow"], resp.Headers, resp.Body, tc.status, tc.allow, tc.code)
				}
			}
		})
		t.Run("endpoint_without_authorizer_context_is_refused", func(t *testing.T) {
			var ev events.APIGatewayV2HTTPRequest
			w.readEvent(t, "keys-list", &ev)
			ev.RequestContext.Authorizer = nil
			ev.Headers["authorization"] = "Bearer " + sample.AdminKey // a key alone is not trusted
			var resp events.APIGatewayV2HTTPResponse
			w.invoke(t, ctx, "keys-list", ev, &resp)
			if resp.StatusCode != 401 || !strings.Contains(resp.Body, `"unauthenticated"`) {
				t.Errorf("status %d %s, want 401 unauthenticated", resp.StatusCode, resp.Body)
			}
		})
	})

	t.Run("slack_press_decided_its_approval_once", func(t *testing.T) { slackPress(t, ctx, w) })
	t.Run("audit_digest_seals_and_verify_checks", func(t *testing.T) { auditDigest(t, ctx, w) })
	t.Run("approval_flow_through_the_functions", func(t *testing.T) { approvalFlow(t, ctx, w) })
	t.Run("workflow_reconcile_repairs_once_and_emits_its_metric", func(t *testing.T) { workflowReconcile(t, ctx, w) })
	t.Run("audit_index_runs_passes_until_its_deadline_and_emits_its_lag", func(t *testing.T) { auditIndex(t, ctx, w) })

	t.Run("variants_reach_every_store_path", func(t *testing.T) { variants(t, ctx, w) })
	t.Run("approval_requests_share_one_limit_across_functions", func(t *testing.T) { approvalLimit(t, ctx, w) })
	t.Run("every_aws_call_is_allowed_by_its_functions_synthesized_policy", func(t *testing.T) { checkIAM(t, w) })

	t.Run("logs_are_json_with_both_request_ids_and_no_credentials", func(t *testing.T) {
		for fn, r := range w.rts {
			out := r.Output()
			for _, secret := range []string{sample.AdminKey, sample.AgentKey, sample.ApproverKey, sample.StagingValue, sample.ProductionValue, "mcp_at_"} {
				if strings.Contains(out, secret) {
					t.Errorf("%s: its output contains a credential or secret value", fn)
				}
			}
			var saw bool
			for line := range strings.Lines(out) {
				var m map[string]any
				if json.Unmarshal([]byte(line), &m) != nil {
					continue // the emulator's own START/END/REPORT lines
				}
				if m["message"] == "request" || m["message"] == "authorized" || m["message"] == "denied" {
					saw = true
					if m["awsRequestId"] == nil || m["requestId"] == nil {
						t.Errorf("%s: log line lacks awsRequestId or requestId: %s", fn, line)
					}
				}
				// The scheduled step has no API Gateway request id.
				if m["message"] == "audit digest run" || m["message"] == "workflow reconcile run" || m["message"] == "audit index run" {
					saw = true
					if m["awsRequestId"] == nil {
						t.Errorf("%s: log line lacks awsRequestId: %s", fn, line)
					}
				}
			}
			if strings.Contains(out, "flow-task-token") || strings.Contains(out, "sample0task0token") {
				t.Errorf("%s: its output contains a task token", fn)
			}
			if !saw && !slices.Contains(catalog.Names(catalog.KindTask), fn) { // tasks serve no HTTP request
				t.Errorf("%s: no JSON request log line in its output:\n%s", fn, out)
			}
		}
	})
}

// approvalFlow drives configure → write → request → approve → read → audit
// only through the functions under the emulator: each call first goes
// through the authorizer function, whose context is put into the endpoint
// event, as API Gateway does.
func approvalFlow(t *testing.T, ctx context.Context, w *world) {
	n := 0
	call := func(fn, method, path, body, cred string) (int, map[string]any) {
		t.Helper()
		n++
		rid := fmt.Sprintf("flow-%d", n)
		var aev events.APIGatewayV2CustomAuthorizerV2Request
		w.readEvent(t, "authorizer-valid", &aev)
		aev.Headers["authorization"] = "Bearer " + cred
		aev.IdentitySource = []string{"Bearer " + cred}
		aev.RequestContext.RequestID = rid
		var ares events.APIGatewayV2CustomAuthorizerSimpleResponse
		w.invoke(t, ctx, catalog.Authorizer, aev, &ares)
		if !ares.IsAuthorized {
			t.Fatalf("%s %s: the authorizer denied the credential", method, path)
		}
		var ev events.APIGatewayV2HTTPRequest
		w.readEvent(t, fn, &ev)
		if ev.RequestContext.HTTP.Method != method {
			t.Fatalf("%s serves %s, not %s", fn, ev.RequestContext.HTTP.Method, method)
		}
		p, q, _ := strings.Cut(path, "?")
		ev.RawPath, ev.RequestContext.HTTP.Path, ev.RawQueryString, ev.QueryStringParameters = p, p, q, nil
		ev.Body = body
		ev.RequestContext.RequestID = rid
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{Lambda: ares.Context}
		var resp events.APIGatewayV2HTTPResponse
		w.invoke(t, ctx, fn, ev, &resp)
		var m map[string]any
		if err := json.Unmarshal([]byte(resp.Body), &m); err != nil {
			t.Fatalf("%s %s: body %q", method, path, resp.Body)
		}
		return resp.StatusCode, m
	}
	must := func(status int, m map[string]any, want int, what string) map[string]any {
		t.Helper()
		if status != want {
			t.Fatalf("%s: status %d, want %d: %v", what, status, want, m)
		}
		return m
	}
	const uri = "vsecure://secrets/flow/DB_PASSWORD"
	res := "/v1/security/mcp/resources/" + url.PathEscape(uri)

	s, m := call("resources-configure", "POST", "/v1/security/mcp/resources",
		`{"uri":"vsecure://secrets/flow/*","permissions":["read"],"requiresApproval":true,"approvers":["alice"]}`, sample.AdminKey)
	must(s, m, 200, "admin configures the policy")
	s, m = call("resources-put", "PUT", res, `{"value":"flow-secret-value"}`, sample.AdminKey)
	must(s, m, 200, "admin writes the secret")

	s, m = call("resources-get", "GET", res, "", sample.AgentKey)
	must(s, m, 403, "agent reads before approval")
	if e, _ := m["error"].(map[string]any); e["code"] != "approval_required" || e["requestId"] == "" {
		t.Fatalf("read before approval: %v, want approval_required with a requestId", m)
	}

	s, m = call("approvals-request", "POST", "/v1/security/mcp/approve",
		`{"resource":"`+uri+`","operation":"read","reason":"flow test","ttl":600}`, sample.AgentKey)
	id, _ := must(s, m, 201, "agent requests approval")["approvalId"].(string)
	if m["status"] != "pending" || !strings.HasPrefix(id, "appr_") {
		t.Fatalf("request: %v", m)
	}

	// The request started the approval's execution, named after it; the
	// state machine's Notify task then stores its task token.
	if c := lastCall(w, "StartExecution"); c == nil || c.Body["name"] != id || c.Body["stateMachineArn"] != stateMachineARN {
		t.Fatalf("StartExecution for %s: %v (calls %v)", id, c, w.sfn.Ops())
	}
	const flowToken = "flow-task-token-0123456789"
	var notified task.Result
	w.invoke(t, ctx, catalog.Notify, task.NotifyEvent{ApprovalID: id, TaskToken: flowToken}, &notified)
	if notified.Outcome != "notified" {
		t.Fatalf("notify: %+v", notified)
	}

	s, m = call("approvals-respond", "POST", "/v1/security/mcp/approvals/"+id+"/respond",
		`{"action":"approve","reason":"ok"}`, sample.AgentKey)
	must(s, m, 403, "requester approves its own request")

	s, m = call("approvals-respond", "POST", "/v1/security/mcp/approvals/"+id+"/respond",
		`{"action":"approve","reason":"ok"}`, sample.ApproverKey)
	token, _ := must(s, m, 200, "approver approves")["accessToken"].(string)
	if m["status"] != "approved" || token == "" {
		t.Fatalf("approve: %v", m)
	}

	// The decision, written to the table first, completed the Notify task.
	if c := lastCall(w, "SendTaskSuccess"); c == nil || c.Body["taskToken"] != flowToken || c.Body["output"] != `{"decision":"approved"}` {
		t.Fatalf("SendTaskSuccess after approval: %v (calls %v)", c, w.sfn.Ops())
	}

	s, m = call("resources-get", "GET", res, "", sample.AgentKey)
	if must(s, m, 200, "agent reads with its key after approval")["value"] != "flow-secret-value" || m["approvalId"] != id {
		t.Fatalf("read after approval: %v", m)
	}
	// The access token alone: the authorizer turns it into a scoped identity.
	s, m = call("resources-get", "GET", res, "", token)
	if must(s, m, 200, "read with the access token")["value"] != "flow-secret-value" {
		t.Fatalf("read with the token: %v", m)
	}
	s, m = call("resources-get", "GET", "/v1/security/mcp/resources/secrets/staging/API_TOKEN", "", token)
	must(s, m, 403, "the access token on another resource")

	s, m = call("audit-list", "GET", "/v1/security/mcp/audit?resource="+url.QueryEscape(uri)+"&limit=50", "", sample.AdminKey)
	logs, _ := must(s, m, 200, "admin queries the audit log")["logs"].([]any)
	seen := map[string]int{}
	for _, l := range logs {
		e := l.(map[string]any)
		seen[fmt.Sprintf("%v/%v/%v", e["operation"], e["actor"], e["success"])]++
		if md, _ := e["metadata"].(map[string]any); md["requestId"] == nil || !strings.HasPrefix(md["requestId"].(string), "flow-") {
			t.Errorf("audit entry without the API Gateway request id: %v", e)
		}
	}
	for _, want := range []string{"write/admin/true", "read/agent-1/false", "request_approval/agent-1/true",
		"approve/alice/true", "read/agent-1/true"} {
		if seen[want] == 0 {
			t.Errorf("audit log lacks %s; has %v", want, seen)
		}
	}
	if seen["read/agent-1/true"] < 2 {
		t.Errorf("want two successful reads (key and token), have %v", seen)
	}
}

// slackPress checks what the sample press did (the loop above sent it):
// alice, mapped by her Slack user id, approved the approval; the same
// signed request sent again is refused as a replay, whichever container
// gets it, because the guard is the table.
func slackPress(t *testing.T, ctx context.Context, w *world) {
	var ev events.APIGatewayV2HTTPRequest
	w.readEvent(t, "approvals-get", &ev)
	p := "/v1/security/mcp/approvals/" + sample.SlackApproval
	ev.RawPath, ev.RequestContext.HTTP.Path, ev.PathParameters = p, p, map[string]string{"id": sample.SlackApproval}
	var resp events.APIGatewayV2HTTPResponse
	w.invoke(t, ctx, "approvals-get", ev, &resp)
	var a map[string]any
	if err := json.Unmarshal([]byte(resp.Body), &a); err != nil || resp.StatusCode != 200 {
		t.Fatalf("approvals-get %s: %d %s", sample.SlackApproval, resp.StatusCode, resp.Body)
	}
	if a["status"] != "approved" || a["approvedBy"] != "alice" {
		t.Errorf("after alice's press: status %v approvedBy %v, want approved by alice", a["status"], a["approvedBy"])
	}

	var press events.APIGatewayV2HTTPRequest
	w.readEvent(t, "slack-interactions", &press)
	// Another press (another timestamp, so another signature) inside the
	// window; the first one was signed at the current second.
	sample.SignSlackEvent(&press, time.Now().Add(-10*time.Second))
	press.RequestContext.RequestID = "slack-replay-1"
	w.invoke(t, ctx, "slack-interactions", press, &resp)
	if resp.StatusCode != 200 {
		t.Fatalf("a fresh press of a decided request: %d %s, want 200 (answered ephemerally)", resp.StatusCode, resp.Body)
	}
	press.RequestContext.RequestID = "slack-replay-2"
	w.invoke(t, ctx, "slack-interactions", press, &resp)
	if resp.StatusCode != 401 || !strings.Contains(resp.Body, `"unauthenticated"`) {
		t.Errorf("the same signed request again: %d %s, want 401 unauthenticated", resp.StatusCode, resp.Body)
	}
	press.Headers["x-slack-signature"] = "v0=" + strings.Repeat("0", 64)
	press.RequestContext.RequestID = "slack-forged"
	w.invoke(t, ctx, "slack-interactions", press, &resp)
	if resp.StatusCode != 401 {
		t.Errorf("a forged signature: %d %s, want 401", resp.StatusCode, resp.Body)
	}
}

// workflowReconcile runs the scheduled reconciler with its sample event.
// Two live approvals without an execution are aged past the reconciler's
// grace behind the functions' backs, as if the API's StartExecution had
// failed: one still running its ttl gets its execution started, one past
// expiresAt is expired (audited). The second run finds nothing to repair.
// Each run logs the Reconciled metric as an embedded metric format record.
func workflowReconcile(t *testing.T, ctx context.Context, w *world) {
	f := w.open(t)
	st := f.Gate.Store()
	live, err := st.ListLiveApprovals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	started := map[string]bool{}
	for _, c := range w.sfn.Calls() {
		if c.Op == "StartExecution" {
			started[c.Body["name"].(string)] = true
		}
	}
	var lost []string
	for _, a := range live {
		if !started[a.ID] {
			lost = append(lost, a.ID)
		}
	}
	if len(lost) < 2 {
		t.Fatalf("live approvals without an execution %v, want two to age", lost)
	}
	now := time.Now()
	for i, age := range []time.Duration{10 * time.Minute, 2 * time.Hour} {
		_, _, err := workflow.Annotate(ctx, st, lost[i], func(a *vsecure.Approval) bool {
			a.RequestedAt = now.Add(-age)
			a.ExpiresAt = a.RequestedAt.Add(time.Duration(a.TTL) * time.Second)
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var ev events.EventBridgeEvent
	w.readEvent(t, catalog.Reconcile, &ev)
	var first, second task.Counts
	before := len(w.sfn.Calls())
	w.invoke(t, ctx, catalog.Reconcile, ev, &first)
	if first.Checked != len(live) || first.Started != 1 || first.Expired != 1 || first.Errors != 0 {
		t.Fatalf("first run %+v, want %d checked, one started, one expired", first, len(live))
	}
	if a, err := st.GetApproval(ctx, lost[1]); err != nil || a.Status != vsecure.StatusExpired {
		t.Fatalf("overdue approval %s: %s, %v; want expired", lost[1], a.Status, err)
	}
	var starts int
	for _, c := range w.sfn.Calls()[before:] {
		if c.Op == "StartExecution" {
			starts++
			if c.Body["stateMachineArn"] != stateMachineARN || c.Body["name"] != lost[0] {
				t.Errorf("start %+v", c)
			}
		}
	}
	if starts != first.Started {
		t.Errorf("%d StartExecution calls, %d counted", starts, first.Started)
	}
	w.invoke(t, ctx, catalog.Reconcile, ev, &second)
	if second.Started != 0 || second.Expired != 0 || second.Errors != 0 {
		t.Errorf("second run %+v, want nothing left to repair", second)
	}
	// The function's log reaches the emulator's output a moment after the
	// invoke answers: poll for both runs' lines, with a deadline.
	var metrics []float64
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		metrics = metrics[:0]
		for line := range strings.Lines(w.rts[catalog.Reconcile].Output()) {
			var m struct {
				Message string         `json:"message"`
				AWS     map[string]any `json:"_aws"`
				Value   *float64       `json:"Reconciled"`
				Name    string         `json:"FunctionName"`
			}
			if json.Unmarshal([]byte(line), &m) != nil || m.Message != "workflow reconcile run" {
				continue
			}
			if m.AWS["CloudWatchMetrics"] == nil || m.AWS["Timestamp"] == nil || m.Value == nil || m.Name != "vsecure-"+catalog.Reconcile {
				t.Errorf("not an EMF record of Reconciled by FunctionName: %s", line)
				continue
			}
			metrics = append(metrics, *m.Value)
		}
		if len(metrics) >= 2 || time.Now().After(deadline) {
			break
		}
	}
	if want := []float64{float64(first.Started + first.Expired), 0}; !slices.Equal(metrics, want) {
		t.Errorf("Reconciled metrics %v, want %v", metrics, want)
	}
}

// auditIndex runs the scheduled indexer with its sample event under a
// short deadline (AWS_LAMBDA_FUNCTION_TIMEOUT: the emulator's timeout),
// so it runs a pass or two and returns: without the MAC key, as the stack
// deploys it. Its run line is an EMF record of AuditIndexLag.
func auditIndex(t *testing.T, ctx context.Context, w *world) {
	// admin asks fn (with its sample event) for query as the admin.
	admin := func(fn, query string, out any) {
		t.Helper()
		var ev events.APIGatewayV2HTTPRequest
		w.readEvent(t, fn, &ev)
		ev.RawQueryString, ev.QueryStringParameters = query, nil
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{Lambda: map[string]any{
			"principal": "admin", "roles": "admin", "keyId": sample.AdminKeyID}}
		ev.RequestContext.RequestID = "index-" + fn + "-" + query
		var resp events.APIGatewayV2HTTPResponse
		w.invoke(t, ctx, fn, ev, &resp)
		if resp.StatusCode != 200 || json.Unmarshal([]byte(resp.Body), out) != nil {
			t.Fatalf("%s ?%s: %d %s", fn, query, resp.StatusCode, resp.Body)
		}
	}
	// Reads the indexer has to count: an audited read is only its entry
	// (RecordRead), the head's accessCount is the indexer's to apply.
	for i := range 3 {
		var ev events.APIGatewayV2HTTPRequest
		w.readEvent(t, "resources-get", &ev)
		ev.RequestContext.RequestID = fmt.Sprintf("index-read-%d", i)
		var resp events.APIGatewayV2HTTPResponse
		w.invoke(t, ctx, "resources-get", ev, &resp)
		if resp.StatusCode != 200 {
			t.Fatalf("read %d: %d %s", i, resp.StatusCode, resp.Body)
		}
	}
	st := w.open(t).Gate.Store()
	staging, err := vsecure.ParseURI(sample.StagingSecret)
	if err != nil {
		t.Fatal(err)
	}
	headCount := func() int64 {
		t.Helper()
		v, err := st.LoadAccess(ctx, vsecure.AccessQuery{Principal: "admin", Resource: staging, Operation: vsecure.OpRead})
		if err != nil || v.Secret == nil {
			t.Fatalf("head of %s: %+v, %v", staging, v.Secret, err)
		}
		return v.Secret.AccessCount
	}
	before := headCount()

	// Through the recorder (its calls are checked against its policy), with
	// the indexer's timing set so that a pass indexes everything written
	// so far (VSECURE_AUDIT_INDEX_TIMING; production keeps the defaults).
	var env []string
	for _, kv := range w.env {
		if !strings.HasPrefix(kv, "VSECURE_AUDIT_MAC_KEY_ID=") {
			env = append(env, kv)
		}
	}
	env = append(env, w.stackEnv(t, catalog.Index)...)
	r, err := rie.Start(ctx, w.rieBin, filepath.Join(w.bins, catalog.Index),
		append(env, "AWS_LAMBDA_FUNCTION_TIMEOUT=7", "VSECURE_AUDIT_INDEX_TIMING=0s,0,0s"))
	if err != nil {
		t.Fatal(err)
	}
	w.rts[catalog.Index] = r
	started := time.Now()
	var ev events.EventBridgeEvent
	w.readEvent(t, catalog.Index, &ev)
	var res lambdafn.IndexResult
	w.invoke(t, ctx, catalog.Index, ev, &res)
	if res.Passes < 1 || res.Failed != 0 || res.Entries == 0 || res.Segments == 0 || res.Through.Before(started.Add(-time.Second)) {
		t.Fatalf("run %+v, want passes that indexed entries up to about its start (%s), none failed", res, started)
	}
	var line string
	for deadline := time.Now().Add(10 * time.Second); line == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for l := range strings.Lines(r.Output()) {
			if strings.Contains(l, `"audit index run"`) {
				line = l
			}
		}
	}
	var m struct {
		AWS   map[string]any `json:"_aws"`
		Lag   *float64       `json:"AuditIndexLag"`
		Name  string         `json:"FunctionName"`
		RunID string         `json:"awsRequestId"`
	}
	if json.Unmarshal([]byte(line), &m) != nil || m.AWS["CloudWatchMetrics"] == nil || m.Lag == nil || m.Name != "vsecure-"+catalog.Index || m.RunID == "" {
		t.Errorf("not an EMF record of AuditIndexLag by FunctionName: %q", line)
	}

	// A filtered query now reads the index: the seeded key entries (an
	// hour old, actor bootstrap) are all below the watermark, so no tail
	// holds them; audit-list finds every one through the a:bootstrap
	// segment.
	var logs struct {
		Logs []struct {
			ID, Actor, Operation string
			Success              bool
		} `json:"logs"`
	}
	admin("audit-list", "actor=bootstrap&operation="+vsecure.AuditKeyCreate+"&limit=50", &logs)
	seeded := 0
	for _, l := range logs.Logs {
		if l.Actor != "bootstrap" || l.Operation != vsecure.AuditKeyCreate {
			t.Errorf("actor=bootstrap query returned %+v", l)
		}
		if strings.HasPrefix(l.ID, "log_sample_key_") {
			seeded++
		}
	}
	if seeded < 6 {
		t.Errorf("audit-list actor=bootstrap found %d of the 6 seeded key entries through the index: %+v", seeded, logs.Logs)
	}

	// accessCount: the head now counts every successful read of the log
	// (the indexer applied them, three of them made just now), and so does
	// secrets-list.
	// (secrets-use's sample is an access too: uses count like reads.)
	yes := true
	reads := 0
	for _, op := range []string{vsecure.AuditRead, vsecure.AuditUse} {
		for cursor := ""; ; {
			page, next, err := st.QueryAudit(ctx, vsecure.AuditFilter{Resource: sample.StagingSecret, Operation: op, Success: &yes}, cursor, 100)
			if err != nil {
				t.Fatal(err)
			}
			reads += len(page)
			if cursor = next; cursor == "" {
				break
			}
		}
	}
	after := headCount()
	if after != int64(reads) || after < before+3 {
		t.Errorf("%s: head accessCount %d before the run, %d after; the log holds %d successful reads (3 made just before the run)",
			sample.StagingSecret, before, after, reads)
	}
	var list struct {
		Secrets []struct {
			URI         string `json:"uri"`
			AccessCount int64  `json:"accessCount"`
		} `json:"secrets"`
	}
	admin("secrets-list", "limit=100", &list)
	listed := int64(-1)
	for _, s := range list.Secrets {
		if s.URI == sample.StagingSecret {
			listed = s.AccessCount
		}
	}
	if listed != int64(reads) {
		t.Errorf("secrets-list: %s accessCount %d, want the %d reads of the log", sample.StagingSecret, listed, reads)
	}
}

// auditDigest runs the scheduled step with its sample event: the sample
// keys were issued an hour ago, so at least their window is closed and
// gets sealed with the KMS signing key; a second run finds nothing to do;
// audit-verify then checks the log against the digests and finds nothing.
func auditDigest(t *testing.T, ctx context.Context, w *world) {
	var ev events.EventBridgeEvent
	w.readEvent(t, "audit-digest", &ev)
	var first, second struct {
		Sealed int    `json:"sealed"`
		Last   string `json:"last"`
	}
	w.invoke(t, ctx, "audit-digest", ev, &first)
	if first.Sealed < 1 || first.Last == "" {
		t.Fatalf("first run sealed %d digests (last %q), want at least the sample keys' window", first.Sealed, first.Last)
	}
	w.invoke(t, ctx, "audit-digest", ev, &second)
	if second.Sealed != 0 {
		t.Errorf("second run sealed %d more, want 0: the closed windows are sealed", second.Sealed)
	}
	if out := w.rts["audit-digest"].Output(); !strings.Contains(out, first.Last) {
		t.Errorf("the newest digest's hash %s is not in the log (the outside witness)", first.Last)
	}

	var vev events.APIGatewayV2HTTPRequest
	w.readEvent(t, "audit-verify", &vev)
	vev.RequestContext.RequestID = "verify-after-seal"
	var resp events.APIGatewayV2HTTPResponse
	w.invoke(t, ctx, "audit-verify", vev, &resp)
	var r struct {
		Digests  int              `json:"digests"`
		Entries  int              `json:"entries"`
		Findings []map[string]any `json:"findings"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &r); err != nil || resp.StatusCode != 200 {
		t.Fatalf("audit-verify: %d %s", resp.StatusCode, resp.Body)
	}
	if r.Digests != first.Sealed || r.Entries < 6 || len(r.Findings) != 0 {
		t.Errorf("verify: %d digests, %d entries, findings %v; want %d digests, the 6 key entries, no findings", r.Digests, r.Entries, r.Findings, first.Sealed)
	}
}
