// Package events_test checks the sample events against the route table:
// every function has one, each decodes strictly into the Lambda event type
// it will receive, targets its own function's route, and (for routes behind
// the authorizer) carries an authorizer context the endpoints accept.
package events_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/vsecure/vsecure/shared/httpapi"
	"github.com/vsecure/vsecure/shared/lambdafn"
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
	var functions []string
	for _, r := range httpapi.Routes() {
		if !slices.Contains(functions, r.Function) {
			functions = append(functions, r.Function)
		}
	}
	for _, fn := range functions {
		t.Run(fn, func(t *testing.T) {
			var ev events.APIGatewayV2HTTPRequest
			decodeStrict(t, fn+".json", &ev)
			// A function may serve several methods (mcp): the event is for one.
			var rt httpapi.Route
			for _, r := range httpapi.Routes() {
				if r.Function == fn && r.Method == ev.RequestContext.HTTP.Method {
					rt = r
				}
			}
			if rt.Function == "" {
				t.Fatalf("no route of %s takes %s", fn, ev.RequestContext.HTTP.Method)
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
