// Package events_test checks the sample events against the route table:
// every function has one, each decodes strictly into the Lambda event type
// it will receive, targets its own function's route, and (for routes behind
// the authorizer) carries an authorizer context the endpoints accept.
package events_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/vsecure/vsecure/internal/sample"
	"github.com/vsecure/vsecure/shared/catalog"
	"github.com/vsecure/vsecure/shared/httpapi"
	"github.com/vsecure/vsecure/shared/lambdafn"
	"github.com/vsecure/vsecure/shared/slack"
)

func decodeStrict(t *testing.T, file string, v any) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

func TestEveryFunctionHasAnEventForItsRoute(t *testing.T) {
	for _, fn := range catalog.Names(catalog.KindRoute) {
		t.Run(fn, func(t *testing.T) {
			var ev events.APIGatewayV2HTTPRequest
			decodeStrict(t, fn+".json", &ev)
			// A function may serve several routes (mcp: three methods;
			// health: /healthz and /openapi.json): the event is for one.
			var rt httpapi.Route
			for _, r := range httpapi.Routes() {
				if r.Function == fn && r.Method+" "+r.APIGatewayPath() == ev.RouteKey {
					rt = r
				}
			}
			if rt.Function == "" {
				t.Fatalf("no route of %s has the event's routeKey %q", fn, ev.RouteKey)
			}
			if want := rt.Method + " " + rt.APIGatewayPath(); ev.RouteKey != want || ev.RequestContext.RouteKey != want {
				t.Errorf("routeKey %q / %q, want %q", ev.RouteKey, ev.RequestContext.RouteKey, want)
			}
			if ev.RequestContext.HTTP.Method != rt.Method || ev.RequestContext.HTTP.Path != ev.RawPath {
				t.Errorf("requestContext.http %s %s does not match %s %s", ev.RequestContext.HTTP.Method, ev.RequestContext.HTTP.Path, rt.Method, ev.RawPath)
			}
			if ev.RequestContext.RequestID == "" {
				t.Error("requestContext.requestId is empty")
			}
			// The event's path must reach this route in the real mux.
			mux := http.NewServeMux()
			for _, r := range httpapi.Routes() {
				mux.Handle(r.Pattern(), http.NotFoundHandler())
			}
			req, err := http.NewRequest(ev.RequestContext.HTTP.Method, "https://example.com"+ev.RawPath, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, pattern := mux.Handler(req); pattern != rt.Pattern() {
				t.Errorf("%s %s is served by %q, want %q", req.Method, ev.RawPath, pattern, rt.Pattern())
			}
			az := ev.RequestContext.Authorizer
			if rt.Auth != httpapi.AuthKey {
				if az != nil {
					t.Error("a public route's event carries an authorizer context")
				}
				return
			}
			if az == nil || az.Lambda == nil {
				t.Fatal("no requestContext.authorizer.lambda")
			}
			if _, err := lambdafn.DecodePrincipal(az.Lambda); err != nil {
				t.Errorf("authorizer context: %v", err)
			}
		})
	}
}

func TestAuthorizerEvents(t *testing.T) {
	for file, wantHeader := range map[string]bool{
		"authorizer-valid.json": true, "authorizer-invalid.json": true, "authorizer-missing-key.json": false,
	} {
		var ev events.APIGatewayV2CustomAuthorizerV2Request
		decodeStrict(t, file, &ev)
		if ev.Version != "2.0" || ev.Type != "REQUEST" {
			t.Errorf("%s: version %q type %q, want 2.0 REQUEST", file, ev.Version, ev.Type)
		}
		if _, ok := ev.Headers["authorization"]; ok != wantHeader {
			t.Errorf("%s: authorization header present = %v, want %v", file, ok, wantHeader)
		}
	}
}

// The Slack sample is a press Slack signed: its signature verifies for its
// own timestamp under the sample signing secret (tests and `make invoke`
// re-stamp it, as the five-minute window has long passed), and it is a
// block_actions press of our Approve button by alice's Slack user.
func TestSlackInteractionEventIsSigned(t *testing.T) {
	var ev events.APIGatewayV2HTTPRequest
	decodeStrict(t, "slack-interactions.json", &ev)
	ts, sig := ev.Headers["x-slack-request-timestamp"], ev.Headers["x-slack-signature"]
	if want := slack.SignatureHeader([]byte(sample.SlackSigningSecret), ts, []byte(ev.Body)); ts == "" || sig != want {
		t.Errorf("x-slack-signature %q does not sign the body at %q (want %q)", sig, ts, want)
	}
	form, err := url.ParseQuery(ev.Body)
	if err != nil || len(form["payload"]) != 1 {
		t.Fatalf("body is not a form with one payload field: %v", err)
	}
	var p struct {
		Type    string              `json:"type"`
		User    struct{ ID string } `json:"user"`
		Actions []struct {
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
		} `json:"actions"`
	}
	if err := json.Unmarshal([]byte(form["payload"][0]), &p); err != nil {
		t.Fatal(err)
	}
	if p.Type != "block_actions" || p.User.ID != sample.AliceSlackUser || len(p.Actions) != 1 ||
		p.Actions[0].ActionID != slack.ActionApprove || p.Actions[0].Value != sample.SlackApproval {
		t.Errorf("payload %+v is not alice approving %s", p, sample.SlackApproval)
	}
}

// The digest step's event is what an EventBridge schedule rule sends.
func TestAuditDigestEventIsAScheduledEvent(t *testing.T) {
	var ev events.EventBridgeEvent
	decodeStrict(t, lambdafn.DigestFunction+".json", &ev)
	if ev.Source != "aws.events" || ev.DetailType != "Scheduled Event" || len(ev.Resources) != 1 {
		t.Errorf("not a scheduled event: %+v", ev)
	}
}

// The reconciler's event is what its EventBridge schedule rule sends.
func TestWorkflowReconcileEventIsAScheduledEvent(t *testing.T) {
	var ev events.EventBridgeEvent
	decodeStrict(t, lambdafn.ReconcileFunction+".json", &ev)
	if ev.Source != "aws.events" || ev.DetailType != "Scheduled Event" || len(ev.Resources) != 1 || !strings.HasSuffix(ev.Resources[0], "rule/vsecure-dev-"+lambdafn.ReconcileFunction) {
		t.Errorf("not a scheduled event of the reconcile rule: %+v", ev)
	}
}

// The audit indexer's event is what its EventBridge schedule rule sends.
func TestAuditIndexEventIsAScheduledEvent(t *testing.T) {
	var ev events.EventBridgeEvent
	decodeStrict(t, lambdafn.IndexFunction+".json", &ev)
	if ev.Source != "aws.events" || ev.DetailType != "Scheduled Event" || len(ev.Resources) != 1 || !strings.HasSuffix(ev.Resources[0], "rule/vsecure-dev-"+lambdafn.IndexFunction) {
		t.Errorf("not a scheduled event of the audit index rule: %+v", ev)
	}
}

// The fallback's sample is what API Gateway sends its $default route: a
// request no route of the table takes (a known path, another method), with
// no authorizer context, as that route has no authorizer.
func TestFallbackEventMatchesNoRoute(t *testing.T) {
	var ev events.APIGatewayV2HTTPRequest
	decodeStrict(t, httpapi.FallbackFunction+".json", &ev)
	if ev.RouteKey != "$default" || ev.RequestContext.RouteKey != "$default" || ev.RequestContext.RequestID == "" {
		t.Errorf("routeKey %q / %q requestId %q, want $default and an id", ev.RouteKey, ev.RequestContext.RouteKey, ev.RequestContext.RequestID)
	}
	if ev.RequestContext.HTTP.Path != ev.RawPath || ev.RequestContext.Authorizer != nil {
		t.Errorf("path %q vs rawPath %q, authorizer %v", ev.RequestContext.HTTP.Path, ev.RawPath, ev.RequestContext.Authorizer)
	}
	mux := http.NewServeMux()
	var known bool
	for _, r := range httpapi.Routes() {
		mux.Handle(r.Pattern(), http.NotFoundHandler())
		known = known || r.Path == ev.RawPath
	}
	req, err := http.NewRequest(ev.RequestContext.HTTP.Method, "https://example.com"+ev.RawPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, pattern := mux.Handler(req); pattern != "" || !known {
		t.Errorf("%s %s: served by %q, known path %v; want a known path with a method no route takes", req.Method, ev.RawPath, pattern, known)
	}
}
