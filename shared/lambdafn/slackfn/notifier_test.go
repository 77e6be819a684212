package slackfn

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/slack"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// TestNotifierPostsWithTheSecretsBotToken: the workflow task's notifier
// reads the bot token from the Slack secret once, on first use, and posts
// the request to the fake Slack API; unreadable credentials only log.
func TestNotifierPostsWithTheSecretsBotToken(t *testing.T) {
	const token = "xoxb-sample-bot-token-0001"
	var (
		mu    sync.Mutex
		calls []string
	)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		_ = r.ParseForm()
		auth := r.Header.Get("Authorization")
		if auth == "" && r.Form.Get("token") != "" { // slack-go may send the token as a form field
			auth = "Bearer " + r.Form.Get("token")
		}
		calls = append(calls, r.URL.Path+" "+auth)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true,"channel":"C0SAMPLE","ts":"1700000000.000100"}`))
	}))
	t.Cleanup(api.Close)
	var logs bytes.Buffer
	sm := &fakeSecrets{fail: true, value: `{"botToken":"` + token + `","signingSecret":"0123456789abcdef0123456789abcdef"}`}
	env := slack.Config{DefaultChannel: "C0SAMPLE", APIURL: api.URL + "/"}
	f := function(t, &logs)
	n := NewNotifier(f.Gate, f.Log, Config{SecretARN: arn, Env: env}, sm)
	a := vsecure.Approval{ID: "appr_x", Resource: "vsecure://secrets/production/DB", Operation: vsecure.OpRead,
		RequestedBy: "agent-1", RequestedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour), Status: vsecure.StatusPending,
		Approvers: []string{"alice"}, RequiredApprovals: 1}

	if _, err := n.Requested(t.Context(), a); err != nil {
		t.Fatalf("Requested with the secret unreadable: %v (want the notice logged, no error)", err)
	}
	if len(calls) != 0 {
		t.Fatalf("Slack called without credentials: %v", calls)
	}
	sm.fail = false
	notice, err := n.Requested(t.Context(), a)
	if err != nil || notice["slackTs"] == "" {
		t.Fatalf("Requested = %v, %v", notice, err)
	}
	n.Requested(t.Context(), a)
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 2 || !strings.HasPrefix(calls[0], "/chat.postMessage Bearer "+token) {
		t.Fatalf("Slack calls %v, want two chat.postMessage with the secret's bot token", calls)
	}
	if sm.calls != 2 {
		t.Fatalf("%d Secrets Manager reads, want 2 (a failure is not kept, a success is)", sm.calls)
	}
	if strings.Contains(logs.String(), token) {
		t.Fatal("the bot token is in the logs")
	}
}
