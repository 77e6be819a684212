package slack_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/client"
	"github.com/vsecure/vsecure/shared/slack"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// An agent acting for alice: the card names both ("helper-bot for
// alice"), and alice's press in Slack is refused as self-approval (Slack
// decides through the same gate.Decide as the API).
func TestSlackAgentOnBehalfOfApprover(t *testing.T) {
	e := startSlack(t)
	ctx := context.Background()
	k, err := e.admin.CreateKey(ctx, api.KeyRequest{Principal: "helper-bot", Roles: []string{"agent"}, OnBehalfOf: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	bot, err := client.New(client.Config{BaseURL: e.url, Key: k.Secret})
	if err != nil {
		t.Fatal(err)
	}
	a, err := bot.RequestApproval(ctx, api.ApprovalRequest{Resource: prodURI, Operation: "read", Reason: "migrate"})
	if err != nil {
		t.Fatal(err)
	}
	if a.OnBehalfOf != "alice" {
		t.Fatalf("approval %+v, want onBehalfOf alice", a)
	}
	post := e.fake.wait(t, "chat.postMessage", 1)[0]
	if !strings.Contains(post.Blocks, "helper-bot for alice") || !strings.Contains(post.Text, "helper-bot for alice") {
		t.Fatalf("card does not name the human: text %q blocks %s", post.Text, post.Blocks)
	}
	ts := waitNotice(t, e, a.ID)
	before := e.fake.count("chat.postEphemeral")
	body := payload("U0ALICE", slack.ActionApprove, a.ID, "C0PROD", ts, "")
	if code := do(t, signed(t, e.interactionsURL, body, time.Now())); code != 200 {
		t.Fatalf("status %d", code)
	}
	e.fake.wait(t, "chat.postEphemeral", before+1)
	if got, _ := e.admin.GetApproval(ctx, a.ID); got.Status != vsecure.StatusPending || got.Approvals != 0 {
		t.Fatalf("after alice's press: %+v", got)
	}
	en := e.auditOf(t, vsecure.AuditApprove, a.ID, false)
	if en.Actor != "alice" || en.Error != string(vsecure.ESelfApproval) || en.Metadata["channel"] != "slack" {
		t.Fatalf("audit of alice's press: %+v", en)
	}
	// alice withdraws her agent's request instead; the card says so and
	// offers no buttons any more.
	aliceKey, err := e.admin.CreateKey(ctx, api.KeyRequest{Principal: "alice", Roles: []string{"approver"}})
	if err != nil {
		t.Fatal(err)
	}
	alice, err := client.New(client.Config{BaseURL: e.url, Key: aliceKey.Secret})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := alice.CancelApproval(ctx, a.ID); err != nil || c.Status != vsecure.StatusCancelled {
		t.Fatalf("alice cancels: %+v, %v", c, err)
	}
	upd := lastWith(t, e.fake, "chat.update", "cancelled by alice")
	if !strings.Contains(upd.Blocks, "Cancelled") || !strings.Contains(upd.Blocks, "helper-bot for alice") || strings.Contains(upd.Blocks, slack.ActionApprove) {
		t.Fatalf("card after the cancel: %s", upd.Blocks)
	}
}
