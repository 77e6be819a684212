package main

import (
	_ "embed"
	"encoding/json"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2authorizers"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfront"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfrontorigins"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/vsecure/vsecure/shared/httpapi"
)

// The console edge (issue 16). With people signing in, the console's
// signed-in pages (httpapi.AuthSession) sit behind the HTTP API's native
// JWT authorizer, for the issuer's ID tokens. A browser that follows an
// approvalUrl sends cookies, never an Authorization header, so a
// CloudFront distribution in front of the API runs a viewer-request
// function (edge/console-request.js): it serves /console only, presents the ID
// token the console keeps in an HttpOnly cookie as the bearer token, and
// sends a person without a live one to sign in and back instead of to the
// authorizer's bare 401. The page function then checks its sealed session
// for the subject the authorizer verified (console.Config.GatewaySubject).
//
// The distribution is the console's and the approvalUrls' public URL
// (VSECURE_PUBLIC_URL, the passkeys' relying party, the OIDC redirect);
// API clients keep ApiUrl. Without OIDC nobody can sign in, no page opens
// and there is no edge: the template is what it was.

//go:embed edge/console-request.js
var consoleEdgeJS string

// edgePublicPaths are the console paths the edge passes without a token:
// the routes public at the gateway (the sign-in steps, the stylesheet and
// script), exact or, for a {name...} path, by prefix.
func edgePublicPaths() []string {
	var out []string
	for _, r := range httpapi.Routes() {
		if r.Mount != httpapi.MountConsole || r.Auth == httpapi.AuthSession {
			continue
		}
		p := r.Path
		if i := strings.Index(p, "{"); i >= 0 {
			p = p[:i]
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// edgeCode is the function's source with its public paths filled in.
func edgeCode() string {
	paths, err := json.Marshal(edgePublicPaths())
	if err != nil {
		panic(err) // a []string always marshals
	}
	return strings.Replace(consoleEdgeJS, "__PUBLIC_PATHS__", string(paths), 1)
}

// consoleEdge declares the distribution in front of the API, when people
// sign in; it runs before the user pool and the functions, whose callback
// URLs and environment name it.
func (v *Vsecure) consoleEdge() {
	if !v.Config.OIDC.On() {
		return
	}
	s := v.Stack
	fn := awscloudfront.NewFunction(s, jsii.String("ConsoleEdgeFunction"), &awscloudfront.FunctionProps{
		Code:    awscloudfront.FunctionCode_FromInline(jsii.String(edgeCode())),
		Runtime: awscloudfront.FunctionRuntime_JS_2_0(),
		Comment: jsii.String("vsecure " + v.Config.Env + " console: presents the ID token cookie to the API's JWT authorizer"),
	})
	// The API's own domain, from its endpoint https://<id>.execute-api.<region>.<suffix>.
	domain := awscdk.Fn_Select(jsii.Number(2), awscdk.Fn_Split(jsii.String("/"), v.API.ApiEndpoint(), nil))
	origin := awscloudfrontorigins.NewHttpOrigin(domain, &awscloudfrontorigins.HttpOriginProps{
		ProtocolPolicy:     awscloudfront.OriginProtocolPolicy_HTTPS_ONLY,
		OriginSslProtocols: &[]awscloudfront.OriginSslPolicy{awscloudfront.OriginSslPolicy_TLS_V1_2},
	})
	// One behaviour, its function answering 404 outside /console: API
	// clients meet the gateway at ApiUrl, with their own address. Nothing
	// is cached (every answer is a person's, or a live count of time
	// left), and every header but Host reaches the API: with caching off
	// that includes Authorization.
	d := awscloudfront.NewDistribution(s, jsii.String("Console"), &awscloudfront.DistributionProps{
		Comment: jsii.String("vsecure " + v.Config.Env + " console and approval links"),
		DefaultBehavior: &awscloudfront.BehaviorOptions{
			Origin:               origin,
			ViewerProtocolPolicy: awscloudfront.ViewerProtocolPolicy_HTTPS_ONLY,
			AllowedMethods:       awscloudfront.AllowedMethods_ALLOW_ALL(),
			CachePolicy:          awscloudfront.CachePolicy_CACHING_DISABLED(),
			OriginRequestPolicy:  awscloudfront.OriginRequestPolicy_ALL_VIEWER_EXCEPT_HOST_HEADER(),
			FunctionAssociations: &[]*awscloudfront.FunctionAssociation{{Function: fn, EventType: awscloudfront.FunctionEventType_VIEWER_REQUEST}},
		},
		HttpVersion: awscloudfront.HttpVersion_HTTP2_AND_3,
		PriceClass:  awscloudfront.PriceClass_PRICE_CLASS_100,
	})
	why := map[string]string{
		"AwsSolutions-CFR1": "Approvers sign in from wherever they are; the issuer's own policies (MFA, risk) decide who signs in, not the country.",
		"AwsSolutions-CFR2": "Every page is behind the JWT authorizer and the API's throttles; a web ACL is the operator's to attach (docs/deploy.md).",
		"AwsSolutions-CFR3": "Nothing is cached and every request reaches the HTTP API, whose access log records it (route, status, principal).",
		"AwsSolutions-CFR4": "The distribution's default *.cloudfront.net certificate fixes the viewer TLS policy; a custom domain with its own certificate sets TLSv1.2_2021 (docs/deploy.md).",
	}
	var supp []*cdknag.NagPackSuppression
	for _, id := range slices.Sorted(maps.Keys(why)) {
		supp = append(supp, &cdknag.NagPackSuppression{Id: jsii.String(id), Reason: jsii.String(why[id])})
	}
	cdknag.NagSuppressions_AddResourceSuppressions(d, &supp, jsii.Bool(true))
	v.Edge = d
	awscdk.NewCfnOutput(s, jsii.String("ConsoleUrl"), &awscdk.CfnOutputProps{
		Value:       v.publicURL(),
		Description: jsii.String("The console and every approvalUrl (CloudFront, in front of the API)"),
	})
}

// publicURL is the base of approvalUrls and the console: the edge when
// there is one, the API otherwise.
func (v *Vsecure) publicURL() *string {
	if v.Edge == nil {
		return v.API.ApiEndpoint()
	}
	return jsii.String("https://" + *v.Edge.DistributionDomainName())
}

// consoleAuthorizer is the native JWT authorizer in front of the console's
// signed-in pages: the issuer's ID tokens for the console's client, read
// from the Authorization header the edge fills. nil without OIDC.
func (v *Vsecure) consoleAuthorizer() awsapigatewayv2.IHttpRouteAuthorizer {
	if v.oidcEnv == nil {
		return nil
	}
	return awsapigatewayv2authorizers.NewHttpJwtAuthorizer(jsii.String("ConsoleJwt"), v.oidcEnv["VSECURE_OIDC_ISSUER"],
		&awsapigatewayv2authorizers.HttpJwtAuthorizerProps{
			AuthorizerName: jsii.String("vsecure-console-id-token"),
			JwtAudience:    &[]*string{v.oidcEnv["VSECURE_OIDC_CLIENT_ID"]},
			IdentitySource: jsii.Strings("$request.header.Authorization"),
		})
}
