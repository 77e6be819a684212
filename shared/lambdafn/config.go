// Package lambdafn runs the gate's HTTP API on AWS Lambda: one function per
// route of the route table behind an API Gateway HTTP API, plus the REQUEST
// authorizer in front of them. It owns what is specific to that platform —
// configuration from the function's environment, building the DynamoDB
// store and KMS sealer once per container, the payload v2 proxy adapter, the
// authorizer context that carries the caller's identity, and JSON logs that
// carry both the Lambda and the API Gateway request ids — so that every
// functions/<name>/main.go is a single call and the handlers themselves are
// the very ones the local server runs.
package lambdafn

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vsecure/vsecure/shared/oidc"
)

// Config is a function's configuration, read once from its environment.
// The names are the ones the CDK stack (infra/) sets; a function gets only
// the variables of what it may touch, so only the store's are required of
// functions that use the store.
type Config struct {
	Table      string // VSECURE_TABLE: the state table
	AuditTable string // VSECURE_AUDIT_TABLE: the append-only audit table
	PublicURL  string // VSECURE_PUBLIC_URL: base of approvalUrl links
	// KMSKeyID (VSECURE_KMS_KEY_ARN, or VSECURE_KMS_KEY_ID for the
	// emulators) is set only for functions that seal or open values.
	KMSKeyID string
	// CursorKey signs pagination cursors (VSECURE_CURSOR_KEY, base64 of ≥32
	// bytes); every paginating function of a deployment must share it.
	// The emulators and dev use it; the stack sets CursorSecretARN instead.
	CursorKey []byte
	// CursorSecretARN (VSECURE_CURSOR_SECRET_ARN) is the Secrets Manager
	// secret holding the cursor key, read on the first paginated call and
	// kept for the container's life.
	CursorSecretARN string
	// StateMachineARN (VSECURE_STATE_MACHINE_ARN) is the approval workflow;
	// set for the functions that start, decide or stop executions and for
	// workflow-notify. Without it the gate runs no workflow (expiry is
	// enforced at read time regardless).
	StateMachineARN string
	// AuditSigningKey (VSECURE_AUDIT_SIGNING_KEY_ARN) is the KMS asymmetric
	// key (ECC_NIST_P256, SIGN_VERIFY) of the audit digests: audit-digest
	// signs with it, audit-verify fetches its public key. Sealer and
	// verifier must name it identically: a digest records the key id.
	AuditSigningKey string
	// AuditMACKeyID (VSECURE_AUDIT_MAC_KEY_ID) is the KMS symmetric key
	// the store's audit MAC keys are generated under (GenerateDataKey
	// only; see package auditlog). Required where the store is used: an
	// unsealed entry would be one nobody can tell from a forgery.
	AuditMACKeyID string
	// FunctionName (AWS_LAMBDA_FUNCTION_NAME) names the writer of an epoch.
	FunctionName string
	// WitnessBucket (VSECURE_WITNESS_BUCKET) is the Object Lock bucket of
	// the digests' witness records: audit-digest writes, audit-verify reads.
	WitnessBucket string
	// WitnessRetentionDays (VSECURE_WITNESS_RETENTION_DAYS) is how long
	// each witness object is locked; 0 is s3lock's default.
	WitnessRetentionDays int
	// AuditRetention (VSECURE_AUDIT_RETENTION: days, "400d", or a Go
	// duration) is how long audit entries stay in the table before TTL
	// takes them; zero keeps them forever. The digest step archives
	// every sealed hour long before, and audit-verify checks entries
	// past it against the archive.
	AuditRetention time.Duration
	// IndexTiming (VSECURE_AUDIT_INDEX_TIMING: "settle,minEntries,maxDelay",
	// e.g. "0s,0,0s") overrides the audit indexer's timing
	// (dynamo.WithIndexTiming): how far behind now a pass ends, and the
	// skip rule (wait while a window holds fewer than minEntries entries
	// and its oldest is younger than maxDelay). Unset, the default: the
	// store's production values (10 s, 1000, 120 s). Only emulator runs set
	// it, to index what they just wrote: a settle shorter than the audit
	// put budget (5 s) could end a pass before an entry still being put.
	IndexTiming *IndexTiming
	// ArchiveRetentionDays (VSECURE_ARCHIVE_RETENTION_DAYS) is how long
	// each archive object is locked; 0 is s3lock's default (7 years).
	ArchiveRetentionDays int

	// RequestLog (VSECURE_REQUEST_LOG) is "all" (a line per HTTP request)
	// or "errors" (only 5xx answers and slow requests:
	// httpapi.API.QuietRequests). Unset: "errors" when VSECURE_ENV is
	// prod, where the access log has every request, else "all".
	RequestLog string

	// OIDC (VSECURE_OIDC_*, package oidc) makes the authorizer and the
	// endpoints accept people's JWTs from that issuer; nil: none.
	OIDC *oidc.Config

	// Set by the Lambda runtime.
	Region          string // AWS_REGION
	AccessKeyID     string // AWS_ACCESS_KEY_ID
	SecretAccessKey string // AWS_SECRET_ACCESS_KEY
	SessionToken    string // AWS_SESSION_TOKEN (optional)
	LogLevel        string // AWS_LAMBDA_LOG_LEVEL (optional: DEBUG, INFO, WARN, ERROR)

	// Endpoint overrides for emulators (optional; the SDK's own names).
	DynamoDBEndpoint string // AWS_ENDPOINT_URL_DYNAMODB
	KMSEndpoint      string // AWS_ENDPOINT_URL_KMS
	SFNEndpoint      string // AWS_ENDPOINT_URL_SFN
	SecretsEndpoint  string // AWS_ENDPOINT_URL_SECRETS_MANAGER
}

// ConfigFromEnv reads and validates the configuration of a function that
// uses the store. The error names every missing or invalid variable, so a
// misconfigured function fails its init with a message that says what to
// fix.
func ConfigFromEnv(getenv func(string) string) (Config, error) { return configFromEnv(getenv, true) }

// optionalWithoutAudit are the store variables a function that writes no
// audit entry (the audit indexer) goes without: the stack gives it no MAC
// key, so its store seals nothing.
var optionalWithoutAudit = []string{"VSECURE_AUDIT_MAC_KEY_ID"}

// configFromEnv reads the configuration; store says whether the store's
// variables are required, except those named in optional.
func configFromEnv(getenv func(string) string, store bool, optional ...string) (Config, error) {
	var missing []string
	req := func(name string) string {
		v := strings.TrimSpace(getenv(name))
		if v == "" && store && !slices.Contains(optional, name) {
			missing = append(missing, name)
		}
		return v
	}
	c := Config{
		Table:            req("VSECURE_TABLE"),
		AuditTable:       req("VSECURE_AUDIT_TABLE"),
		PublicURL:        req("VSECURE_PUBLIC_URL"),
		Region:           req("AWS_REGION"),
		AccessKeyID:      req("AWS_ACCESS_KEY_ID"),
		SecretAccessKey:  req("AWS_SECRET_ACCESS_KEY"),
		KMSKeyID:         strings.TrimSpace(getenv("VSECURE_KMS_KEY_ARN")),
		AuditSigningKey:  strings.TrimSpace(getenv("VSECURE_AUDIT_SIGNING_KEY_ARN")),
		AuditMACKeyID:    req("VSECURE_AUDIT_MAC_KEY_ID"),
		FunctionName:     getenv("AWS_LAMBDA_FUNCTION_NAME"),
		SessionToken:     getenv("AWS_SESSION_TOKEN"),
		LogLevel:         getenv("AWS_LAMBDA_LOG_LEVEL"),
		DynamoDBEndpoint: getenv("AWS_ENDPOINT_URL_DYNAMODB"),
		KMSEndpoint:      getenv("AWS_ENDPOINT_URL_KMS"),
		SFNEndpoint:      getenv("AWS_ENDPOINT_URL_SFN"),
		SecretsEndpoint:  getenv("AWS_ENDPOINT_URL_SECRETS_MANAGER"),
		CursorSecretARN:  strings.TrimSpace(getenv("VSECURE_CURSOR_SECRET_ARN")),
		StateMachineARN:  strings.TrimSpace(getenv("VSECURE_STATE_MACHINE_ARN")),
		WitnessBucket:    strings.TrimSpace(getenv("VSECURE_WITNESS_BUCKET")),
		RequestLog:       strings.TrimSpace(getenv("VSECURE_REQUEST_LOG")),
	}
	if c.RequestLog == "" && strings.TrimSpace(getenv("VSECURE_ENV")) == "prod" {
		c.RequestLog = "errors"
	}
	if c.KMSKeyID == "" {
		c.KMSKeyID = strings.TrimSpace(getenv("VSECURE_KMS_KEY_ID"))
	}
	var errs []error
	if o, err := oidc.ConfigFromEnv(getenv); err != nil {
		errs = append(errs, err)
	} else {
		c.OIDC = o
	}
	if d := strings.TrimSpace(getenv("VSECURE_WITNESS_RETENTION_DAYS")); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("VSECURE_WITNESS_RETENTION_DAYS %q is not a positive number of days", d))
		}
		c.WitnessRetentionDays = n
	}
	if d := strings.TrimSpace(getenv("VSECURE_ARCHIVE_RETENTION_DAYS")); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("VSECURE_ARCHIVE_RETENTION_DAYS %q is not a positive number of days", d))
		}
		c.ArchiveRetentionDays = n
	}
	if d := strings.TrimSpace(getenv("VSECURE_AUDIT_RETENTION")); d != "" {
		r, err := ParseRetention(d)
		if err != nil {
			errs = append(errs, fmt.Errorf("VSECURE_AUDIT_RETENTION: %w", err))
		}
		c.AuditRetention = r
	}
	if v := strings.TrimSpace(getenv("VSECURE_AUDIT_INDEX_TIMING")); v != "" {
		it, err := parseIndexTiming(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("VSECURE_AUDIT_INDEX_TIMING: %w", err))
		}
		c.IndexTiming = it
	}
	if c.RequestLog != "" && c.RequestLog != "all" && c.RequestLog != "errors" {
		errs = append(errs, fmt.Errorf("VSECURE_REQUEST_LOG %q is neither all nor errors", c.RequestLog))
	}
	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("missing required environment variable(s): %s", strings.Join(missing, ", ")))
	}
	if cursor := strings.TrimSpace(getenv("VSECURE_CURSOR_KEY")); cursor != "" {
		k, err := base64.StdEncoding.DecodeString(cursor)
		if err != nil || len(k) < 32 {
			// The value is a secret: never echo it.
			errs = append(errs, errors.New("VSECURE_CURSOR_KEY must be the base64 of at least 32 bytes"))
		}
		c.CursorKey = k
	}
	if c.CursorSecretARN != "" && !strings.HasPrefix(c.CursorSecretARN, "arn:") {
		errs = append(errs, fmt.Errorf("VSECURE_CURSOR_SECRET_ARN %q is not an ARN", c.CursorSecretARN))
	}
	if c.StateMachineARN != "" && !strings.Contains(c.StateMachineARN, ":stateMachine:") {
		errs = append(errs, fmt.Errorf("VSECURE_STATE_MACHINE_ARN %q is not a state machine ARN", c.StateMachineARN))
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, fmt.Errorf("lambdafn: %w", err)
	}
	return c, nil
}

// IndexTiming is the audit indexer's timing (Config.IndexTiming).
type IndexTiming struct {
	Settle     time.Duration
	MinEntries int
	MaxDelay   time.Duration
}

// parseIndexTiming reads "settle,minEntries,maxDelay" ("0s,0,0s").
func parseIndexTiming(s string) (*IndexTiming, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%q is not settle,minEntries,maxDelay (e.g. 0s,0,0s)", s)
	}
	settle, err1 := time.ParseDuration(strings.TrimSpace(parts[0]))
	min, err2 := strconv.Atoi(strings.TrimSpace(parts[1]))
	delay, err3 := time.ParseDuration(strings.TrimSpace(parts[2]))
	if err1 != nil || err2 != nil || err3 != nil || settle < 0 || min < 0 || delay < 0 {
		return nil, fmt.Errorf("%q is not settle,minEntries,maxDelay with durations and a count ≥ 0 (e.g. 0s,0,0s)", s)
	}
	return &IndexTiming{Settle: settle, MinEntries: min, MaxDelay: delay}, nil
}

// ParseRetention reads a retention: a number of days ("400"), days with a
// d ("400d"), or a Go duration ("9600h"). It must be positive.
func ParseRetention(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	days := strings.TrimSuffix(s, "d")
	if n, err := strconv.Atoi(days); err == nil {
		if n < 1 {
			return 0, fmt.Errorf("%q is not a positive retention", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a positive retention (days, 400d, or a duration like 9600h)", s)
	}
	return d, nil
}
