package slackfn

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/lambdafn"
	"github.com/vsecure/vsecure/shared/slack"
	"github.com/vsecure/vsecure/shared/vsecure"
	"github.com/vsecure/vsecure/shared/workflow"
)

// InstallNotifier makes the workflow task functions announce approvals in
// Slack (lambdafn.ServeTaskWith's extension): the Notify task posts the
// message, Expire and Revoke rewrite it. Credentials come from the Slack
// secret on first use, as for the webhook. With neither a secret nor a bot
// token configured the tasks keep logging their notices.
func InstallNotifier(f *lambdafn.Function) {
	env, err := slack.ConfigFromEnv(os.Getenv)
	if err != nil {
		f.Log.Error("init failed", "err", fmt.Errorf("slackfn: %w", err))
		os.Exit(1)
	}
	arn := strings.TrimSpace(os.Getenv(EnvSecretARN))
	if arn == "" && env.BotToken == "" {
		return
	}
	cfg := Config{SecretARN: arn, Env: env, SecretsEndpoint: os.Getenv("AWS_ENDPOINT_URL_SECRETS_MANAGER")}
	var sm SecretReader
	if arn != "" {
		c := f.Config
		sm = secretsmanager.NewFromConfig(aws.Config{
			Region:      c.Region,
			Credentials: credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken),
		}, func(o *secretsmanager.Options) {
			o.RetryMaxAttempts = 3
			if cfg.SecretsEndpoint != "" {
				o.BaseEndpoint = aws.String(cfg.SecretsEndpoint)
			}
		})
	}
	f.Notifier = &Notifier{creds: New(f, cfg, sm)}
}

// Notifier is a slack.Notifier built on first use from the lazily read
// credentials. If they cannot be read the notice is logged instead and the
// task goes on: the approval stands whatever happens to its announcement.
type Notifier struct {
	creds *Handler

	mu sync.Mutex
	n  *slack.Notifier
}

var _ workflow.Notifier = (*Notifier)(nil)

func (n *Notifier) get(ctx context.Context) workflow.Notifier {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.n != nil {
		return n.n
	}
	fn := n.creds.fn
	sc := n.creds.cfg.Env
	if n.creds.cfg.SecretARN != "" {
		c, err := n.creds.read(ctx)
		if err != nil {
			fn.Log.WarnContext(ctx, "slack: credentials unavailable; logging the notice", "err", err)
			return workflow.LogNotifier{Log: fn.Log, URL: fn.Gate.ApprovalURL}
		}
		sc.BotToken = c.BotToken
	}
	n.n = slack.NewNotifier(slack.NotifierConfig{Slack: sc, URL: fn.Gate.ApprovalURL, Store: fn.Gate.Store(), Log: fn.Log})
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

// InstallClosing is InstallNotifier for the API functions that end an
// approval (respond, revoke): after the decision is stored and the
// workflow told, the Slack message is rewritten to show the outcome, as
// the local server does. Without Slack configured nothing changes.
func InstallClosing(f *lambdafn.Function) {
	InstallNotifier(f)
	if f.Notifier == nil || f.Workflow == nil {
		return
	}
	f.Gate.SetWorkflow(closing{Workflow: f.Workflow, notifier: f.Notifier, log: f})
}

// closing tells the workflow first (the table already holds the
// decision), then updates the announcement; a failed update is logged.
type closing struct {
	gate.Workflow
	notifier workflow.Notifier
	log      *lambdafn.Function
}

func (c closing) Decided(ctx context.Context, a vsecure.Approval) error {
	err := c.Workflow.Decided(ctx, a)
	c.close(ctx, a)
	return err
}

func (c closing) Revoked(ctx context.Context, a vsecure.Approval) error {
	err := c.Workflow.Revoked(ctx, a)
	c.close(ctx, a)
	return err
}

func (c closing) close(ctx context.Context, a vsecure.Approval) {
	if err := c.notifier.Closed(ctx, a); err != nil {
		c.log.Log.WarnContext(ctx, "slack: updating the approval message failed", "approvalId", a.ID, "err", err)
	}
}
