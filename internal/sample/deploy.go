package sample

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/vsecure/vsecure/shared/lambdafn"
	"github.com/vsecure/vsecure/shared/slack"
	"github.com/vsecure/vsecure/shared/store/dynamo"
)

// EmulatorEnv is the environment a function gets from the CDK stack,
// pointed at the emulators that .ci/emulators.sh started (it exports
// VSECURE_TEST_DYNAMODB_ENDPOINT, VSECURE_TEST_KMS_ENDPOINT and the seeded
// keys VSECURE_TEST_KMS_KEY_ID and VSECURE_TEST_AUDIT_MAC_KEY_ID), with
// fresh table names.
func EmulatorEnv(getenv func(string) string) (map[string]string, error) {
	ddb, kms, key := getenv("VSECURE_TEST_DYNAMODB_ENDPOINT"), getenv("VSECURE_TEST_KMS_ENDPOINT"), getenv("VSECURE_TEST_KMS_KEY_ID")
	macKey := getenv("VSECURE_TEST_AUDIT_MAC_KEY_ID")
	if ddb == "" || kms == "" || key == "" || macKey == "" {
		return nil, errors.New("VSECURE_TEST_DYNAMODB_ENDPOINT, VSECURE_TEST_KMS_ENDPOINT, VSECURE_TEST_KMS_KEY_ID and VSECURE_TEST_AUDIT_MAC_KEY_ID are not set: " +
			"the functions run against DynamoDB Local and local-kms; start them with `.ci/emulators.sh run <command>` " +
			"(make test, make invoke and make bench-lambda do)")
	}
	suffix := fmt.Sprintf("%d-%d", time.Now().UnixNano(), os.Getpid())
	return map[string]string{
		"VSECURE_TABLE": "vsecure-" + suffix, "VSECURE_AUDIT_TABLE": "vsecure-audit-" + suffix,
		"VSECURE_KMS_KEY_ID": key, "VSECURE_AUDIT_MAC_KEY_ID": macKey, "VSECURE_PUBLIC_URL": "https://api.example.com",
		"VSECURE_CURSOR_KEY": base64.StdEncoding.EncodeToString([]byte("sample-cursor-key-for-emulators-only!")),
		"AWS_REGION":         "us-east-1", "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
		"AWS_ENDPOINT_URL_DYNAMODB": ddb, "AWS_ENDPOINT_URL_KMS": kms,
		// No Secrets Manager emulator: the Slack signing secret comes from
		// the environment, as in `vsecure dev`.
		slack.EnvSigningSecret: SlackSigningSecret,
	}, nil
}

// Deploy creates what the stack would: the tables named in env and the
// audit signing key (an ECC_NIST_P256 SIGN_VERIFY key in local-kms, whose
// ARN it records in env as VSECURE_AUDIT_SIGNING_KEY_ARN); then it seeds
// the sample world with the same wiring the functions use.
func Deploy(ctx context.Context, env map[string]string) error {
	cfg, err := lambdafn.ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		return err
	}
	ac := aws.Config{Region: cfg.Region, Credentials: credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, "")}
	db := dynamodb.NewFromConfig(ac, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(cfg.DynamoDBEndpoint) })
	if err := dynamo.CreateTables(ctx, db, cfg.Table, cfg.AuditTable); err != nil {
		return err
	}
	if env["VSECURE_AUDIT_SIGNING_KEY_ARN"] == "" {
		kc := awskms.NewFromConfig(ac, func(o *awskms.Options) { o.BaseEndpoint = aws.String(cfg.KMSEndpoint) })
		out, err := kc.CreateKey(ctx, &awskms.CreateKeyInput{
			KeySpec: kmstypes.KeySpecEccNistP256, KeyUsage: kmstypes.KeyUsageTypeSignVerify,
			Description: aws.String("vsecure sample: audit digest signing"),
		})
		if err != nil {
			return fmt.Errorf("create the audit signing key: %w", err)
		}
		env["VSECURE_AUDIT_SIGNING_KEY_ARN"] = aws.ToString(out.KeyMetadata.Arn)
		cfg.AuditSigningKey = env["VSECURE_AUDIT_SIGNING_KEY_ARN"]
	}
	// The sample world has a past (keys issued an hour ago, lapsed
	// approvals): its seed may write entries older than the put budget
	// that a serving function refuses.
	f, err := lambdafn.Open(cfg, slog.New(slog.DiscardHandler), dynamo.WithAuditPutBudget(0))
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

// SignSlackEvent stamps a Slack interaction event (events/slack-interactions.json)
// with timestamp at and the signature of its body under SlackSigningSecret,
// as Slack does: the committed sample is signed at a fixed time that the
// five-minute window has long left.
func SignSlackEvent(ev *events.APIGatewayV2HTTPRequest, at time.Time) {
	ts := strconv.FormatInt(at.Unix(), 10)
	ev.Headers["x-slack-request-timestamp"] = ts
	ev.Headers["x-slack-signature"] = slack.SignatureHeader([]byte(SlackSigningSecret), ts, []byte(ev.Body))
}
