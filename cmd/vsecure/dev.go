package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/vsecure/vsecure/shared/devserver"
	"github.com/vsecure/vsecure/shared/oidc"
	"github.com/vsecure/vsecure/shared/slack"
)

// devEnv is the --help environment paragraph of `vsecure dev`.
const devEnv = "Environment: VSECURE_ADMIN_KEY, VSECURE_MASTER_KEY, VSECURE_PUBLIC_URL, VSECURE_LOG_LEVEL, VSECURE_RATE_LIMIT,\n" +
	"  VSECURE_SLACK_BOT_TOKEN, VSECURE_SLACK_SIGNING_SECRET, VSECURE_SLACK_CHANNEL, VSECURE_SLACK_API_URL, VSECURE_SLACK_TEAM_ID,\n" +
	"  VSECURE_OIDC_ISSUER, VSECURE_OIDC_CLIENT_ID, VSECURE_OIDC_CLIENT_SECRET, VSECURE_OIDC_PRINCIPAL_CLAIM, VSECURE_OIDC_GROUPS_CLAIM,\n" +
	"  VSECURE_OIDC_ROLE_MAP, VSECURE_OIDC_AUDIENCES, VSECURE_OIDC_SCOPES, VSECURE_OIDC_REDIRECT_URL, VSECURE_OIDC_COOKIE_KEY;\n" +
	"  with --store dynamodb: VSECURE_TABLE, VSECURE_AUDIT_TABLE, VSECURE_CREATE_TABLES, VSECURE_KMS_KEY_ID, VSECURE_AUDIT_MAC_KEY_ID"

func setupDev(fs *flag.FlagSet, env func(string) string, std stdio) action {
	addr := fs.String("addr", orDefault(env("VSECURE_ADDR"), "127.0.0.1:8080"), "listen address (env VSECURE_ADDR)")
	data := fs.String("data", orDefault(env("VSECURE_DATA_DIR"), ".vsecure"), "data directory (env VSECURE_DATA_DIR)")
	keys := fs.String("keys", env("VSECURE_KEYS_DIR"), "keys directory: audit signing and MAC keys, witness file; keep it off the data dir's disk or backups (env VSECURE_KEYS_DIR; default <data>-keys)")
	storeKind := fs.String("store", orDefault(env("VSECURE_STORE"), "embedded"), "embedded or dynamodb (env VSECURE_STORE; see backends.go for its env)")
	issuer := fs.String("oidc-issuer", env(oidc.EnvIssuer), "OpenID Connect issuer whose JWTs the API accepts (env "+oidc.EnvIssuer+"; see VSECURE_OIDC_*)")
	return func(ctx context.Context, _ []string) int {
		if *storeKind == "dynamodb" && !awsBuilt {
			return runCompanion(ctx, "dev", std)
		}
		// The flag wins over the environment; the rest of the OIDC
		// configuration is read from the environment alongside it.
		env := func(k string) string {
			if k == oidc.EnvIssuer {
				return *issuer
			}
			return env(k)
		}
		return serveDev(ctx, addr, data, keys, storeKind, env, std)
	}
}

// runDev is `vsecure dev args...`.
func runDev(ctx context.Context, args []string, env func(string) string, std stdio) int {
	return commandTable()["dev"].run(ctx, args, env, std)
}

// serveDev runs the server with the parsed flags' values.
func serveDev(ctx context.Context, addr, data, keys, storeKind *string, env func(string) string, std stdio) int {
	stdout, stderr := std.Out, std.Err
	rate, err := parseRate(env("VSECURE_RATE_LIMIT"))
	if err != nil {
		fmt.Fprintf(stderr, "vsecure dev: %v\n", err)
		return 2
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: logLevel(env("VSECURE_LOG_LEVEL"))}))
	if *keys == "" {
		*keys = devserver.DefaultKeysDir(*data)
	}
	b, err := backends(ctx, *storeKind, *keys, env)
	if err != nil {
		fmt.Fprintf(stderr, "vsecure dev: %v\n", err)
		return 1
	}
	slackCfg, err := slack.ConfigFromEnv(env)
	if err != nil {
		fmt.Fprintf(stderr, "vsecure dev: %v\n", err)
		return 2
	}
	oidcCfg, err := oidc.ConfigFromEnv(env)
	if err != nil {
		fmt.Fprintf(stderr, "vsecure dev: %v\n", err)
		return 2
	}
	srv, err := devserver.New(ctx, devserver.Config{
		Addr: *addr, DataDir: *data, KeysDir: *keys, AdminKey: env("VSECURE_ADMIN_KEY"),
		PublicURL: env("VSECURE_PUBLIC_URL"), MasterKey: env("VSECURE_MASTER_KEY"), Logger: logger, RateLimit: rate,
		Store: b.store, Sealer: b.sealer, MACKeys: b.macKeys, AuditIndexer: b.indexer, Slack: slackCfg,
		OIDC: oidcCfg,
	})
	if err != nil {
		fmt.Fprintf(stderr, "vsecure dev: %v\n", err)
		return 1
	}
	// One write, so whoever reads the output sees the banner whole.
	banner := fmt.Sprintf("vsecure dev listening on %s (data in %s, keys in %s)\n", srv.URL(), *data, *keys)
	if k := srv.GeneratedAdminKey; k != "" {
		banner += fmt.Sprintf(`
A new admin API key was generated. It is shown only this once:

  export VSECURE_API_URL=%s
  export VSECURE_API_KEY=%s

Quickstart:
  curl -s -H "Authorization: Bearer $VSECURE_API_KEY" $VSECURE_API_URL/v1/security/mcp/resources

`, srv.URL(), k)
	}
	fmt.Fprint(stdout, banner)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve() }()
	select {
	case err := <-errc:
		if err != nil {
			fmt.Fprintf(stderr, "vsecure dev: %v\n", err)
			srv.Close()
			return 1
		}
	case <-ctx.Done():
		fmt.Fprintln(stdout, "shutting down")
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		fmt.Fprintf(stderr, "vsecure dev: shutdown: %v\n", err)
		return 1
	}
	return 0
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func logLevel(s string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo
	}
	return l
}

// parseRate reads VSECURE_RATE_LIMIT: requests per second per principal,
// "off" to disable, empty for the default.
func parseRate(s string) (float64, error) {
	switch s {
	case "":
		return 0, nil
	case "off":
		return -1, nil
	}
	r, err := strconv.ParseFloat(s, 64)
	if err != nil || r <= 0 {
		return 0, fmt.Errorf("VSECURE_RATE_LIMIT must be a positive number of requests per second or \"off\"")
	}
	return r, nil
}
