package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/vsecure/vsecure/shared/httpapi"
)

// fallbackRoute is the $default route: API Gateway would answer a request
// that matches no route itself, with a bare {"message":"Not Found"} 404,
// so a wrong method on a known path would not be the contract's 405. The
// fallback function answers those as the local server does.
//
// The route has no authorizer, as the local server authenticates nobody
// before these answers: with one, a request without an Authorization
// header would be the gateway's 401 instead, and a 405 would cost an
// authorizer call. The function can only tell what the public route table
// says (which methods a path takes) and append audit entries.
func (v *Vsecure) fallbackRoute() error {
	fn, err := v.function(httpapi.FallbackFunction, "$default route: 405 with Allow, JSON 404 and 400 for what no route takes")
	if err != nil {
		return err
	}
	integ := awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String(httpapi.FallbackFunction+"-integration"), fn,
		&awsapigatewayv2integrations.HttpLambdaIntegrationProps{PayloadFormatVersion: awsapigatewayv2.PayloadFormatVersion_VERSION_2_0()})
	// Scoped to the API like AddRoutes' routes, so the stage's dependency
	// on the API (limits.go) covers it.
	rt := awsapigatewayv2.NewHttpRoute(v.API, jsii.String("DefaultRoute"), &awsapigatewayv2.HttpRouteProps{
		HttpApi: v.API, RouteKey: awsapigatewayv2.HttpRouteKey_DEFAULT(), Integration: integ,
	})
	cdknag.NagSuppressions_AddResourceSuppressions(rt, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-APIG4"),
		Reason: jsii.String("The $default route only answers what no route takes (405, 404, 400 error envelopes), before authentication " +
			"as the local server does; its function reads nothing and may only append audit entries."),
	}}, jsii.Bool(true))
	return nil
}
