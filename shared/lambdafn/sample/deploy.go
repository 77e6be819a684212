package sample

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/vsecure/vsecure/shared/lambdafn"
	"github.com/vsecure/vsecure/shared/store/dynamo"
)

// EmulatorEnv is the environment a function gets from the CDK stack,
// pointed at the emulators that .ci/emulators.sh started (it exports
// VSECURE_TEST_DYNAMODB_ENDPOINT, VSECURE_TEST_KMS_ENDPOINT and
// VSECURE_TEST_KMS_KEY_ID), with fresh table names.
func EmulatorEnv(getenv func(string) string) (map[string]string, error) {
	ddb, kms, key := getenv("VSECURE_TEST_DYNAMODB_ENDPOINT"), getenv("VSECURE_TEST_KMS_ENDPOINT"), getenv("VSECURE_TEST_KMS_KEY_ID")
	if ddb == "" || kms == "" || key == "" {
		return nil, errors.New("VSECURE_TEST_DYNAMODB_ENDPOINT, VSECURE_TEST_KMS_ENDPOINT and VSECURE_TEST_KMS_KEY_ID are not set: " +
			"the functions run against DynamoDB Local and local-kms; start them with `.ci/emulators.sh run <command>` " +
			"(make test, make invoke and make bench-lambda do)")
	}
	suffix := fmt.Sprintf("%d-%d", time.Now().UnixNano(), os.Getpid())
	return map[string]string{
		"VSECURE_TABLE": "vsecure-" + suffix, "VSECURE_AUDIT_TABLE": "vsecure-audit-" + suffix,
		"VSECURE_KMS_KEY_ID": key, "VSECURE_PUBLIC_URL": "https://api.example.com",
		"VSECURE_CURSOR_KEY": base64.StdEncoding.EncodeToString([]byte("sample-cursor-key-for-emulators-only!")),
		"AWS_REGION":         "us-east-1", "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
		"AWS_ENDPOINT_URL_DYNAMODB": ddb, "AWS_ENDPOINT_URL_KMS": kms,
	}, nil
}

// Deploy creates the tables named in env and seeds the sample world into
// them with the same wiring the functions use.
func Deploy(ctx context.Context, env map[string]string) error {
	cfg, err := lambdafn.ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		return err
	}
	db := dynamodb.NewFromConfig(aws.Config{Region: cfg.Region, Credentials: credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, "")},
		func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(cfg.DynamoDBEndpoint) })
	if err := dynamo.CreateTables(ctx, db, cfg.Table, cfg.AuditTable); err != nil {
		return err
	}
	f, err := lambdafn.Open(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	return Seed(ctx, f.Gate, time.Now())
}

// EnvList renders env as KEY=value lines for a process.
func EnvList(env map[string]string) []string {
	l := make([]string, 0, len(env))
	for k, v := range env {
		l = append(l, k+"="+v)
	}
	return l
}
