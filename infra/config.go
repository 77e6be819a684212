package main

import (
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"strconv"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"
)

// Config is everything that varies between deployments, parsed and
// validated once from CDK context.
type Config struct {
	// Env is "dev" or "prod". prod retains data on stack deletion and turns
	// on deletion protection; dev tears down cleanly.
	Env string
	// SlackChannel is the channel approval requests are posted to.
	SlackChannel string
	// AlarmEmail, if set, is subscribed to the alarm topic.
	AlarmEmail string
	// AuthCacheSeconds is how long API Gateway caches an authorizer
	// decision per credential (0..3600). See README "Authorizer cache".
	AuthCacheSeconds int
	// WitnessRetentionDays is how long each audit witness object stays
	// locked in COMPLIANCE mode (context witnessRetentionDays; default 400
	// in prod, 1 in dev; 0 means the default). It cannot be shortened
	// once written.
	WitnessRetentionDays int
	// AuditRetentionDays is how long audit entries stay in the audit
	// table before TTL removes them (context auditRetentionDays; default
	// 400; 0 means the default). Every sealed hour is archived first.
	AuditRetentionDays int
	// ArchiveRetentionDays is how long each audit archive object stays
	// locked in COMPLIANCE mode (context archiveRetentionDays; default
	// 2557 — seven years — in prod, 1 in dev; 0 means the default).
	ArchiveRetentionDays int
	// Tracing turns on X-Ray active tracing of the functions (context
	// tracing=true|false; the approval workflow is always traced: a few
	// traces per approval, and cdk-nag's AwsSolutions-SF2). Nil means the env's
	// default: on in dev, off in prod, where sampled traces would cost
	// ≈ $0.25 per million reads (docs/cost.md) and the request id in the
	// logs and access log already ties a request together.
	Tracing *bool
	// OIDC is where people sign in (oidc.go); the zero value: nowhere.
	OIDC OIDCConfig
	// Code returns the deployment package of a function.
	Code func(function string) (awslambda.Code, error)
	// Account and Region pin the stack when the CLI knows them; empty
	// synthesizes an environment-agnostic template.
	Account, Region string
}

// Prod reports whether this is the production deployment.
func (c Config) Prod() bool { return c.Env == "prod" }

func contextString(app awscdk.App, key, def string) string {
	v := app.Node().TryGetContext(jsii.String(key))
	if v == nil {
		return def
	}
	return fmt.Sprint(v)
}

// configFromContext reads the stack's context values; a bad value fails
// synth with a message naming it.
func configFromContext(app awscdk.App) (Config, error) {
	cfg := Config{
		Env:          contextString(app, "env", "dev"),
		SlackChannel: contextString(app, "slackChannel", ""),
		AlarmEmail:   contextString(app, "alarmEmail", ""),
		Account:      os.Getenv("CDK_DEFAULT_ACCOUNT"),
		Region:       os.Getenv("CDK_DEFAULT_REGION"),
	}
	n, err := strconv.Atoi(contextString(app, "authCacheSeconds", strconv.Itoa(defaultAuthCacheSeconds)))
	if err != nil {
		return cfg, fmt.Errorf("context authCacheSeconds: %w", err)
	}
	cfg.AuthCacheSeconds = n
	if cfg.WitnessRetentionDays, err = strconv.Atoi(contextString(app, "witnessRetentionDays", "0")); err != nil {
		return cfg, fmt.Errorf("context witnessRetentionDays: %w", err)
	}
	if cfg.AuditRetentionDays, err = strconv.Atoi(contextString(app, "auditRetentionDays", "0")); err != nil {
		return cfg, fmt.Errorf("context auditRetentionDays: %w", err)
	}
	if cfg.ArchiveRetentionDays, err = strconv.Atoi(contextString(app, "archiveRetentionDays", "0")); err != nil {
		return cfg, fmt.Errorf("context archiveRetentionDays: %w", err)
	}
	if t := contextString(app, "tracing", ""); t != "" {
		on, err := strconv.ParseBool(t)
		if err != nil {
			return cfg, fmt.Errorf("context tracing must be true or false, not %q", t)
		}
		cfg.Tracing = &on
	}
	if cfg.OIDC, err = oidcFromContext(func(k, def string) string { return contextString(app, k, def) }); err != nil {
		return cfg, err
	}
	code, err := assetCode(
		contextString(app, "buildDir", "build"),
		contextString(app, "placeholderCode", "") == "missing",
	)
	if err != nil {
		return cfg, err
	}
	cfg.Code = code
	return cfg, cfg.validate()
}

// witnessRetentionDays is WitnessRetentionDays or the env's default.
func (c Config) witnessRetentionDays() int {
	switch {
	case c.WitnessRetentionDays > 0:
		return c.WitnessRetentionDays
	case c.Prod():
		return defaultWitnessRetentionDaysProd
	}
	return defaultWitnessRetentionDaysDev
}

// auditRetentionDays is AuditRetentionDays or the default.
func (c Config) auditRetentionDays() int {
	if c.AuditRetentionDays > 0 {
		return c.AuditRetentionDays
	}
	return defaultAuditRetentionDays
}

// archiveRetentionDays is ArchiveRetentionDays or the env's default.
func (c Config) archiveRetentionDays() int {
	switch {
	case c.ArchiveRetentionDays > 0:
		return c.ArchiveRetentionDays
	case c.Prod():
		return defaultArchiveRetentionDaysProd
	}
	return defaultArchiveRetentionDaysDev
}

// tracing reports whether X-Ray active tracing is on: Tracing, or on in
// dev and off in prod.
func (c Config) tracing() bool {
	if c.Tracing != nil {
		return *c.Tracing
	}
	return !c.Prod()
}

// defaultAuthCacheSeconds bounds how long a revoked key keeps working at
// the gateway (README "Authorizer cache").
const defaultAuthCacheSeconds = 30

func (c Config) validate() error {
	if c.Env != "dev" && c.Env != "prod" {
		return fmt.Errorf("context env must be dev or prod, not %q", c.Env)
	}
	if c.AuthCacheSeconds < 0 || c.AuthCacheSeconds > 3600 {
		return fmt.Errorf("context authCacheSeconds must be within 0..3600, not %d", c.AuthCacheSeconds)
	}
	if c.WitnessRetentionDays < 0 || c.WitnessRetentionDays > 36500 {
		return fmt.Errorf("context witnessRetentionDays must be within 1..36500, not %d", c.WitnessRetentionDays)
	}
	if c.AuditRetentionDays < 0 || c.AuditRetentionDays > 36500 {
		return fmt.Errorf("context auditRetentionDays must be within 1..36500, not %d", c.AuditRetentionDays)
	}
	if c.ArchiveRetentionDays < 0 || c.ArchiveRetentionDays > 36500 {
		return fmt.Errorf("context archiveRetentionDays must be within 1..36500, not %d", c.ArchiveRetentionDays)
	}
	if c.AlarmEmail != "" {
		if _, err := mail.ParseAddress(c.AlarmEmail); err != nil {
			return fmt.Errorf("context alarmEmail %q: %w", c.AlarmEmail, err)
		}
	}
	if err := c.OIDC.validate(); err != nil {
		return err
	}
	if c.Code == nil {
		return fmt.Errorf("no function code source")
	}
	return nil
}

// placeholderDir holds a bootstrap that only says it is a placeholder, for
// synth and tests where `make build` has not run. Like buildDir it is
// relative to the repository root, where cdk.json runs the app.
const placeholderDir = "infra/testdata/placeholder"

// assetCode serves build/<function>/ (written by `make build`). With
// placeholder set, a function whose build directory is missing gets the
// placeholder instead, so synth and tests do not need a cross-compile;
// deploy never sets it.
func assetCode(buildDir string, placeholder bool) (func(string) (awslambda.Code, error), error) {
	abs, err := filepath.Abs(buildDir)
	if err != nil {
		return nil, err
	}
	ph, err := filepath.Abs(placeholderDir)
	if err != nil {
		return nil, err
	}
	return func(fn string) (awslambda.Code, error) {
		dir := filepath.Join(abs, fn)
		if _, err := os.Stat(filepath.Join(dir, "bootstrap")); err != nil {
			if !placeholder {
				return nil, fmt.Errorf("function %s: %s/bootstrap is missing: run `make build` (or synth with -c placeholderCode=missing)", fn, dir)
			}
			dir = ph
		}
		return awslambda.Code_FromAsset(jsii.String(dir), nil), nil
	}, nil
}
