package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/vsecure/vsecure/shared/crypto/kms"
	"github.com/vsecure/vsecure/shared/store/dynamo"
	"github.com/vsecure/vsecure/shared/store/dynamo/schema"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// backends builds the store and sealer `vsecure dev --store` asks for. The
// embedded store (nil, nil) is the devserver's own default. For dynamodb the
// SDK's standard configuration applies, including AWS_ENDPOINT_URL_DYNAMODB
// and AWS_ENDPOINT_URL_KMS for DynamoDB Local and local-kms; tables come
// from VSECURE_TABLE / VSECURE_AUDIT_TABLE and are created only when
// VSECURE_CREATE_TABLES is true (local use: production tables are the CDK
// stack's). VSECURE_KMS_KEY_ID selects the KMS sealer; without it the local
// master key seals.
func backends(ctx context.Context, kind string, env func(string) string) (vsecure.Store, vsecure.Sealer, error) {
	switch kind {
	case "", "embedded":
		return nil, nil, nil
	case "dynamodb":
	default:
		return nil, nil, fmt.Errorf("unknown store %q (want embedded or dynamodb)", kind)
	}
	var opts []func(*config.LoadOptions) error
	if env("AWS_REGION") == "" && env("AWS_DEFAULT_REGION") == "" {
		opts = append(opts, config.WithRegion("us-east-1"))
	}
	if env("AWS_ENDPOINT_URL_DYNAMODB") != "" && env("AWS_ACCESS_KEY_ID") == "" && env("AWS_PROFILE") == "" {
		// The emulators accept any signature; spare developers fake keys.
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("local", "local", "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("aws config: %w", err)
	}
	db := dynamodb.NewFromConfig(cfg, dynamo.ClientOptions)
	table := orDefault(env("VSECURE_TABLE"), schema.State().Name)
	audit := orDefault(env("VSECURE_AUDIT_TABLE"), schema.Audit().Name)
	if create, _ := strconv.ParseBool(env("VSECURE_CREATE_TABLES")); create {
		if err := dynamo.CreateTables(ctx, db, table, audit); err != nil {
			return nil, nil, err
		}
	}
	store, err := dynamo.New(db, table, audit)
	if err != nil {
		return nil, nil, err
	}
	keyID := env("VSECURE_KMS_KEY_ID")
	if keyID == "" {
		return store, nil, nil
	}
	sealer, err := kms.New(awskms.NewFromConfig(cfg, func(o *awskms.Options) { o.RetryMaxAttempts = 3 }), keyID)
	if err != nil {
		return nil, nil, err
	}
	return store, sealer, nil
}
