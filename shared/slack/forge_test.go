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

// hostile is requester text trying every trick mrkdwn offers, and new
// lines that read like the card's own status and approval count.
var hostile = strings.Join([]string{
	"routine check", "*Status*", ":white_check_mark: Approved", "Status", "Approved", "Approvals", "2 of 1",
	"*bold* <!channel> <!here> <@U123> <http://x|y> &amp; done",
}, "\n")

// forged are pieces of hostile that must never reach a mrkdwn object
// (or the mrkdwn-parsed fallback text) as they are.
var forged = []string{"*bold*", "<!channel>", "<!here>", "<@U123>", "<http://x|y>"}

// mentions are the control sequences that must not reach the fallback
// text unescaped. Slack shows the fallback in push notifications, which
// render no bold, so only these (and line breaks) matter there.
var mentions = []string{"<!channel>", "<!here>", "<@U123>", "<http://x|y>"}

// forgedLines must not appear as a line of their own anywhere on the card
// (the approved status line only once, as the card's own, when approved).
var forgedLines = []string{":white_check_mark: Approved", "Approved", "2 of 1"}

// textObject is one Block Kit text object as sent.
type textObject struct{ Type, Text string }

// textObjects walks the blocks JSON sent to Slack and returns every text
// object in it.
func textObjects(t *testing.T, blocks string) []textObject {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(blocks), &v); err != nil {
		t.Fatalf("blocks are not JSON: %v\n%s", err, blocks)
	}
	var out []textObject
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			if typ, _ := x["type"].(string); typ == "mrkdwn" || typ == "plain_text" {
				s, _ := x["text"].(string)
				out = append(out, textObject{typ, s})
				return
			}
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return out
}

// checkCard asserts the rules on one message: nothing forged in mrkdwn or
// the fallback, the requester text present (as plain_text, or escaped), and
// no line of the card forged by a line break.
func checkCard(t *testing.T, c call, status vsecure.Status) {
	t.Helper()
	objs := textObjects(t, c.Blocks)
	if len(objs) == 0 {
		t.Fatalf("%s without blocks: %+v", c.Method, c)
	}
	for _, f := range mentions {
		if strings.Contains(c.Text, f) {
			t.Errorf("%s: the fallback text carries %q unescaped: %q", c.Method, f, c.Text)
		}
	}
	if strings.ContainsAny(c.Text, "\n\r") {
		t.Errorf("%s: the fallback text has a line break: %q", c.Method, c.Text)
	}
	inPlain := false
	var lines []string
	for _, o := range objs {
		lines = append(lines, strings.Split(o.Text, "\n")...)
		if o.Type == "mrkdwn" {
			for _, f := range forged {
				if strings.Contains(o.Text, f) {
					t.Errorf("%s: mrkdwn object carries %q unescaped: %q", c.Method, f, o.Text)
				}
			}
			continue
		}
		if strings.Contains(o.Text, "<!channel>") && strings.Contains(o.Text, "*bold*") && strings.Contains(o.Text, "<http://x|y>") {
			inPlain = true
		}
	}
	if !inPlain {
		t.Errorf("%s: the reason is in no plain_text object: %s", c.Method, c.Blocks)
	}
	count := map[string]int{}
	for _, l := range lines {
		count[strings.TrimSpace(l)]++
	}
	for _, l := range forgedLines {
		want := 0
		if l == ":white_check_mark: Approved" && status == vsecure.StatusApproved {
			want = 1
		}
		if count[l] != want {
			t.Errorf("%s: %d lines read %q, want %d: %s", c.Method, count[l], l, want, c.Blocks)
		}
	}
	// The card's own labels, once each, in whatever style the card uses.
	for _, l := range []string{"Status", "Approvals"} {
		if n := count[l] + count["*"+l+"*"]; n != 1 {
			t.Errorf("%s: %d lines read %q, want only the card's own: %s", c.Method, n, l, c.Blocks)
		}
	}
}

func TestRequesterTextCannotForgeCard(t *testing.T) {
	t.Run("reason_through_the_api_and_every_rewrite", func(t *testing.T) {
		e := startSlack(t)
		ctx := context.Background()
		a, err := e.agent.RequestApproval(ctx, api.ApprovalRequest{Resource: prodURI, Operation: "read", Reason: hostile, TTL: ptr(600)})
		if err != nil {
			t.Fatal(err)
		}
		checkCard(t, e.fake.wait(t, "chat.postMessage", 1)[0], vsecure.StatusPending)
		ts := waitNotice(t, e, a.ID)
		// A refused press is answered ephemerally, with our text only.
		do(t, signed(t, e.interactionsURL, payload("U0BOB", slack.ActionApprove, a.ID, "C0PROD", ts, ""), time.Now()))
		if eph := e.fake.wait(t, "chat.postEphemeral", 1)[0]; strings.ContainsAny(eph.Text, "<>*") {
			t.Errorf("ephemeral refusal %q", eph.Text)
		}
		do(t, signed(t, e.interactionsURL, payload("U0ALICE", slack.ActionApprove, a.ID, "C0PROD", ts, ""), time.Now()))
		checkCard(t, lastWith(t, e.fake, "chat.update", "approved by alice"), vsecure.StatusApproved)
		if _, err := e.admin.Revoke(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		checkCard(t, lastWith(t, e.fake, "chat.update", "revoked by admin"), vsecure.StatusRevoked)
	})
	// The URI grammar and principal rules keep mrkdwn out of resources and
	// names today; the card must not rely on that.
	t.Run("every_field_on_every_status", func(t *testing.T) {
		fake := newFakeSlack(t)
		now := time.Date(2024, 3, 15, 10, 30, 0, 0, time.UTC)
		clock := now
		n := slack.NewNotifier(slack.NotifierConfig{
			Slack: slack.Config{BotToken: botToken, APIURL: fake.URL, DefaultChannel: "C0X"},
			URL:   func(id string) string { return "https://vsecure.example/v1/security/mcp/approvals/" + id },
			Now:   func() time.Time { return clock },
		})
		name := "vsecure://secrets/prod/" + hostile
		a := vsecure.Approval{
			ID: "appr_1", Resource: name, Operation: vsecure.OpRead, Reason: hostile, RequestedBy: hostile,
			RequestedAt: now, ExpiresAt: now.Add(time.Hour), TTL: 3600, Status: vsecure.StatusPending,
			Approvers: []string{"alice"}, RequiredApprovals: 1,
		}
		notice, err := n.Requested(context.Background(), a)
		if err != nil {
			t.Fatal(err)
		}
		checkCard(t, fake.wait(t, "chat.postMessage", 1)[0], vsecure.StatusPending)
		a.Notice = notice
		at := now.Add(time.Minute)
		for i, step := range []func(){
			func() {
				a.Status, a.ApprovedBy, a.ApprovedAt = vsecure.StatusApproved, hostile, &at
				a.Decisions = []vsecure.Decision{{By: hostile, Action: vsecure.ActionApprove, Reason: hostile, At: at}}
			},
			func() { a.Status, a.RevokedBy, a.RevokedAt = vsecure.StatusRevoked, hostile, &at },
			func() {
				a.Status, a.Decisions, a.RevokedBy, a.RevokedAt = vsecure.StatusDenied, []vsecure.Decision{{By: hostile, Action: vsecure.ActionDeny, At: at}}, "", nil
			},
			func() { a.Status, a.Decisions = vsecure.StatusPending, nil; clock = now.Add(2 * time.Hour) }, // expired
		} {
			step()
			if err := n.Closed(context.Background(), a); err != nil {
				t.Fatal(err)
			}
			checkCard(t, fake.wait(t, "chat.update", i+1)[i], a.StatusAt(clock))
		}
	})
}
