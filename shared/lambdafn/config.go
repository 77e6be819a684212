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
	"strings"
)

// Config is a function's configuration, read once from its environment.
type Config struct {
	Table      string // VSECURE_TABLE: the state table
	AuditTable string // VSECURE_AUDIT_TABLE: the append-only audit table
	KMSKeyID   string // VSECURE_KMS_KEY_ID: id, ARN or alias of the KMS key
	// CursorKey signs pagination cursors (VSECURE_CURSOR_KEY, base64 of ≥32
	// bytes). Every function of one deployment must share it.
	CursorKey []byte
	PublicURL string // VSECURE_PUBLIC_URL: base of approvalUrl links

	// Set by the Lambda runtime.
	Region          string // AWS_REGION
	AccessKeyID     string // AWS_ACCESS_KEY_ID
	SecretAccessKey string // AWS_SECRET_ACCESS_KEY
	SessionToken    string // AWS_SESSION_TOKEN (optional)
	LogLevel        string // AWS_LAMBDA_LOG_LEVEL (optional: DEBUG, INFO, WARN, ERROR)

	// Endpoint overrides for emulators (optional; the SDK's own names).
	DynamoDBEndpoint string // AWS_ENDPOINT_URL_DYNAMODB
	KMSEndpoint      string // AWS_ENDPOINT_URL_KMS
}

// ConfigFromEnv reads and validates the configuration. The error names every
// missing or invalid variable, so a misconfigured function fails its init
// with a message that says what to fix.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	var missing []string
	req := func(name string) string {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			missing = append(missing, name)
		}
		return v
	}
	c := Config{
		Table:            req("VSECURE_TABLE"),
		AuditTable:       req("VSECURE_AUDIT_TABLE"),
		KMSKeyID:         req("VSECURE_KMS_KEY_ID"),
		PublicURL:        req("VSECURE_PUBLIC_URL"),
		Region:           req("AWS_REGION"),
		AccessKeyID:      req("AWS_ACCESS_KEY_ID"),
		SecretAccessKey:  req("AWS_SECRET_ACCESS_KEY"),
		SessionToken:     getenv("AWS_SESSION_TOKEN"),
		LogLevel:         getenv("AWS_LAMBDA_LOG_LEVEL"),
		DynamoDBEndpoint: getenv("AWS_ENDPOINT_URL_DYNAMODB"),
		KMSEndpoint:      getenv("AWS_ENDPOINT_URL_KMS"),
	}
	cursor := req("VSECURE_CURSOR_KEY")
	var errs []error
	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("missing required environment variable(s): %s", strings.Join(missing, ", ")))
	}
	if cursor != "" {
		k, err := base64.StdEncoding.DecodeString(cursor)
		if err != nil || len(k) < 32 {
			// The value is a secret: never echo it.
			errs = append(errs, errors.New("VSECURE_CURSOR_KEY must be the base64 of at least 32 bytes"))
		}
		c.CursorKey = k
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, fmt.Errorf("lambdafn: %w", err)
	}
	return c, nil
}
