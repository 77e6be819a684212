package slack

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/slack-go/slack"

	"github.com/vsecure/vsecure/shared/vsecure"
	"github.com/vsecure/vsecure/shared/workflow"
)

// Notice keys stored on an approval for the message that announced it.
const (
	NoticeChannel = "slackChannel"
	NoticeTS      = "slackTs"
)

// NotifierConfig holds a Notifier's dependencies.
type NotifierConfig struct {
	Slack Config
	// URL returns an approval's approvalUrl (gate.ApprovalURL).
	URL func(id string) string
	// Store lets Closed find the message of an approval whose notice was
	// stored after the caller read it; nil skips that re-read.
	Store workflow.ApprovalStore
	// HTTPClient reaches the Web API (a timeout-bounded default if nil).
	HTTPClient *http.Client
	Log        *slog.Logger
	Now        func() time.Time
}

// Notifier posts approval requests to Slack and updates the message when
// the request closes. Without a bot token it only logs (workflow.LogNotifier),
// so a server without Slack works the same.
type Notifier struct {
	api      *slack.Client // nil: log only
	channel  string
	url      func(string) string
	store    workflow.ApprovalStore
	log      *slog.Logger
	now      func() time.Time
	fallback workflow.LogNotifier
}

var _ workflow.Notifier = (*Notifier)(nil)

// NewNotifier returns a notifier for cfg.
func NewNotifier(cfg NotifierConfig) *Notifier {
	n := &Notifier{channel: cfg.Slack.DefaultChannel, url: cfg.URL, store: cfg.Store, log: cfg.Log, now: cfg.Now}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	if n.now == nil {
		n.now = time.Now
	}
	if n.url == nil {
		n.url = func(string) string { return "" }
	}
	n.fallback = workflow.LogNotifier{Log: n.log, URL: cfg.URL}
	if cfg.Slack.BotToken != "" {
		n.api = newClient(cfg.Slack, cfg.HTTPClient)
	}
	return n
}

func newClient(cfg Config, hc *http.Client) *slack.Client {
	if hc == nil {
		hc = &http.Client{Timeout: 5 * time.Second}
	}
	return slack.New(cfg.BotToken, slack.OptionAPIURL(cfg.apiURL()), slack.OptionHTTPClient(hc))
}

// Enabled reports whether messages go to Slack.
func (n *Notifier) Enabled() bool { return n.api != nil }

// Requested posts the request to its policy's channel, or the default one,
// and returns the message reference to store as the approval's notice.
func (n *Notifier) Requested(ctx context.Context, a vsecure.Approval) (map[string]string, error) {
	ch := a.SlackChannel
	if ch == "" {
		ch = n.channel
	}
	if n.api == nil || ch == "" {
		if n.api != nil {
			n.log.WarnContext(ctx, "slack: no channel for the request (set the policy's slackChannel or VSECURE_SLACK_CHANNEL); logging it instead", "approvalId", a.ID)
		}
		return n.fallback.Requested(ctx, a)
	}
	c := cardOf(a, n.now(), n.url(a.ID))
	gotCh, ts, err := n.api.PostMessageContext(ctx, ch,
		slack.MsgOptionText(c.fallback(), false), slack.MsgOptionBlocks(c.blocks()...))
	if err != nil {
		// slack-go's errors carry Slack's error code (channel_not_found,
		// not_in_channel, invalid_auth), never the token.
		return nil, slackError("chat.postMessage", err)
	}
	n.log.InfoContext(ctx, "slack: approval request posted", "approvalId", a.ID, "channel", gotCh, "ts", ts)
	return map[string]string{NoticeChannel: gotCh, NoticeTS: ts}, nil
}

// Closed rewrites the request's message with its outcome (decided,
// expired or revoked) and removes the buttons.
func (n *Notifier) Closed(ctx context.Context, a vsecure.Approval) error {
	if n.api == nil {
		return n.fallback.Closed(ctx, a)
	}
	ch, ts := a.Notice[NoticeChannel], a.Notice[NoticeTS]
	if (ch == "" || ts == "") && n.store != nil {
		// The notice is stored after the post returns; a decision that
		// raced it carries an approval read before.
		if cur, err := n.store.GetApproval(ctx, a.ID); err == nil {
			ch, ts = cur.Notice[NoticeChannel], cur.Notice[NoticeTS]
		}
	}
	if ch == "" || ts == "" {
		n.log.InfoContext(ctx, "slack: no message to update", "approvalId", a.ID, "status", string(a.Status))
		return nil
	}
	return n.update(ctx, ch, ts, cardOf(a, n.now(), n.url(a.ID)))
}

func (n *Notifier) update(ctx context.Context, ch, ts string, c card) error {
	if n.api == nil {
		return nil
	}
	_, _, _, err := n.api.UpdateMessageContext(ctx, ch, ts,
		slack.MsgOptionText(c.fallback(), false), slack.MsgOptionBlocks(c.blocks()...))
	if err != nil {
		return slackError("chat.update", err)
	}
	return nil
}

// ephemeral shows text to one user in a channel (chat.postEphemeral).
func (n *Notifier) ephemeral(ctx context.Context, ch, user, text string) error {
	if n.api == nil || ch == "" || user == "" {
		return nil
	}
	if _, err := n.api.PostEphemeralContext(ctx, ch, user, slack.MsgOptionText(text, false)); err != nil {
		return slackError("chat.postEphemeral", err)
	}
	return nil
}

func slackError(method string, err error) error {
	return vsecure.Wrap(vsecure.EUnavailable, err, "slack "+method+" failed")
}
