package slack

import (
	"fmt"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// Block and action ids of the approval message. The action value is the
// approval id; nothing else in a press is trusted to name the request.
const (
	BlockActions  = "vsecure_decide"
	ActionApprove = "vsecure_approve"
	ActionDeny    = "vsecure_deny"
)

// card is what the message shows: the parts of an approval a human needs,
// never a secret value, token or task token.
type card struct {
	ID, Resource, Operation, Reason, RequestedBy string
	ExpiresAt                                    time.Time
	Status                                       vsecure.Status
	Approvals, Required                          int
	Decisions                                    []vsecure.Decision
	RevokedBy                                    string
	RevokedAt                                    *time.Time
	URL                                          string
	// Via notes who pressed in Slack for the latest change (a user mention).
	Via string
}

func cardOf(a vsecure.Approval, now time.Time, url string) card {
	return card{
		ID: a.ID, Resource: a.Resource, Operation: string(a.Operation), Reason: a.Reason,
		RequestedBy: a.RequestedBy, ExpiresAt: a.ExpiresAt, Status: a.StatusAt(now),
		Approvals: a.Approvals(), Required: a.RequiredApprovals, Decisions: a.Decisions,
		RevokedBy: a.RevokedBy, RevokedAt: a.RevokedAt, URL: url,
	}
}

func cardOfView(v gate.ApprovalView) card {
	return card{
		ID: v.ID, Resource: v.Resource, Operation: string(v.Operation), Reason: v.Reason,
		RequestedBy: v.RequestedBy, ExpiresAt: v.ExpiresAt, Status: v.Status,
		Approvals: v.Approvals, Required: v.RequiredApprovals, Decisions: v.Decisions,
		RevokedBy: v.RevokedBy, RevokedAt: v.RevokedAt, URL: v.ApprovalURL,
	}
}

// escape makes user-supplied text inert in mrkdwn: no <!channel>, no
// links, no user mentions smuggled in through a reason.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, true)
}

func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, false, false)
}

func statusLabel(s vsecure.Status) string {
	switch s {
	case vsecure.StatusPending:
		return ":hourglass_flowing_sand: Pending"
	case vsecure.StatusApproved:
		return ":white_check_mark: Approved"
	case vsecure.StatusDenied:
		return ":no_entry: Denied"
	case vsecure.StatusExpired:
		return ":alarm_clock: Expired"
	case vsecure.StatusRevoked:
		return ":lock: Revoked"
	}
	return string(s)
}

// fallback is the notification text (push notifications, screen readers).
func (c card) fallback() string {
	if c.Status == vsecure.StatusPending {
		return fmt.Sprintf("%s requests %s on %s", c.RequestedBy, c.Operation, c.Resource)
	}
	return fmt.Sprintf("Approval %s for %s on %s: %s", c.ID, c.Operation, c.Resource, c.Status)
}

// blocks renders the message. Buttons are shown only while the request is
// pending; afterwards the message records who decided and when.
func (c card) blocks() []slack.Block {
	label := statusLabel(c.Status)
	header := "Approval requested: " + c.Operation
	if c.Status != vsecure.StatusPending {
		header = "Approval " + string(c.Status) + ": " + c.Operation
	}
	fields := []*slack.TextBlockObject{
		mrkdwn("*Resource*\n`" + escape(c.Resource) + "`"),
		mrkdwn("*Operation*\n" + escape(c.Operation)),
		mrkdwn("*Requested by*\n" + escape(c.RequestedBy)),
		mrkdwn("*Expires*\n" + stamp(c.ExpiresAt)),
		mrkdwn(fmt.Sprintf("*Approvals*\n%d of %d", c.Approvals, c.Required)),
		mrkdwn("*Status*\n" + label),
	}
	bs := []slack.Block{
		slack.NewHeaderBlock(plain(header)),
		slack.NewSectionBlock(nil, fields, nil),
	}
	if c.Reason != "" {
		bs = append(bs, slack.NewSectionBlock(mrkdwn("*Reason*\n"+escape(c.Reason)), nil, nil))
	}
	if len(c.Decisions) > 0 || c.RevokedBy != "" {
		var lines []string
		for _, d := range c.Decisions {
			verb := "approved"
			if d.Action == vsecure.ActionDeny {
				verb = "denied"
			}
			lines = append(lines, fmt.Sprintf("• %s by *%s* at %s", verb, escape(d.By), stamp(d.At)))
		}
		if c.RevokedBy != "" && c.RevokedAt != nil {
			lines = append(lines, fmt.Sprintf("• revoked by *%s* at %s", escape(c.RevokedBy), stamp(*c.RevokedAt)))
		}
		bs = append(bs, slack.NewSectionBlock(mrkdwn(strings.Join(lines, "\n")), nil, nil))
	}
	if c.Status == vsecure.StatusPending {
		approve := slack.NewButtonBlockElement(ActionApprove, c.ID, plain("Approve")).WithStyle(slack.StylePrimary)
		deny := slack.NewButtonBlockElement(ActionDeny, c.ID, plain("Deny")).WithStyle(slack.StyleDanger).
			WithConfirm(slack.NewConfirmationBlockObject(plain("Deny this request?"),
				plain("The requester will not get access."), plain("Deny"), plain("Cancel")))
		bs = append(bs, slack.NewActionBlock(BlockActions, approve, deny))
	}
	ctx := "`" + c.ID + "`"
	if c.URL != "" {
		ctx += " · <" + c.URL + "|approvalUrl>"
	}
	if c.Via != "" {
		ctx += " · via Slack by " + c.Via
	}
	bs = append(bs, slack.NewContextBlock("", mrkdwn(ctx)))
	return bs
}
