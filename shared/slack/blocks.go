package slack

import (
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/slack-go/slack"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// Block and action ids of the approval message. The action value is the
// approval id; nothing else in a press is trusted to name the request.
const (
	BlockActions  = "vsecure_decide"
	ActionApprove = "vsecure_approve"
	ActionDeny    = "vsecure_deny"
	// ActionReview is the link button of an approval whose policy has
	// stepUp: it opens the console and decides nothing (Slack still
	// posts the press; the handler only records it).
	ActionReview = "vsecure_review"
)

// card is what the message shows: the parts of an approval a human needs,
// never a secret value, token or task token.
type card struct {
	// RequestedBy reads "ai-agent-123 for alice" for an agent acting for
	// a human (vsecure.RequesterLabel).
	ID, Resource, Operation, Reason, RequestedBy string
	ExpiresAt                                    time.Time
	Status                                       vsecure.Status
	Approvals, Required                          int
	Decisions                                    []vsecure.Decision
	RevokedBy                                    string
	RevokedAt                                    *time.Time
	CancelledBy                                  string
	CancelledAt                                  *time.Time
	URL                                          string
	// StepUp: deciding needs a passkey step-up, which only the console
	// takes, so the card links there instead of offering buttons.
	StepUp bool
	// Via notes who pressed in Slack for the latest change: a user
	// mention built by mention(), so only a well-formed user id.
	Via string
}

func cardOf(a vsecure.Approval, now time.Time, url string) card {
	return card{
		ID: a.ID, Resource: a.Resource, Operation: string(a.Operation), Reason: a.Reason,
		RequestedBy: vsecure.RequesterLabel(a.RequestedBy, a.OnBehalfOf), ExpiresAt: a.ExpiresAt, Status: a.StatusAt(now),
		Approvals: a.Approvals(), Required: a.RequiredApprovals, Decisions: a.Decisions,
		RevokedBy: a.RevokedBy, RevokedAt: a.RevokedAt, CancelledBy: a.CancelledBy, CancelledAt: a.CancelledAt, URL: url, StepUp: a.StepUp,
	}
}

func cardOfView(v api.ApprovalView) card {
	return card{
		ID: v.ID, Resource: v.Resource, Operation: string(v.Operation), Reason: v.Reason,
		RequestedBy: v.Requester(), ExpiresAt: v.ExpiresAt, Status: v.Status,
		Approvals: v.Approvals, Required: v.RequiredApprovals, Decisions: v.Decisions,
		RevokedBy: v.RevokedBy, RevokedAt: v.RevokedAt, CancelledBy: v.CancelledBy, CancelledAt: v.CancelledAt, URL: v.ApprovalURL, StepUp: v.StepUp,
	}
}

// escape makes text inert in mrkdwn by Slack's escaping rules (&, <, >):
// no <!channel>, no <@U…> mention, no <url|label> link.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// maxShown bounds one piece of requester text on the card, well inside
// Slack's 2000-character limit of a field, so a long reason shortens
// rather than gets the whole message refused.
const maxShown = 1500

// oneLine folds requester text onto one line: each line break becomes a
// visible " ↵ ", and control and bidi-override characters (which could
// reorder what a human reads) are dropped. A reason can then never start
// a line of its own that reads like the card's status or approval count.
func oneLine(s string) string {
	var b strings.Builder
	n := 0
	for _, r := range strings.ReplaceAll(s, "\r\n", "\n") {
		if n == maxShown {
			b.WriteString("…")
			break
		}
		switch {
		case r == '\n' || r == '\r' || r == '\v' || r == '\f' || r == 0x85 || r == 0x2028 || r == 0x2029:
			b.WriteString(" ↵ ")
		case unicode.IsControl(r) || r >= 0x202A && r <= 0x202E || r >= 0x2066 && r <= 0x2069 || r == 0x200E || r == 0x200F:
			continue
		default:
			b.WriteRune(r)
		}
		n++
	}
	return b.String()
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// mrkdwn is for text our code writes, and escape()d values only.
func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, true)
}

func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, false, false)
}

// ours is a plain_text object of our own text, emoji codes rendered.
func ours(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, true, false)
}

// field is a plain_text "Label" line over one line of requester text:
// Slack shows plain_text as is (no formatting, mentions or links) and,
// with emoji off, leaves :codes: as typed.
func field(label, value string) *slack.TextBlockObject {
	return plain(label + "\n" + oneLine(value))
}

// slackUserID accepts a Slack user id (U… or W…, upper-case alphanumerics)
// before it is written into a mention.
func slackUserID(s string) bool {
	if len(s) < 2 || len(s) > 32 || (s[0] != 'U' && s[0] != 'W') {
		return false
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
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
	case vsecure.StatusCancelled:
		return ":leftwards_arrow_with_hook: Cancelled"
	}
	return string(s)
}

// fallback is the notification text (push notifications, screen
// readers). Slack parses it as mrkdwn, so requester text is escaped.
func (c card) fallback() string {
	if c.Status == vsecure.StatusPending {
		return fmt.Sprintf("%s requests %s on %s", escape(oneLine(c.RequestedBy)), c.Operation, escape(oneLine(c.Resource)))
	}
	return fmt.Sprintf("Approval %s for %s on %s: %s", c.ID, c.Operation, escape(oneLine(c.Resource)), c.Status)
}

// blocks renders the message. Buttons are shown only while the request is
// pending; afterwards the message records who decided and when. A request
// whose policy has stepUp gets a link to the console instead: a press in
// Slack carries no passkey step-up, so it could only be refused.
//
// Everything the requester chose (resource, reason) and every principal
// name is a plain_text object on one line: it cannot bold, mention, link,
// or add a line that looks like the status or the approval count. The one
// mrkdwn object is the context line, written by this code alone.
func (c card) blocks() []slack.Block {
	header := "Approval requested: " + c.Operation
	if c.Status != vsecure.StatusPending {
		header = "Approval " + string(c.Status) + ": " + c.Operation
	}
	fields := []*slack.TextBlockObject{
		field("Resource", c.Resource),
		field("Operation", c.Operation),
		field("Requested by", c.RequestedBy),
		ours("Expires\n" + stamp(c.ExpiresAt)),
		ours(fmt.Sprintf("Approvals\n%d of %d", c.Approvals, c.Required)),
		ours("Status\n" + statusLabel(c.Status)),
	}
	bs := []slack.Block{
		slack.NewHeaderBlock(plain(oneLine(header))),
		slack.NewSectionBlock(nil, fields, nil),
	}
	if c.Reason != "" {
		bs = append(bs, slack.NewSectionBlock(field("Reason", c.Reason), nil, nil))
	}
	if len(c.Decisions) > 0 || c.RevokedBy != "" || c.CancelledBy != "" {
		var lines []string
		for _, d := range c.Decisions {
			verb := "approved"
			if d.Action == vsecure.ActionDeny {
				verb = "denied"
			}
			lines = append(lines, fmt.Sprintf("• %s by %s at %s", verb, oneLine(d.By), stamp(d.At)))
		}
		if c.RevokedBy != "" && c.RevokedAt != nil {
			lines = append(lines, fmt.Sprintf("• revoked by %s at %s", oneLine(c.RevokedBy), stamp(*c.RevokedAt)))
		}
		if c.CancelledBy != "" && c.CancelledAt != nil {
			lines = append(lines, fmt.Sprintf("• cancelled by %s at %s", oneLine(c.CancelledBy), stamp(*c.CancelledAt)))
		}
		bs = append(bs, slack.NewSectionBlock(plain(strings.Join(lines, "\n")), nil, nil))
	}
	switch {
	case c.Status != vsecure.StatusPending:
	case c.StepUp:
		bs = append(bs, slack.NewSectionBlock(ours(stepUpNote), nil, nil))
		if c.URL != "" {
			review := slack.NewButtonBlockElement(ActionReview, c.ID, plain("Review in console")).WithURL(c.URL).WithStyle(slack.StylePrimary)
			bs = append(bs, slack.NewActionBlock(BlockActions, review))
		}
	default:
		approve := slack.NewButtonBlockElement(ActionApprove, c.ID, plain("Approve")).WithStyle(slack.StylePrimary)
		deny := slack.NewButtonBlockElement(ActionDeny, c.ID, plain("Deny")).WithStyle(slack.StyleDanger).
			WithConfirm(slack.NewConfirmationBlockObject(plain("Deny this request?"),
				plain("The requester will not get access."), plain("Deny"), plain("Cancel")))
		bs = append(bs, slack.NewActionBlock(BlockActions, approve, deny))
	}
	ctx := "`" + escape(c.ID) + "`"
	if c.URL != "" {
		ctx += " · <" + escape(c.URL) + "|approvalUrl>"
	}
	if c.Via != "" {
		ctx += " · via Slack by " + c.Via
	}
	bs = append(bs, slack.NewContextBlock("", mrkdwn(ctx)))
	return bs
}

// stepUpNote says why a stepUp card has no Approve/Deny buttons.
const stepUpNote = ":closed_lock_with_key: Deciding this request needs a passkey step-up: approve or deny it in the vsecure console."

// mention renders a Slack user id as a mention, or nothing if it is not
// an id.
func mention(user string) string {
	if !slackUserID(user) {
		return ""
	}
	return "<@" + user + ">"
}
