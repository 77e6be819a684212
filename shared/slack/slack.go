// Package slack is vsecure's Slack integration: a workflow.Notifier that
// announces approval requests as Block Kit messages with Approve and Deny
// buttons and keeps them up to date, and the handler of Slack's
// interactivity webhook that turns a button press into a decision.
//
// A press is trusted only as far as Slack's request signature (v0,
// HMAC-SHA256 with the app's signing secret, five-minute window, each
// signed request accepted once) and the Slack user's mapping to a vsecure
// principal (a key's slackUserId). The decision itself is made by the same
// gate.Decide the API calls, so Slack can never do what the API would
// refuse. The package owns exactly one outside system: Slack's Web API,
// reached through github.com/slack-go/slack at a configurable base URL so
// tests run against a local fake.
package slack

import (
	"errors"
	"log/slog"
	"strings"
)

// DefaultAPIURL is Slack's Web API base URL.
const DefaultAPIURL = "https://slack.com/api/"

// HooksHost is the only host whose response_url the handler will call.
const HooksHost = "hooks.slack.com"

// Config holds the Slack app's credentials and defaults. Locally it comes
// from the environment (ConfigFromEnv); in AWS the Lambda wiring reads the
// token and signing secret from Secrets Manager and fills the struct.
type Config struct {
	// BotToken (xoxb-…) posts and updates messages. Empty: notifications
	// are logged instead.
	BotToken string
	// SigningSecret verifies interaction requests. Empty: the
	// interactions endpoint is not served.
	SigningSecret string
	// DefaultChannel receives requests whose policy names no slackChannel.
	DefaultChannel string
	// APIURL is the Web API base URL (DefaultAPIURL when empty).
	APIURL string
	// TeamID, if set, is the only workspace whose presses are accepted.
	TeamID string
}

// Environment variables of ConfigFromEnv.
const (
	EnvBotToken      = "VSECURE_SLACK_BOT_TOKEN"
	EnvSigningSecret = "VSECURE_SLACK_SIGNING_SECRET"
	EnvChannel       = "VSECURE_SLACK_CHANNEL"
	EnvAPIURL        = "VSECURE_SLACK_API_URL"
	EnvTeamID        = "VSECURE_SLACK_TEAM_ID"
)

// ConfigFromEnv reads the Slack settings from the environment.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		BotToken:       strings.TrimSpace(getenv(EnvBotToken)),
		SigningSecret:  strings.TrimSpace(getenv(EnvSigningSecret)),
		DefaultChannel: strings.TrimSpace(getenv(EnvChannel)),
		APIURL:         strings.TrimSpace(getenv(EnvAPIURL)),
		TeamID:         strings.TrimSpace(getenv(EnvTeamID)),
	}
	return c, c.Validate()
}

// Validate checks the values that are set.
func (c Config) Validate() error {
	if c.BotToken != "" && !strings.HasPrefix(c.BotToken, "xox") {
		return errors.New(EnvBotToken + " must be a Slack bot token (xoxb-…)")
	}
	if c.SigningSecret != "" && len(c.SigningSecret) < 16 {
		return errors.New(EnvSigningSecret + " is too short to be a Slack signing secret")
	}
	if c.APIURL != "" && !strings.HasPrefix(c.APIURL, "https://") && !strings.HasPrefix(c.APIURL, "http://") {
		return errors.New(EnvAPIURL + " must be an http(s) URL")
	}
	return nil
}

// apiURL is the base URL with the trailing slash slack-go needs.
func (c Config) apiURL() string {
	if c.APIURL == "" {
		return DefaultAPIURL
	}
	return strings.TrimRight(c.APIURL, "/") + "/"
}

// LogValue keeps the token and the signing secret out of every log: only
// whether they are set is shown.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Bool("botToken", c.BotToken != ""),
		slog.Bool("signingSecret", c.SigningSecret != ""),
		slog.String("defaultChannel", c.DefaultChannel),
		slog.String("apiUrl", c.apiURL()),
		slog.String("teamId", c.TeamID),
	)
}
