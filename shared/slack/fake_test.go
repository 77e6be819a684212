package slack_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/slack"
)

// call is one request the fake Slack Web API received.
type call struct {
	Method  string // chat.postMessage, chat.update, chat.postEphemeral
	Auth    string
	Channel string
	TS      string
	User    string
	Text    string
	Blocks  string // the Block Kit JSON as sent
}

// fakeSlack records Web API calls and answers like Slack does.
type fakeSlack struct {
	*httptest.Server
	t     testing.TB
	mu    sync.Mutex
	calls []call
	n     int
}

func newFakeSlack(t testing.TB) *fakeSlack {
	f := &fakeSlack{t: t}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeSlack) serve(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/")
	if _, ok := slack.Methods[method]; !ok {
		// Its scope is not in the manifest: in production this call would
		// fail with missing_scope.
		f.t.Errorf("fake Slack: the code called %s, which slack.Methods (and so the app manifest's scopes) does not list", method)
	}
	vals := map[string]string{}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var m map[string]any
		_ = json.NewDecoder(r.Body).Decode(&m)
		for k, v := range m {
			if s, ok := v.(string); ok {
				vals[k] = s
			} else {
				b, _ := json.Marshal(v)
				vals[k] = string(b)
			}
		}
	} else {
		_ = r.ParseForm()
		for k := range r.Form {
			vals[k] = r.Form.Get(k)
		}
	}
	f.mu.Lock()
	f.n++
	ts := vals["ts"]
	if ts == "" {
		ts = "1700000000." + strings.Repeat("0", 5) + string(rune('0'+f.n%10))
	}
	auth := r.Header.Get("Authorization")
	if auth == "" && vals["token"] != "" {
		auth = "Bearer " + vals["token"] // slack-go sends chat.* tokens in the form
	}
	f.calls = append(f.calls, call{Method: method, Auth: auth, Channel: vals["channel"],
		TS: vals["ts"], User: vals["user"], Text: vals["text"], Blocks: vals["blocks"]})
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch method {
	case "chat.postMessage", "chat.update":
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": vals["channel"], "ts": ts, "text": vals["text"]})
	case "chat.postEphemeral":
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "message_ts": ts})
	default:
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": "unknown_method"})
	}
}

// wait returns the calls of method once there are at least n of them.
func (f *fakeSlack) wait(t testing.TB, method string, n int) []call {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var got []call
		f.mu.Lock()
		for _, c := range f.calls {
			if c.Method == method {
				got = append(got, c)
			}
		}
		f.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("fake Slack: %d %s calls after 5 s, want %d", len(got), method, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (f *fakeSlack) count(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c.Method == method {
			n++
		}
	}
	return n
}

// hooks records response_url calls instead of reaching the network.
type hooks struct {
	mu   sync.Mutex
	urls []string
	body []string
}

func (h *hooks) RoundTrip(r *http.Request) (*http.Response, error) {
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.urls = append(h.urls, r.URL.String())
	h.body = append(h.body, string(b))
	h.mu.Unlock()
	return &http.Response{StatusCode: 200, Status: "200 OK", Body: io.NopCloser(strings.NewReader("ok")), Header: http.Header{}, Request: r}, nil
}

func (h *hooks) wait(t testing.TB, n int) ([]string, []string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		h.mu.Lock()
		urls, body := append([]string(nil), h.urls...), append([]string(nil), h.body...)
		h.mu.Unlock()
		if len(urls) >= n {
			return urls, body
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d response_url calls after 5 s, want %d", len(urls), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (h *hooks) hosts() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, u := range h.urls {
		p, _ := url.Parse(u)
		out = append(out, p.Host)
	}
	return out
}
