// Command infra is vsecure's CDK app. It synthesizes one stack, built from
// the route table (shared/httpapi) and the DynamoDB schema
// (shared/store/dynamo/schema), and runs the cdk-nag AwsSolutions pack on
// every synth so an unsuppressed finding fails `cdk synth` itself.
//
// Context (cdk.json or -c): env=dev|prod, slackChannel, alarmEmail,
// authCacheSeconds, tracing, buildDir, placeholderCode=missing, and where
// people sign in: oidc=cognito, or oidcIssuer + oidcClientId (oidc.go). See README.md.
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

func main() {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	cfg, err := configFromContext(app)
	if err != nil {
		fmt.Fprintln(os.Stderr, "infra:", err)
		os.Exit(2)
	}
	if _, err := NewVsecure(app, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "infra:", err)
		os.Exit(2)
	}
	checkWithNag(app)
	app.Synth(nil)
}

// checkWithNag runs the AwsSolutions pack over everything in app at synth;
// findings become error annotations, which fail `cdk synth`.
func checkWithNag(app awscdk.App) {
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
}
