package slackfn

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/vsecure/vsecure/shared/app"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/lambdafn"
	"github.com/vsecure/vsecure/shared/slack"
	"github.com/vsecure/vsecure/shared/vsecure"
	"github.com/vsecure/vsecure/shared/workflow"
)

// InstallNotifier makes a function announce approvals in Slack (a
// lambdafn.Extension): the Notify task posts the message; the Expire and
// Revoke tasks, the reconciler and the functions that decide or revoke
// (respond, revoke) rewrite it through the one closing announcer that
// app.Assemble installs. Credentials come from the Slack secret on first
// use, as for the webhook. With neither a secret nor a bot token configured
// the notices are logged.
func InstallNotifier(b *lambdafn.Build, p *app.Parts) {
	env, err := slack.ConfigFromEnv(os.Getenv)
	if err != nil {
		b.Log.Error("init failed", "err", fmt.Errorf("slackfn: %w", err))
		os.Exit(1)
	}
	arn := strings.TrimSpace(os.Getenv(EnvSecretARN))
	if arn == "" && env.BotToken == "" {
		return
	}
	cfg := Config{SecretARN: arn, Env: env}
	var sm lambdafn.SecretReader
	if arn != "" {
		sm = b.Secrets()
	}
	p.Notifier = func(g *gate.Gate) workflow.Notifier { return NewNotifier(g, b.Log, cfg, sm) }
}

// Notifier is a slack.Notifier built on first use from the lazily read
// credentials. If they cannot be read the notice is logged instead and the
// task goes on: the approval stands whatever happens to its announcement.
type Notifier struct {
	gate   *gate.Gate
	log    *slog.Logger
	cfg    Config
	secret *lambdafn.Secret[slackCredentials]

	mu sync.Mutex
	n  *slack.Notifier
}

var _ workflow.Notifier = (*Notifier)(nil)

// NewNotifier returns the lazy notifier; secrets may be nil when cfg has
// no ARN.
func NewNotifier(g *gate.Gate, log *slog.Logger, cfg Config, secrets lambdafn.SecretReader) *Notifier {
	return &Notifier{gate: g, log: log, cfg: cfg, secret: credentialsSecret(cfg, secrets)}
}

func (n *Notifier) get(ctx context.Context) workflow.Notifier {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.n != nil {
		return n.n
	}
	sc := n.cfg.Env
	if n.secret != nil {
		c, err := n.secret.Get(ctx)
		if err != nil {
			n.log.WarnContext(ctx, "slack: credentials unavailable; logging the notice", "err", err)
			return workflow.LogNotifier{Log: n.log, URL: n.gate.ApprovalURL}
		}
		sc.BotToken = c.BotToken
	}
	n.n = slack.NewNotifier(slack.NotifierConfig{Slack: sc, URL: n.gate.ApprovalURL, Store: n.gate.Store(), Log: n.log})
	return n.n
}

// Requested implements workflow.Notifier.
func (n *Notifier) Requested(ctx context.Context, a vsecure.Approval) (map[string]string, error) {
	return n.get(ctx).Requested(ctx, a)
}

// Closed implements workflow.Notifier.
func (n *Notifier) Closed(ctx context.Context, a vsecure.Approval) error {
	return n.get(ctx).Closed(ctx, a)
}
