package gate

import (
	"context"
	"slices"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// ValidateSlackUserID checks a Slack user id: Slack's ids are short runs of
// upper-case letters and digits (U…, W… in Enterprise Grid). Empty is
// valid and means none.
func ValidateSlackUserID(id string) error {
	if len(id) > 32 {
		return vsecure.Errorf(vsecure.EInvalid, "slackUserId too long")
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return vsecure.Errorf(vsecure.EInvalid, "slackUserId must be a Slack user id such as U012AB3CD")
		}
	}
	return nil
}

// SlackPrincipal resolves the Slack user behind a button press to the
// principal of its active keys. A user with no active key, or whose active
// keys belong to more than one principal, is refused (unauthenticated): a
// Slack id must name exactly one person. The refusal is audited by the
// caller, which knows the payload.
func (g *Gate) SlackPrincipal(ctx context.Context, slackUserID string) (vsecure.Principal, error) {
	unknown := vsecure.Errorf(vsecure.EUnauthenticated, "this Slack user is not mapped to a vsecure approver")
	if slackUserID == "" || ValidateSlackUserID(slackUserID) != nil {
		return vsecure.Principal{}, unknown
	}
	keys, err := g.store.KeysBySlackUser(ctx, slackUserID)
	if err != nil {
		return vsecure.Principal{}, err
	}
	now := g.clock()
	var p vsecure.Principal
	for _, k := range keys {
		if !k.Active(now) {
			continue
		}
		switch p.ID {
		case "":
			p.ID, p.KeyID = k.Principal, k.ID
		case k.Principal:
		default:
			return vsecure.Principal{}, vsecure.Errorf(vsecure.EUnauthenticated, "this Slack user is mapped to more than one principal; ask an admin to fix the mapping")
		}
		for _, r := range k.Roles {
			if !slices.Contains(p.Roles, r) {
				p.Roles = append(p.Roles, r)
			}
		}
	}
	if p.ID == "" {
		return vsecure.Principal{}, unknown
	}
	return p, nil
}

// RecordSlack audits a Slack interaction that changed nothing (a payload
// type vsecure does not act on, or a press refused before the decision
// service ran). err nil records a success, otherwise a refusal; it returns
// err, or audit_unavailable if the entry could not be written. Refusals
// of posts that are not Slack's (unsigned, stale) carry no Slack metadata
// and are aggregated per source like bad keys (refusals.go).
func (g *Gate) RecordSlack(ctx context.Context, c Call, approvalID string, err error) error {
	e := g.entry(c, vsecure.AuditSlack, "")
	e.ApprovalID = approvalID
	if err != nil {
		return g.refuse(ctx, e, err)
	}
	return g.appendOK(ctx, e)
}
