//go:build aws

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/vsecure/vsecure/shared/api"
)

// adminBootstrap is admin:bootstrap with its flags checked.
func adminBootstrap(ctx context.Context, stack, function, principal *string, breakGlass *bool, env func(string) string, std stdio) int {
	fail := func(format string, a ...any) int {
		fmt.Fprintf(std.Err, "vsecure admin:bootstrap: "+format+"\n", a...)
		return exitError
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return fail("AWS configuration: %v", err)
	}
	name := *function
	if name == "" {
		cf := cloudformation.NewFromConfig(cfg, func(o *cloudformation.Options) {
			o.BaseEndpoint = override(env, "CLOUDFORMATION")
		})
		out, err := cf.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: stack})
		if err != nil {
			return fail("describe stack %s: %v", *stack, err)
		}
		for _, s := range out.Stacks {
			for _, o := range s.Outputs {
				if aws.ToString(o.OutputKey) == bootstrapOutput {
					name = aws.ToString(o.OutputValue)
				}
			}
		}
		if name == "" {
			return fail("stack %s has no %s output (deployed before admin-bootstrap existed? redeploy, or pass --function)", *stack, bootstrapOutput)
		}
	}
	id, err := sts.NewFromConfig(cfg, func(o *sts.Options) { o.BaseEndpoint = override(env, "STS") }).
		GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return fail("who am I (sts:GetCallerIdentity): %v", err)
	}
	payload, err := json.Marshal(api.BootstrapRequest{Principal: *principal, BreakGlass: *breakGlass, RequestedBy: aws.ToString(id.Arn)})
	if err != nil {
		return fail("%v", err)
	}
	lc := lambda.NewFromConfig(cfg, func(o *lambda.Options) { o.BaseEndpoint = override(env, "LAMBDA") })
	out, err := lc.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(name), InvocationType: lambdatypes.InvocationTypeRequestResponse, Payload: payload})
	if err != nil {
		return fail("invoke %s: %v", name, err)
	}
	// Lambda flags a function error in X-Amz-Function-Error; the emulator
	// only returns the error payload, so both are read.
	var fe struct {
		ErrorMessage string `json:"errorMessage"`
	}
	_ = json.Unmarshal(out.Payload, &fe)
	if out.FunctionError != nil || fe.ErrorMessage != "" {
		return fail("refused: %s", strings.TrimSpace(fe.ErrorMessage))
	}
	var k api.CreatedKey
	if err := json.Unmarshal(out.Payload, &k); err != nil || k.Secret == "" {
		return fail("%s answered without a key: %v", name, err)
	}
	fmt.Fprintf(std.Err, "vsecure admin:bootstrap: admin key %s for %q minted as %s (break-glass %v).\n"+
		"It is shown once, below, and stored only as a hash: keep it in a password manager.\n", k.ID, k.Principal, aws.ToString(id.Arn), *breakGlass)
	fmt.Fprintln(std.Out, k.Secret)
	return exitOK
}

// override returns the SDK endpoint override AWS_ENDPOINT_URL_<service>
// from env, or nil (the service's own endpoint).
func override(env func(string) string, service string) *string {
	if v := env("AWS_ENDPOINT_URL_" + service); v != "" {
		return aws.String(v)
	}
	return nil
}
