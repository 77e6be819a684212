package lambdafn

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/catalog"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// BootstrapFunction mints the first admin key of a deployed stack (or a
// break-glass one). It serves no route: the operator invokes it directly
// with their own AWS credentials (lambda:InvokeFunction), so the key
// travels only in the invoke response, never through CloudFormation.
const BootstrapFunction = catalog.Bootstrap

// BootstrapHandler handles the bootstrap event (api.BootstrapRequest). A
// refusal is returned as the function's error, whose message says why; the
// key is in the response only, never in a log line.
func (f *Function) BootstrapHandler() func(context.Context, api.BootstrapRequest) (api.CreatedKey, error) {
	return func(ctx context.Context, r api.BootstrapRequest) (api.CreatedKey, error) {
		// A direct invoke carries no caller identity in the Lambda context
		// (only Cognito or client context, neither set here): requestedBy
		// is what the CLI claims, and CloudTrail's Invoke event is the
		// authoritative record of who called.
		attrs := []any{"requestedBy", r.RequestedBy, "requestedByClaimed", true, "principal", r.Principal, "breakGlass", r.BreakGlass}
		if lc, ok := lambdacontext.FromContext(ctx); ok {
			attrs = append(attrs, "requestId", lc.AwsRequestID, "invokedArn", lc.InvokedFunctionArn)
		}
		k, err := f.Gate.Bootstrap(ctx, r)
		if err != nil {
			f.Log.WarnContext(ctx, "admin bootstrap refused", append(attrs, "code", string(vsecure.ErrorCode(err)), "err", err)...)
			return api.CreatedKey{}, err
		}
		f.Log.InfoContext(ctx, "admin key bootstrapped", append(attrs, "keyId", k.ID)...)
		return k, nil
	}
}

// ServeBootstrap runs the admin-bootstrap function.
func ServeBootstrap() {
	f, _ := mustOpen(os.Stdout, true, nil)
	lambda.Start(f.BootstrapHandler())
}
