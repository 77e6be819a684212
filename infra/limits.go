package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/jsii-runtime-go"

	"github.com/vsecure/vsecure/shared/httpapi"
)

// rate is an API Gateway throttle: steady requests per second and burst.
type rate struct{ Rate, Burst float64 }

// limits are the throttles of the API and the reserved concurrency of the
// expensive functions of one environment: the one place for these numbers.
type limits struct {
	// Stage is the $default stage's throttle, the default of every route.
	// A secrets gate serves agents, not browsers: it bounds a runaway
	// agent loop long before the account's Lambda concurrency.
	Stage rate
	// Routes are stricter per-route throttles, by function (every route of
	// the function). They go where a request costs far more than a read
	// or where nobody legitimate sends many:
	//   - audit-verify reads and checks a whole range of the audit log
	//     against its signed digests: seconds of work, an auditor's tool;
	//     audit-export pages out the same reads, 4 MB a call;
	//   - mcp runs a whole MCP exchange per request, several gate calls;
	//   - slack-interactions is a human pressing buttons; a flood there is
	//     someone else's traffic (bad signatures);
	//   - key management is an admin's occasional act; a burst of it is a
	//     stolen admin key or a script gone wrong.
	//   - the fallback ($default route) answers only mistakes (wrong
	//     method, unknown or unclean path) without authentication; a
	//     flood there is a scanner, and it should not cost more Lambda
	//     concurrency than that.
	Routes map[string]rate
	// Reserved is the reserved concurrency of the expensive functions.
	// It caps them, so a flood of verifications or MCP sessions cannot
	// take the account's concurrency from the authorizer (which every
	// other route needs), and guarantees them that much in return. The
	// account must keep at least 100 unreserved: an account whose limit
	// is still the new-account 10 cannot reserve any (raise it first).
	// The audit indexer gets exactly 1: one runner at a time (two would be
	// safe, only wasted work), and a schedule tick that finds it still
	// running waits for it instead of starting a second.
	Reserved map[string]int
}

var apiLimits = map[string]limits{
	"dev": {
		Stage: rate{20, 40},
		Routes: map[string]rate{
			"audit-verify": {1, 2}, "audit-export": {2, 5}, "mcp": {10, 20}, "slack-interactions": {5, 10},
			"keys-create": {2, 5}, "keys-list": {2, 5}, "keys-delete": {2, 5}, "keys-rotate": {2, 5}, "keys-update": {2, 5},
			httpapi.FallbackFunction: {2, 5},
		},
		Reserved: map[string]int{"audit-verify": 2, "audit-export": 2, "mcp": 10, indexFunction: 1},
	},
	"prod": {
		Stage: rate{200, 400},
		Routes: map[string]rate{
			"audit-verify": {2, 5}, "audit-export": {5, 10}, "mcp": {50, 100}, "slack-interactions": {20, 40},
			"keys-create": {5, 10}, "keys-list": {5, 10}, "keys-delete": {5, 10}, "keys-rotate": {5, 10}, "keys-update": {5, 10},
			httpapi.FallbackFunction: {10, 20},
		},
		Reserved: map[string]int{"audit-verify": 5, "audit-export": 5, "mcp": 50, indexFunction: 1},
	},
}

// routeThrottles sets the per-route throttles on the stage. The stage's
// route settings name route keys, which must exist when the stage is
// deployed: the stage waits for the API's routes.
func (v *Vsecure) routeThrottles() {
	stage, ok := v.Stack.Node().TryFindChild(jsii.String("DefaultStage")).(awsapigatewayv2.HttpStage)
	if !ok {
		return
	}
	l := apiLimits[v.Config.Env]
	settings := map[string]any{}
	for _, r := range httpapi.Routes() {
		if t, ok := l.Routes[r.Function]; ok {
			// RouteSettings is untyped JSON to jsii: CloudFormation's
			// own property names, not a struct (whose fields it would
			// lower-case).
			settings[r.Method+" "+r.APIGatewayPath()] = map[string]any{
				"ThrottlingRateLimit": t.Rate, "ThrottlingBurstLimit": t.Burst,
			}
		}
	}
	if t, ok := l.Routes[httpapi.FallbackFunction]; ok {
		settings["$default"] = map[string]any{"ThrottlingRateLimit": t.Rate, "ThrottlingBurstLimit": t.Burst}
	}
	stage.Node().DefaultChild().(awsapigatewayv2.CfnStage).SetRouteSettings(settings)
	stage.Node().AddDependency(v.API)
}

// reservedConcurrency returns the reserved concurrency of a function, nil
// for the shared pool.
func (v *Vsecure) reservedConcurrency(name string) *float64 {
	if n, ok := apiLimits[v.Config.Env].Reserved[name]; ok {
		return jsii.Number(float64(n))
	}
	return nil
}
