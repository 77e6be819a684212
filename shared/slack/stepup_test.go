package slack_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/slack"
	"github.com/vsecure/vsecure/shared/vsecure"
)

const guardedURI = "vsecure://secrets/guarded/SIGNING_KEY"

// A request under a stepUp policy is announced with a link to the console
// and no Approve/Deny buttons; a press of those buttons anyway (an old
// message, a forged payload) is refused by the gate, audited, and answered
// with the way to the console.
func TestSlackStepUp(t *testing.T) {
	e := startSlack(t)
	ctx := context.Background()
	if _, err := e.admin.Configure(ctx, api.ResourceConfig{
		URI: "vsecure://secrets/guarded/*", Permissions: []vsecure.Operation{vsecure.OpRead},
		RequiresApproval: true, StepUp: true, Approvers: []string{"alice", "carol"}, SlackChannel: "C0PROD",
	}); err != nil {
		t.Fatal(err)
	}
	a, err := e.agent.RequestApproval(ctx, api.ApprovalRequest{Resource: guardedURI, Operation: "read", TTL: ptr(600)})
	if err != nil || !a.StepUp || a.ApprovalURL == "" {
		t.Fatalf("request: %+v %v", a, err)
	}
	post := e.fake.wait(t, "chat.postMessage", 1)[0]
	button := reviewButton(t, post.Blocks)
	if button["url"] != a.ApprovalURL || button["value"] != a.ID || !strings.Contains(post.Blocks, "Review in console") {
		t.Fatalf("the review button %v does not open %s", button, a.ApprovalURL)
	}
	for _, id := range []string{slack.ActionApprove, slack.ActionDeny} {
		if strings.Contains(post.Blocks, id) {
			t.Fatalf("a stepUp request offers %s in Slack:\n%s", id, post.Blocks)
		}
	}
	ts := waitNotice(t, e, a.ID)

	for i, action := range []string{slack.ActionApprove, slack.ActionDeny} {
		t.Run("forged_"+action+"_refused", func(t *testing.T) {
			n := len(e.hooks.hosts())
			body := payload("U0ALICE", action, a.ID, "C0PROD", ts, "https://hooks.slack.com/actions/T0TEAM/9/s"+string(rune('a'+i)))
			if code := do(t, signed(t, e.interactionsURL, body, time.Now())); code != 200 {
				t.Fatalf("status %d, want 200 (Slack shows an error otherwise)", code)
			}
			_, bodies := e.hooks.wait(t, n+1)
			if !strings.Contains(bodies[n], `"response_type":"ephemeral"`) || !strings.Contains(bodies[n], "passkey step-up") || !strings.Contains(bodies[n], a.ApprovalURL) {
				t.Fatalf("ephemeral answer %s does not point to the console at %s", bodies[n], a.ApprovalURL)
			}
			op := vsecure.AuditApprove
			if action == slack.ActionDeny {
				op = vsecure.AuditDeny
			}
			en := e.auditOf(t, op, a.ID, false)
			if en.Actor != "alice" || en.Error != string(vsecure.EStepUpRequired) || en.Metadata["slackUserId"] != "U0ALICE" {
				t.Fatalf("audit of the refused press: %+v", en)
			}
			if got, _ := e.admin.GetApproval(ctx, a.ID); got.Status != vsecure.StatusPending || len(got.Decisions) != 0 {
				t.Fatalf("after a refused press: %s with %d decisions", got.Status, len(got.Decisions))
			}
		})
	}

	t.Run("review_link_press_decides_nothing", func(t *testing.T) {
		n := len(e.hooks.hosts())
		body := payload("U0ALICE", slack.ActionReview, a.ID, "C0PROD", ts, "https://hooks.slack.com/actions/T0TEAM/9/r")
		if code := do(t, signed(t, e.interactionsURL, body, time.Now())); code != 200 {
			t.Fatalf("status %d", code)
		}
		if en := e.auditOf(t, vsecure.AuditSlack, "", true); en.Metadata["slackUserId"] != "U0ALICE" {
			t.Fatalf("the link press is not recorded: %+v", en)
		}
		if got, _ := e.admin.GetApproval(ctx, a.ID); got.Status != vsecure.StatusPending {
			t.Fatalf("status %s after a link press", got.Status)
		}
		if m := len(e.hooks.hosts()); m != n {
			t.Fatalf("a link press was answered (%d response_url calls, want %d)", m, n)
		}
	})
	if c := e.fake.count("chat.update"); c != 0 {
		t.Fatalf("%d message updates after presses that changed nothing", c)
	}
}

// Without an approvalUrl to link to, a stepUp card offers no button at
// all, only the note; once closed it shows the outcome as any card does.
func TestStepUpCardWithoutURL(t *testing.T) {
	fake := newFakeSlack(t)
	now := time.Date(2024, 3, 15, 10, 30, 0, 0, time.UTC)
	n := slack.NewNotifier(slack.NotifierConfig{
		Slack: slack.Config{BotToken: botToken, APIURL: fake.URL, DefaultChannel: "C0X"},
		Now:   func() time.Time { return now },
	})
	a := vsecure.Approval{
		ID: "appr_1", Resource: guardedURI, Operation: vsecure.OpRead, RequestedBy: "agent-1",
		RequestedAt: now, ExpiresAt: now.Add(time.Hour), TTL: 3600, Status: vsecure.StatusPending,
		Approvers: []string{"alice"}, RequiredApprovals: 1, StepUp: true,
	}
	if _, err := n.Requested(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	post := fake.wait(t, "chat.postMessage", 1)[0]
	if strings.Contains(post.Blocks, `"type":"actions"`) || !strings.Contains(post.Blocks, "passkey step-up") {
		t.Fatalf("a stepUp card without a URL:\n%s", post.Blocks)
	}
}

// reviewButton is the one button of the posted blocks; it must be the
// console link.
func reviewButton(t *testing.T, blocks string) map[string]any {
	t.Helper()
	var bs []map[string]any
	if err := json.Unmarshal([]byte(blocks), &bs); err != nil {
		t.Fatalf("blocks: %v", err)
	}
	var buttons []map[string]any
	for _, b := range bs {
		if b["type"] != "actions" {
			continue
		}
		els, _ := b["elements"].([]any)
		for _, el := range els {
			buttons = append(buttons, el.(map[string]any))
		}
	}
	if len(buttons) != 1 || buttons[0]["action_id"] != slack.ActionReview {
		t.Fatalf("buttons %v, want the one review link:\n%s", buttons, blocks)
	}
	return buttons[0]
}
