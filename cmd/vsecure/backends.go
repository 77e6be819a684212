//go:build aws

package main

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/vsecure/vsecure/shared/crypto/kms"
	"github.com/vsecure/vsecure/shared/crypto/local"
	"github.com/vsecure/vsecure/shared/store/dynamo"
	"github.com/vsecure/vsecure/shared/store/dynamo/schema"
)

// awsBuilt: this build opens DynamoDB itself (companion.go).
const awsBuilt = true

// devPool is how many audit chains `vsecure dev --store dynamodb` writes
// at once: one per concurrent writer, up to this many epochs open.
const devPool = 8

// backends builds the store and sealer `vsecure dev --store` asks for. The
// embedded store (zero backend) is the devserver's own default. For
// dynamodb the SDK's standard configuration applies, including
// AWS_ENDPOINT_URL_DYNAMODB and AWS_ENDPOINT_URL_KMS for DynamoDB Local and
// local-kms; tables come from VSECURE_TABLE / VSECURE_AUDIT_TABLE and are
// created only when VSECURE_CREATE_TABLES is true (local use: production
// tables are the CDK stack's). VSECURE_KMS_KEY_ID selects the KMS sealer;
// without it the local master key seals. The store seals its audit entries
// with MAC keys generated under VSECURE_AUDIT_MAC_KEY_ID in KMS, or else
// wrapped by the local audit-mac.key in keysDir. The server runs the
// store's audit indexer every second (AWS: the audit-index function).
func backends(ctx context.Context, kind, keysDir string, env func(string) string) (backend, error) {
	if b, done, err := embeddedBackend(kind); done {
		return b, err
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
		return backend{}, fmt.Errorf("aws config: %w", err)
	}
	kc := awskms.NewFromConfig(cfg, func(o *awskms.Options) { o.RetryMaxAttempts = 3 })
	var b backend
	if id := env("VSECURE_AUDIT_MAC_KEY_ID"); id != "" {
		if b.macKeys, err = kms.NewMACKeys(kc, id); err != nil {
			return backend{}, err
		}
	} else if b.macKeys, err = local.LoadMACKeys(keysDir); err != nil {
		return backend{}, err
	}
	db := dynamodb.NewFromConfig(cfg, dynamo.ClientOptions)
	table := orDefault(env("VSECURE_TABLE"), schema.State().Name)
	audit := orDefault(env("VSECURE_AUDIT_TABLE"), schema.Audit().Name)
	if create, _ := strconv.ParseBool(env("VSECURE_CREATE_TABLES")); create {
		if err := dynamo.CreateTables(ctx, db, table, audit); err != nil {
			return backend{}, err
		}
	}
	host, _ := os.Hostname()
	ds, err := dynamo.New(db, table, audit, dynamo.WithSeal(b.macKeys, "vsecure dev "+host, devPool))
	if err != nil {
		return backend{}, err
	}
	b.store, b.indexer = ds, ds
	if keyID := env("VSECURE_KMS_KEY_ID"); keyID != "" {
		if b.sealer, err = kms.New(kc, keyID); err != nil {
			return backend{}, err
		}
	}
	return b, nil
}
