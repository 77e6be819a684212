package lambdafn

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	awssfn "github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/vsecure/vsecure/shared/archive"
	"github.com/vsecure/vsecure/shared/catalog"
	"github.com/vsecure/vsecure/shared/crypto/kms"
	"github.com/vsecure/vsecure/shared/digest"
	"github.com/vsecure/vsecure/shared/store/dynamo"
	"github.com/vsecure/vsecure/shared/vsecure"
	sfnwf "github.com/vsecure/vsecure/shared/workflow/sfn"
)

// Serve runs the endpoint function named function (an entry of
// httpapi.Routes) until the Lambda runtime stops it.
func Serve(function string) { ServeWith(function) }

// ServeWith is Serve for functions that need parts of another package
// (Slack, remote MCP): ext adds them. Keeping that wiring in the function's
// own main.go keeps its imports out of every other binary.
func ServeWith(function string, ext ...Extension) {
	f, log := mustOpen(os.Stdout, usesStore(function), ext)
	e, err := f.Endpoint(function)
	if err != nil {
		fatal(log, err)
	}
	lambda.Start(e.Handle)
}

// ServeAuthorizer runs the API Gateway authorizer function.
func ServeAuthorizer() {
	f, _ := mustOpen(os.Stdout, true, nil)
	lambda.Start(f.Authorizer().Handle)
}

// usesStore: only functions whose every route is public (health) run
// without the store; the stack gives them no table. The fallback serves no
// route but audits the unclean paths it refuses.
func usesStore(function string) bool {
	f, ok := catalog.Lookup(function)
	return ok && f.Store
}

// mustOpen builds the function from its environment, or ends the process:
// Lambda then reports an init error carrying the logged reason.
func mustOpen(w io.Writer, store bool, ext []Extension) (*Function, *slog.Logger) {
	log := NewLogger(w, os.Getenv("AWS_LAMBDA_LOG_LEVEL"))
	cfg, err := configFromEnv(os.Getenv, store)
	if err != nil {
		fatal(log, err)
	}
	if !store {
		f, err := NewWith(cfg, noStore{}, noSealer{}, Deps{Extensions: ext}, log)
		if err != nil {
			fatal(log, err)
		}
		return f, log
	}
	f, err := open(cfg, log, ext)
	if err != nil {
		fatal(log, err)
	}
	return f, log
}

func fatal(log *slog.Logger, err error) {
	log.Error("init failed", "err", err)
	os.Exit(1)
}

// Open builds the production function: the DynamoDB store and the KMS
// sealer over clients created once for the container. Nothing here touches
// the network; the clients connect on first use.
//
// The AWS configuration is assembled from the runtime's environment instead
// of config.LoadDefaultConfig: a Lambda always has its role's credentials and
// region in the environment, and skipping the shared-config, SSO, STS and
// IMDS providers keeps both the binary and the cold start small.
// BucketOpener opens the audit witness and archive on cfg.WitnessBucket.
type BucketOpener func(ac aws.Config, cfg Config) (digest.Witness, archive.Bucket, error)

// Buckets is set by the main of the functions given VSECURE_WITNESS_BUCKET
// (audit-digest, audit-verify) to s3witness.Open, before they serve: the
// S3 client it links is ≈ 0.8 MB, kept out of every other bootstrap.
var Buckets BucketOpener

// Extra store options (tests, the emulator deploy) come after the config's.
func Open(cfg Config, log *slog.Logger, extra ...dynamo.Option) (*Function, error) {
	return open(cfg, log, nil, extra...)
}

func open(cfg Config, log *slog.Logger, ext []Extension, extra ...dynamo.Option) (*Function, error) {
	ac := aws.Config{
		Region:      cfg.Region,
		Credentials: credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken),
	}
	db := dynamodb.NewFromConfig(ac, dynamo.ClientOptions, func(o *dynamodb.Options) {
		if cfg.DynamoDBEndpoint != "" {
			o.BaseEndpoint = aws.String(cfg.DynamoDBEndpoint)
		}
	})
	kc := awskms.NewFromConfig(ac, func(o *awskms.Options) {
		o.RetryMaxAttempts = 3
		if cfg.KMSEndpoint != "" {
			o.BaseEndpoint = aws.String(cfg.KMSEndpoint)
		}
	})
	var opts []dynamo.Option
	deps := Deps{Extensions: ext}
	if cfg.AuditMACKeyID != "" {
		mk, err := kms.NewMACKeys(kc, cfg.AuditMACKeyID)
		if err != nil {
			return nil, err
		}
		// One chain: a container serves one request at a time.
		opts = append(opts, dynamo.WithSeal(mk, cfg.FunctionName, 1))
		// The verifier and digest step (built only where the signing key
		// is, so only in the two functions granted kms:Decrypt) open
		// epochs with the same keys.
		deps.MACKeys = mk
	}
	if cfg.AuditRetention > 0 {
		opts = append(opts, dynamo.WithAuditRetention(cfg.AuditRetention))
	}
	if it := cfg.IndexTiming; it != nil {
		opts = append(opts, dynamo.WithIndexTiming(it.Settle, it.MinEntries, it.MaxDelay))
	}
	store, err := dynamo.New(db, cfg.Table, cfg.AuditTable, append(opts, extra...)...)
	if err != nil {
		return nil, err
	}
	if cfg.CursorSecretARN != "" && len(cfg.CursorKey) == 0 {
		deps.Secrets = NewSecretsClient(cfg)
		deps.CursorKeys = NewSecretCursorKey(deps.Secrets, cfg.CursorSecretARN)
	}
	if cfg.StateMachineARN != "" {
		sc := awssfn.NewFromConfig(ac, sfnwf.NoSDKRetries, func(o *awssfn.Options) {
			if cfg.SFNEndpoint != "" {
				o.BaseEndpoint = aws.String(cfg.SFNEndpoint)
			}
		})
		wf, err := sfnwf.New(sfnwf.Config{Client: sc, StateMachineARN: cfg.StateMachineARN, Log: log})
		if err != nil {
			return nil, err
		}
		deps.Workflow = wf
	}
	var sealer vsecure.Sealer = noSealer{}
	if cfg.KMSKeyID != "" || cfg.AuditSigningKey != "" {
		if cfg.KMSKeyID != "" {
			// Warm containers reuse unwrapped data keys for five minutes: KMS
			// Decrypt is a third of an audited read's cost (docs/cost.md).
			if sealer, err = kms.New(kc, cfg.KMSKeyID, kms.WithDataKeyCache(5*time.Minute, 1024, nil)); err != nil {
				return nil, err
			}
		}
		if cfg.AuditSigningKey != "" {
			if deps.AuditSigner, err = kms.NewSigner(kc, cfg.AuditSigningKey); err != nil {
				return nil, err
			}
		}
	}
	if cfg.WitnessBucket != "" {
		if Buckets == nil {
			return nil, fmt.Errorf("lambdafn: VSECURE_WITNESS_BUCKET is set but %s was built without an S3 opener (lambdafn.Buckets = s3witness.Open in its main)", cfg.FunctionName)
		}
		if deps.Witness, deps.Archive, err = Buckets(ac, cfg); err != nil {
			return nil, err
		}
	}
	return NewWith(cfg, store, sealer, deps, log)
}
