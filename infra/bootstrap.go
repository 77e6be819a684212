package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/vsecure/vsecure/shared/catalog"
)

// bootstrapFunction mints the first admin key (catalog.Bootstrap).
// No route and no invoke permission: only principals whose own IAM policy
// grants lambda:InvokeFunction on it (the operator) can call it, and the
// key travels in the invoke response only, never in the template.
const bootstrapFunction = catalog.Bootstrap

// adminBootstrap declares the function and names it in an output for
// `vsecure admin:bootstrap --stack` (the name only, never a key).
func (v *Vsecure) adminBootstrap() error {
	fn, err := v.function(bootstrapFunction, "first admin key, invoked directly by the operator (vsecure admin:bootstrap)")
	if err != nil {
		return err
	}
	awscdk.NewCfnOutput(v.Stack, jsii.String("AdminBootstrapFunctionName"), &awscdk.CfnOutputProps{
		Value:       fn.FunctionName(),
		Description: jsii.String("Invoke with `vsecure admin:bootstrap --stack vsecure-" + v.Config.Env + "` for the first admin key"),
	})
	return nil
}
