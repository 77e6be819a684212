package lambdafn

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/aws/aws-lambda-go/events"

	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/httpapi"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// Authorizer is the API Gateway HTTP API REQUEST authorizer (payload 2.0,
// simple responses). It resolves the API key or access token with
// gate.Authenticate, exactly as the local server's middleware does, and
// hands the principal to the endpoint Lambda in the authorizer context.
type Authorizer struct {
	Gate *gate.Gate
	Log  *slog.Logger
}

// Handle answers one authorization request. An unknown, revoked or missing
// credential is a deny (API Gateway answers 403). Any other failure (store
// or audit unavailable) is returned as an error, which API Gateway turns
// into a 500: the request is refused either way, but an outage is not
// disguised as a bad key.
func (a Authorizer) Handle(ctx context.Context, ev events.APIGatewayV2CustomAuthorizerV2Request) (events.APIGatewayV2CustomAuthorizerSimpleResponse, error) {
	h := make(http.Header, len(ev.Headers))
	for k, v := range ev.Headers {
		h.Set(k, v)
	}
	rid := ev.RequestContext.RequestID
	flushRefusals(ctx, a.Gate)
	c := gate.Call{IP: ev.RequestContext.HTTP.SourceIP, UserAgent: ev.RequestContext.HTTP.UserAgent, RequestID: rid}
	p, err := a.Gate.Authenticate(ctx, httpapi.Credential(h), c)
	switch {
	case err == nil:
		a.Log.InfoContext(ctx, "authorized", "requestId", rid, "routeKey", ev.RouteKey,
			"actor", p.ID, "keyId", p.KeyID, "scoped", p.Scope != nil)
		return events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: true, Context: EncodePrincipal(p)}, nil
	case vsecure.IsCode(err, vsecure.EUnauthenticated):
		a.Log.InfoContext(ctx, "denied", "requestId", rid, "routeKey", ev.RouteKey, "code", string(vsecure.ErrorCode(err)))
		return events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: false}, nil
	default:
		// The error text may name AWS internals; it goes to the log only.
		a.Log.ErrorContext(ctx, "authorizer failed", "requestId", rid, "routeKey", ev.RouteKey,
			"code", string(vsecure.ErrorCode(err)), "err", err)
		return events.APIGatewayV2CustomAuthorizerSimpleResponse{}, errors.New("authorizer unavailable")
	}
}
