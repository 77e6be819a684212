package slack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vsecure/vsecure/internal/syncbuf"
	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/client"
	"github.com/vsecure/vsecure/shared/devserver"
	"github.com/vsecure/vsecure/shared/devserver/devtest"
	"github.com/vsecure/vsecure/shared/httpapi"
	"github.com/vsecure/vsecure/shared/slack"
	"github.com/vsecure/vsecure/shared/vsecure"
)

const (
	botToken      = "xoxb-test-bot-token-never-logged"
	signingSecret = "test-signing-secret-never-logged"
	adminKey      = "vsk_slacktest_admin_key_0123456789abcdefghijklmnop"
	prodURI       = "vsecure://secrets/production/DATABASE_URL"
	prodValue     = "postgresql://app:pw@db:5432/prod"
	team          = "T0TEAM"
)

type slackEnv struct {
	srv             *devserver.Server
	fake            *fakeSlack
	hooks           *hooks
	logs            *syncbuf.Buffer
	admin           *client.Client
	agent           *client.Client
	url             string
	interactionsURL string
}

// startSlack runs vsecure dev against a fake Slack with a gated
// production policy (approvers alice and carol, channel C0PROD) and keys:
// agent-1 (agent), alice (approver, U0ALICE), bob (approver, U0BOB, not a
// listed approver), and nobody mapped to U0MALLORY.
func startSlack(t testing.TB) *slackEnv {
	t.Helper()
	ctx := context.Background()
	e := &slackEnv{fake: newFakeSlack(t), hooks: &hooks{}, logs: &syncbuf.Buffer{}}
	env := devtest.Start(t, devtest.WithoutFixture(), devtest.WithConfig(func(c *devserver.Config) {
		c.AdminKey = adminKey
		c.Logger = slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c.Slack = slack.Config{BotToken: botToken, SigningSecret: signingSecret, DefaultChannel: "C0DEFAULT",
			APIURL: e.fake.URL, TeamID: team}
		c.SlackHooks = &http.Client{Transport: e.hooks}
		c.RateLimit = -1
	}))
	e.srv, e.url, e.admin = env.Server, env.URL, env.Admin
	e.interactionsURL = e.url + "/v1/integrations/slack/interactions"
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := e.admin.Configure(ctx, api.ResourceConfig{
		URI: "vsecure://secrets/production/*", Permissions: []vsecure.Operation{vsecure.OpRead},
		RequiresApproval: true, Approvers: []string{"alice", "carol"}, SlackChannel: "C0PROD",
	})
	must(err)
	v := prodValue
	_, err = e.admin.PutSecret(ctx, prodURI, api.SecretWrite{Value: &v})
	must(err)
	key := func(principal, role, slackID string) api.CreatedKey {
		k, err := e.admin.CreateKey(ctx, api.KeyRequest{Principal: principal, Roles: []string{role}, SlackUserID: slackID})
		must(err)
		return k
	}
	e.agent = env.Client(t, key("agent-1", "agent", "").Secret)
	key("bob", "approver", "U0BOB")
	alice := key("alice", "approver", "")
	// alice is mapped after the fact, through the admin API.
	k, err := e.admin.SetKeySlackUser(ctx, alice.ID, "U0ALICE")
	must(err)
	if k.SlackUserID != "U0ALICE" {
		t.Fatalf("SetKeySlackUser: %+v", k)
	}
	return e
}

// payload is a block_actions interaction as Slack sends it for a press of
// one of the message's buttons.
func payload(user, action, approvalID, channel, ts, responseURL string) string {
	p := map[string]any{
		"type":         "block_actions",
		"team":         map[string]any{"id": team, "domain": "acme"},
		"user":         map[string]any{"id": user, "username": strings.ToLower(user), "team_id": team},
		"api_app_id":   "A0APP",
		"token":        "legacy-verification-token",
		"container":    map[string]any{"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": false},
		"trigger_id":   "123.456.abc",
		"channel":      map[string]any{"id": channel, "name": "prod-approvals"},
		"message":      map[string]any{"type": "message", "ts": ts, "text": "approval"},
		"response_url": responseURL,
		"actions": []map[string]any{{
			"action_id": action, "block_id": slack.BlockActions, "value": approvalID, "type": "button",
			"text": map[string]any{"type": "plain_text", "text": "Approve"}, "action_ts": "1700000000.000100",
		}},
	}
	b, _ := json.Marshal(p)
	return "payload=" + url.QueryEscape(string(b))
}

// signed builds a request Slack would send for body at time at.
func signed(t testing.TB, target, body string, at time.Time) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	ts := strconv.FormatInt(at.Unix(), 10)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(slack.HeaderTimestamp, ts)
	req.Header.Set(slack.HeaderSignature, slack.SignatureHeader([]byte(signingSecret), ts, []byte(body)))
	return req
}

func do(t testing.TB, req *http.Request) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// auditOf returns the newest entry of op for approval id (or any when "").
func (e *slackEnv) auditOf(t testing.TB, op, id string, success bool) vsecure.Entry {
	t.Helper()
	entries, _, err := e.admin.Audit(context.Background(), api.AuditQuery{Operation: op, Success: &success, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range entries {
		if id == "" || en.ApprovalID == id {
			return en
		}
	}
	t.Fatalf("no audit entry %s success=%v for %q in %+v", op, success, id, entries)
	return vsecure.Entry{}
}

func TestSlackApprovalEndToEnd(t *testing.T) {
	e := startSlack(t)
	ctx := context.Background()
	a, err := e.agent.RequestApproval(ctx, api.ApprovalRequest{Resource: prodURI, Operation: "read", Reason: "debug <!channel> outage", TTL: ptr(600)})
	if err != nil {
		t.Fatal(err)
	}

	// Request → message posted to the policy's channel.
	post := e.fake.wait(t, "chat.postMessage", 1)[0]
	if post.Channel != "C0PROD" || post.Auth != "Bearer "+botToken {
		t.Fatalf("postMessage to %q with auth %q", post.Channel, post.Auth)
	}
	for _, want := range []string{
		prodURI, "agent-1", a.ExpiresAt.Format(time.RFC3339), "0 of 1",
		`"action_id":"vsecure_approve"`, `"action_id":"vsecure_deny"`, `"value":"` + a.ID + `"`,
		a.ApprovalURL,
	} {
		if !strings.Contains(post.Blocks, want) && !strings.Contains(post.Blocks, strings.ReplaceAll(want, "&", `\u0026`)) {
			t.Errorf("posted blocks lack %q:\n%s", want, post.Blocks)
		}
	}
	// The reason's mention is checked by TestRequesterTextCannotForgeCard.
	if strings.Contains(post.Blocks, prodValue) {
		t.Fatalf("posted blocks carry the secret value:\n%s", post.Blocks)
	}
	ts := waitNotice(t, e, a.ID)

	t.Run("unmapped_user_refused_and_audited", func(t *testing.T) {
		body := payload("U0MALLORY", slack.ActionApprove, a.ID, "C0PROD", ts, "https://hooks.slack.com/actions/T0TEAM/1/abc")
		if code := do(t, signed(t, e.interactionsURL, body, time.Now())); code != 200 {
			t.Fatalf("status %d, want 200 (Slack shows an error otherwise)", code)
		}
		urls, bodies := e.hooks.wait(t, 1)
		if urls[0] != "https://hooks.slack.com/actions/T0TEAM/1/abc" || !strings.Contains(bodies[0], `"response_type":"ephemeral"`) || !strings.Contains(bodies[0], "not set up") {
			t.Fatalf("ephemeral answer: %v %v", urls, bodies)
		}
		en := e.auditOf(t, vsecure.AuditSlack, a.ID, false)
		if en.Actor != vsecure.Anonymous || en.Error != string(vsecure.EUnauthenticated) ||
			en.Metadata["slackUserId"] != "U0MALLORY" || en.Metadata["slackTeamId"] != team {
			t.Fatalf("audit of the refused press: %+v", en)
		}
	})

	t.Run("foreign_response_url_never_called", func(t *testing.T) {
		before := e.fake.count("chat.postEphemeral")
		body := payload("U0BOB", slack.ActionApprove, a.ID, "C0PROD", ts, "https://evil.example/steal")
		if code := do(t, signed(t, e.interactionsURL, body, time.Now())); code != 200 {
			t.Fatalf("status %d", code)
		}
		eph := e.fake.wait(t, "chat.postEphemeral", before+1)[before]
		if eph.Channel != "C0PROD" || eph.User != "U0BOB" || !strings.Contains(eph.Text, "not an approver") {
			t.Fatalf("ephemeral via the API: %+v", eph)
		}
		for _, h := range e.hooks.hosts() {
			if h != slack.HooksHost {
				t.Fatalf("called a response_url on %s", h)
			}
		}
		en := e.auditOf(t, vsecure.AuditApprove, a.ID, false)
		if en.Actor != "bob" || en.Error != string(vsecure.ENotApprover) || en.Metadata["slackUserId"] != "U0BOB" || en.Metadata["channel"] != "slack" {
			t.Fatalf("audit of bob's press: %+v", en)
		}
	})

	t.Run("other_workspace_refused", func(t *testing.T) {
		body := strings.Replace(payload("U0ALICE", slack.ActionApprove, a.ID, "C0PROD", ts, ""), team, "T0OTHER", 1)
		if code := do(t, signed(t, e.interactionsURL, body, time.Now())); code != 200 {
			t.Fatalf("status %d", code)
		}
		en := e.auditOf(t, vsecure.AuditSlack, a.ID, false)
		if en.Error != string(vsecure.EForbidden) || en.Metadata["slackTeamId"] != "T0OTHER" {
			t.Fatalf("audit of a press from another workspace: %+v", en)
		}
		if got, _ := e.admin.GetApproval(ctx, a.ID); got.Status != vsecure.StatusPending {
			t.Fatalf("status %s after a foreign workspace's press", got.Status)
		}
	})

	t.Run("forged_signature_refused", func(t *testing.T) {
		body := payload("U0ALICE", slack.ActionApprove, a.ID, "C0PROD", ts, "")
		req := signed(t, e.interactionsURL, body, time.Now())
		req.Header.Set(slack.HeaderSignature, "v0="+strings.Repeat("ab", 32))
		if code := do(t, req); code != http.StatusUnauthorized {
			t.Fatalf("forged press: status %d, want 401", code)
		}
		if got, _ := e.admin.GetApproval(ctx, a.ID); got.Status != vsecure.StatusPending {
			t.Fatalf("status %s after a forged press", got.Status)
		}
	})

	t.Run("duplicate_key_payload_refused", func(t *testing.T) {
		// encoding/json would let the second "user" (alice) win over the
		// first: a payload must not mean two things.
		p, _ := url.QueryUnescape(strings.TrimPrefix(payload("U0ALICE", slack.ActionApprove, a.ID, "C0PROD", ts, ""), "payload="))
		p = `{"user":{"id":"U0MALLORY"},` + p[1:]
		if code := do(t, signed(t, e.interactionsURL, "payload="+url.QueryEscape(p), time.Now())); code != http.StatusBadRequest {
			t.Fatalf("status %d, want 400", code)
		}
		if got, _ := e.admin.GetApproval(ctx, a.ID); got.Status != vsecure.StatusPending {
			t.Fatalf("status %s after a duplicate-key press", got.Status)
		}
	})

	// Signed press by a mapped, listed approver → decision → message
	// updated → agent reads.
	body := payload("U0ALICE", slack.ActionApprove, a.ID, "C0PROD", ts, "https://hooks.slack.com/actions/T0TEAM/2/def")
	press := signed(t, e.interactionsURL, body, time.Now())
	start := time.Now()
	if code := do(t, press); code != 200 {
		t.Fatalf("alice's press: status %d", code)
	}
	t.Logf("acknowledged in %v", time.Since(start))
	got, err := e.admin.GetApproval(ctx, a.ID)
	if err != nil || got.Status != vsecure.StatusApproved || got.ApprovedBy != "alice" {
		t.Fatalf("after alice's press: %+v %v", got, err)
	}
	en := e.auditOf(t, vsecure.AuditApprove, a.ID, true)
	if en.Actor != "alice" || en.Metadata["slackUserId"] != "U0ALICE" || en.Metadata["slackTeamId"] != team || en.Metadata["channel"] != "slack" {
		t.Fatalf("audit of alice's press: %+v", en)
	}
	upd := lastWith(t, e.fake, "chat.update", "approved by alice")
	if upd.Channel != "C0PROD" || upd.TS != ts || strings.Contains(upd.Blocks, slack.ActionApprove) {
		t.Fatalf("message update: %+v", upd)
	}
	read, err := e.agent.GetSecret(ctx, prodURI, 0)
	if err != nil || read.Value != prodValue {
		t.Fatalf("agent read after the Slack approval: %+v %v", read, err)
	}

	t.Run("replay_refused", func(t *testing.T) {
		replay := signed(t, e.interactionsURL, body, time.Unix(mustAtoi(t, press.Header.Get(slack.HeaderTimestamp)), 0))
		if code := do(t, replay); code != http.StatusUnauthorized {
			t.Fatalf("replayed press: status %d, want 401", code)
		}
	})

	t.Run("already_decided_answered_ephemerally", func(t *testing.T) {
		n := len(e.hooks.hosts())
		body := payload("U0ALICE", slack.ActionDeny, a.ID, "C0PROD", ts, "https://hooks.slack.com/actions/T0TEAM/3/ghi")
		if code := do(t, signed(t, e.interactionsURL, body, time.Now())); code != 200 {
			t.Fatalf("status %d", code)
		}
		_, bodies := e.hooks.wait(t, n+1)
		if !strings.Contains(bodies[n], "already decided") {
			t.Fatalf("answer: %s", bodies[n])
		}
	})

	t.Run("revoked_elsewhere_updates_message", func(t *testing.T) {
		if _, err := e.admin.Revoke(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		upd := lastWith(t, e.fake, "chat.update", "revoked by admin")
		if upd.TS != ts {
			t.Fatalf("revocation updated %+v", upd)
		}
	})

	t.Run("other_payload_types_acknowledged_and_audited", func(t *testing.T) {
		b, _ := json.Marshal(map[string]any{"type": "shortcut", "team": map[string]any{"id": team}, "user": map[string]any{"id": "U0ALICE"}, "callback_id": "x"})
		if code := do(t, signed(t, e.interactionsURL, "payload="+url.QueryEscape(string(b)), time.Now())); code != 200 {
			t.Fatalf("status %d", code)
		}
		en := e.auditOf(t, vsecure.AuditSlack, "", true)
		if en.Metadata["slackPayloadType"] != "shortcut" || en.Metadata["slackUserId"] != "U0ALICE" {
			t.Fatalf("audit of a shortcut: %+v", en)
		}
	})

	e.srv.Slack.Wait()
	logs := e.logs.String()
	for _, secret := range []string{botToken, signingSecret, prodValue, adminKey} {
		if strings.Contains(logs, secret) {
			t.Fatalf("a secret reached the logs: %q", secret)
		}
	}
}

func TestSlackDenyAndExpiry(t *testing.T) {
	e := startSlack(t)
	ctx := context.Background()
	a, err := e.agent.RequestApproval(ctx, api.ApprovalRequest{Resource: prodURI, Operation: "read", TTL: ptr(600)})
	if err != nil {
		t.Fatal(err)
	}
	e.fake.wait(t, "chat.postMessage", 1)
	ts := waitNotice(t, e, a.ID)
	body := payload("U0ALICE", slack.ActionDeny, a.ID, "C0PROD", ts, "")
	if code := do(t, signed(t, e.interactionsURL, body, time.Now())); code != 200 {
		t.Fatalf("status %d", code)
	}
	if got, _ := e.admin.GetApproval(ctx, a.ID); got.Status != vsecure.StatusDenied || got.DeniedBy != "alice" {
		t.Fatalf("after deny: %+v", got)
	}
	lastWith(t, e.fake, "chat.update", "denied by alice")
	if _, err := e.agent.GetSecret(ctx, prodURI, 0); err == nil {
		t.Fatalf("read after a denial succeeded")
	}

	// A request nobody decides: the local workflow expires it after its
	// ttl and the message says so, without buttons.
	b, err := e.agent.RequestApproval(ctx, api.ApprovalRequest{Resource: prodURI, Operation: "read", TTL: ptr(1)})
	if err != nil {
		t.Fatal(err)
	}
	e.fake.wait(t, "chat.postMessage", 2)
	waitNotice(t, e, b.ID)
	upd := lastWith(t, e.fake, "chat.update", "Approval expired")
	if !strings.Contains(upd.Blocks, b.ID) || strings.Contains(upd.Blocks, slack.ActionApprove) {
		t.Fatalf("expiry update: %+v", upd)
	}
}

func TestSlackDisabledEndpoint(t *testing.T) {
	srv, err := devserver.New(context.Background(), devserver.Config{
		Addr: "127.0.0.1:0", DataDir: t.TempDir(), AdminKey: adminKey,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if srv.Slack != nil {
		t.Fatal("interactions handler built without a signing secret")
	}
	if srv.API.Mounts.Slack != httpapi.Disabled {
		t.Fatal("interactions route served without a signing secret")
	}
}

func waitNotice(t testing.TB, e *slackEnv, id string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		a, err := e.srv.Gate.Store().GetApproval(context.Background(), id)
		if err == nil && a.Notice[slack.NoticeTS] != "" {
			if a.Notice[slack.NoticeChannel] != "C0PROD" {
				t.Fatalf("notice %v", a.Notice)
			}
			return a.Notice[slack.NoticeTS]
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("the message reference was never stored on the approval")
	return ""
}

func lastWith(t testing.TB, f *fakeSlack, method, text string) call {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		f.mu.Lock()
		var found *call
		for i := range f.calls {
			if c := f.calls[i]; c.Method == method && strings.Contains(c.Blocks, text) {
				found = &c
			}
		}
		f.mu.Unlock()
		if found != nil {
			return *found
		}
		if time.Now().After(deadline) {
			f.mu.Lock()
			defer f.mu.Unlock()
			t.Fatalf("no %s with %q among %s", method, text, fmt.Sprint(f.calls))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func mustAtoi(t testing.TB, s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func ptr[T any](v T) *T { return &v }
