package slack_test

import (
	"encoding/json"
	"maps"
	"net/url"
	"os"
	"slices"
	"testing"

	"github.com/vsecure/vsecure/shared/httpapi"
	"github.com/vsecure/vsecure/shared/slack"
)

// manifestPath is the Slack app manifest docs/deploy.md creates the app from.
const manifestPath = "../../infra/slack-app-manifest.json"

type manifest struct {
	OAuth struct {
		Scopes struct {
			Bot  []string `json:"bot"`
			User []string `json:"user"`
		} `json:"scopes"`
	} `json:"oauth_config"`
	Settings struct {
		Interactivity struct {
			IsEnabled  bool   `json:"is_enabled"`
			RequestURL string `json:"request_url"`
		} `json:"interactivity"`
		SocketMode bool `json:"socket_mode_enabled"`
	} `json:"settings"`
	Features struct {
		BotUser *struct {
			DisplayName string `json:"display_name"`
		} `json:"bot_user"`
	} `json:"features"`
}

func readManifest(t *testing.T) manifest {
	t.Helper()
	raw, err := os.ReadFile(manifestPath)
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %v", manifestPath, err)
	}
	return m
}

// The app is created from the manifest, so a scope the code needs and the
// manifest lacks fails in production with missing_scope, and a scope the
// manifest grants beyond that is privilege nobody uses.
func TestManifestBotScopesAreExactlyWhatTheCodeCalls(t *testing.T) {
	m := readManifest(t)
	got := slices.Sorted(slices.Values(m.OAuth.Scopes.Bot))
	if want := slices.Compact(slices.Sorted(maps.Values(slack.Methods))); !slices.Equal(got, want) {
		t.Errorf("manifest bot scopes = %v, want exactly %v (slack.Methods)", got, want)
	}
	if len(m.OAuth.Scopes.User) != 0 {
		t.Errorf("manifest asks for user scopes %v; the app acts only as its bot", m.OAuth.Scopes.User)
	}
	if m.Features.BotUser == nil {
		t.Error("manifest has no bot_user: there would be no bot token (xoxb-) to post with")
	}
}

func TestManifestInteractivityPointsAtTheSlackRoute(t *testing.T) {
	m := readManifest(t)
	in := m.Settings.Interactivity
	if !in.IsEnabled {
		t.Error("manifest: interactivity is not enabled; the Approve/Deny buttons would do nothing")
	}
	if m.Settings.SocketMode {
		t.Error("manifest: socket mode is on; presses would not reach the HTTP route")
	}
	u, err := url.Parse(in.RequestURL)
	if err != nil || u.Scheme != "https" {
		t.Fatalf("manifest interactivity request_url %q: want an https URL (%v)", in.RequestURL, err)
	}
	var want string
	for _, r := range httpapi.Routes() {
		if r.Function == "slack-interactions" {
			if r.Method != "POST" {
				t.Errorf("route %s %s: Slack sends interactions with POST", r.Method, r.Path)
			}
			want = r.Path
		}
	}
	if want == "" {
		t.Fatal("the route table has no slack-interactions route")
	}
	if u.Path != want {
		t.Errorf("manifest interactivity path = %q, want the route table's %q", u.Path, want)
	}
}
