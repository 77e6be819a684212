package consolefn_test

import (
	"net/http"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/vsecure/vsecure/shared/lambdafn/consolefn"
)

// TestGatewaySubject reads the subject API Gateway's JWT authorizer put in
// the event, through the same adapter the functions serve with, and none
// where no JWT authorizer ran.
func TestGatewaySubject(t *testing.T) {
	var got string
	var ok bool
	h := httpadapter.NewV2(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok = consolefn.GatewaySubject(r)
		w.WriteHeader(http.StatusNoContent)
	}))
	ev := func(auth *events.APIGatewayV2HTTPRequestContextAuthorizerDescription) events.APIGatewayV2HTTPRequest {
		return events.APIGatewayV2HTTPRequest{
			RawPath: "/console", Headers: map[string]string{},
			RequestContext: events.APIGatewayV2HTTPRequestContext{
				HTTP:       events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "GET", Path: "/console"},
				Authorizer: auth,
			},
		}
	}
	jwt := func(claims map[string]string) *events.APIGatewayV2HTTPRequestContextAuthorizerDescription {
		return &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims}}
	}
	for name, c := range map[string]struct {
		ev   events.APIGatewayV2HTTPRequest
		sub  string
		want bool
	}{
		"jwt authorizer":         {ev(jwt(map[string]string{"sub": "abc-123", "email": "jane@example.com"})), "abc-123", true},
		"jwt without sub":        {ev(jwt(map[string]string{"email": "jane@example.com"})), "", false},
		"lambda authorizer":      {ev(&events.APIGatewayV2HTTPRequestContextAuthorizerDescription{Lambda: map[string]any{"sub": "abc-123"}}), "", false},
		"no authorizer (public)": {ev(nil), "", false},
	} {
		got, ok = "unset", true
		if _, err := h.ProxyWithContext(t.Context(), c.ev); err != nil {
			t.Fatal(err)
		}
		if got != c.sub || ok != c.want {
			t.Errorf("%s: GatewaySubject = %q, %v; want %q, %v", name, got, ok, c.sub, c.want)
		}
	}
}
