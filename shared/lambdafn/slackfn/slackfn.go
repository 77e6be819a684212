// Package slackfn runs Slack's interactivity webhook (package slack) as the
// slack-interactions Lambda function, and the Slack notifier of the
// functions that announce approvals. It lives apart from lambdafn so that
// slack-go is linked only into the binaries whose main names it.
//
// The app's bot token and signing secret are in the Secrets Manager secret
// VSECURE_SLACK_SECRET_ARN names ({"botToken":"…","signingSecret":"…"},
// optionally "teamId"). They are read on the first request, not at init (a
// cold start makes no network call before it has to), and kept for the
// container's life; a failed read is not kept, so the next press retries.
// Without an ARN the emulators and dev take them from the environment
// (slack.ConfigFromEnv). Replays are remembered in the store, because
// presses land on many containers, and follow-ups run before the
// acknowledgement, because a Lambda is frozen once it has answered.
package slackfn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/app"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/httpapi"
	"github.com/vsecure/vsecure/shared/lambdafn"
	"github.com/vsecure/vsecure/shared/slack"
	"github.com/vsecure/vsecure/shared/vsecure"
	"github.com/vsecure/vsecure/shared/workflow"
)

// Function is the route table's name for the webhook.
const Function = "slack-interactions"

// EnvSecretARN names the Secrets Manager secret with the Slack credentials.
const EnvSecretARN = "VSECURE_SLACK_SECRET_ARN"

// Config is the function's Slack configuration from its environment.
type Config struct {
	// SecretARN, when set, is where the credentials are; Slack's other
	// settings (channel, API URL, team) still come from Env.
	SecretARN string
	// Env is slack.ConfigFromEnv: the credentials themselves only where
	// there is no secret (emulators, dev).
	Env slack.Config
}

// ConfigFromEnv reads and validates the configuration.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	env, err := slack.ConfigFromEnv(getenv)
	c := Config{SecretARN: strings.TrimSpace(getenv(EnvSecretARN)), Env: env}
	if err != nil {
		return c, fmt.Errorf("slackfn: %w", err)
	}
	switch {
	case c.SecretARN != "" && !strings.HasPrefix(c.SecretARN, "arn:"):
		return c, fmt.Errorf("slackfn: %s %q is not an ARN", EnvSecretARN, c.SecretARN)
	case c.SecretARN == "" && env.SigningSecret == "":
		return c, fmt.Errorf("slackfn: missing required environment variable %s (or %s where there is no secret)", EnvSecretARN, slack.EnvSigningSecret)
	}
	return c, nil
}

// Install serves the webhook (a lambdafn.Extension).
func Install(b *lambdafn.Build, p *app.Parts) {
	cfg, err := ConfigFromEnv(os.Getenv)
	if err != nil {
		b.Log.Error("init failed", "err", err)
		os.Exit(1)
	}
	var sm lambdafn.SecretReader
	if cfg.SecretARN != "" {
		sm = b.Secrets()
	}
	p.Slack = func(g *gate.Gate, _ workflow.Notifier) (http.Handler, error) { return New(g, b.Log, cfg, sm), nil }
}

// Handler builds the Slack handler on the first request and serves every
// request with it.
type Handler struct {
	gate   *gate.Gate
	log    *slog.Logger
	cfg    Config
	secret *lambdafn.Secret[slackCredentials]

	mu sync.Mutex
	h  *slack.Handler
}

// New returns the lazy handler; secrets may be nil when cfg has no ARN.
func New(g *gate.Gate, log *slog.Logger, cfg Config, secrets lambdafn.SecretReader) *Handler {
	return &Handler{gate: g, log: log, cfg: cfg, secret: credentialsSecret(cfg, secrets)}
}

// ServeHTTP implements http.Handler. Without credentials it answers 503
// (Slack retries) and logs why, never what the secret holds.
func (l *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, err := l.handler(r.Context())
	if err != nil {
		l.log.ErrorContext(r.Context(), "slack: credentials unavailable", "requestId", httpapi.CallFrom(r.Context()).RequestID, "err", err)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(api.StatusOf(vsecure.EUnavailable))
		_ = json.NewEncoder(w).Encode(api.ErrorBody{Error: api.ErrorDetail{Code: vsecure.EUnavailable,
			Message: "Slack is not configured on this deployment", RequestID: httpapi.CallFrom(r.Context()).RequestID}})
		return
	}
	h.ServeHTTP(w, r)
}

func (l *Handler) handler(ctx context.Context) (*slack.Handler, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.h != nil {
		return l.h, nil
	}
	sc := l.cfg.Env
	if l.secret != nil {
		creds, err := l.secret.Get(ctx)
		if err != nil {
			return nil, err
		}
		sc.BotToken, sc.SigningSecret = creds.BotToken, creds.SigningSecret
		if creds.TeamID != "" {
			sc.TeamID = creds.TeamID
		}
		if err := sc.Validate(); err != nil {
			return nil, fmt.Errorf("the Slack secret: %w", err)
		}
	}
	g := l.gate
	v, err := slack.NewVerifier(sc.SigningSecret, g.Store(), nil)
	if err != nil {
		return nil, err
	}
	h, err := slack.NewHandler(slack.HandlerConfig{
		Slack: sc, Decider: g, Verifier: v, Log: l.log,
		Notifier:   slack.NewNotifier(slack.NotifierConfig{Slack: sc, URL: g.ApprovalURL, Store: g.Store(), Log: l.log}),
		Background: false, // frozen after the answer: follow up first, inside Slack's 3 s
	})
	if err != nil {
		return nil, err
	}
	l.h = h
	return h, nil
}

// slackCredentials is the secret's JSON (the stack's template adds other keys).
type slackCredentials struct {
	BotToken      string `json:"botToken"`
	SigningSecret string `json:"signingSecret"`
	TeamID        string `json:"teamId"`
}

// credentialsSecret is the Slack secret of cfg; nil without an ARN.
func credentialsSecret(cfg Config, client lambdafn.SecretReader) *lambdafn.Secret[slackCredentials] {
	if cfg.SecretARN == "" {
		return nil
	}
	return &lambdafn.Secret[slackCredentials]{Client: client, ARN: cfg.SecretARN, Name: "the Slack secret", Parse: func(v []byte) (slackCredentials, error) {
		var c slackCredentials
		if json.Unmarshal(v, &c) != nil {
			// Never echo the value: say only what is wrong with it.
			return c, errors.New("the Slack secret is not a JSON object with botToken and signingSecret")
		}
		if c.SigningSecret == "" {
			return c, errors.New("the Slack secret has no signingSecret yet (fill it as the README says)")
		}
		return c, nil
	}}
}
