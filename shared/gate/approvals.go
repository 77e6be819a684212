package gate

import (
	"context"
	"slices"
	"time"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/vsecure"
)

func (g *Gate) view(a vsecure.Approval, now time.Time) api.ApprovalView {
	return api.ApprovalView{
		ID: a.ID, Status: a.StatusAt(now), Resource: a.Resource, Operation: a.Operation, Reason: a.Reason,
		RequestedBy: a.RequestedBy, OnBehalfOf: a.OnBehalfOf, RequestedAt: a.RequestedAt, ExpiresAt: a.ExpiresAt, TTL: a.TTL,
		Approvers: a.Approvers, RequiredApprovals: a.RequiredApprovals, StepUp: a.StepUp, MaxUses: a.MaxUses, UsesLeft: a.UsesLeft, Approvals: a.Approvals(),
		Decisions: a.Decisions, ApprovedBy: a.ApprovedBy, ApprovedAt: a.ApprovedAt,
		DeniedBy: a.DeniedBy, DeniedAt: a.DeniedAt, RevokedBy: a.RevokedBy, RevokedAt: a.RevokedAt,
		CancelledBy: a.CancelledBy, CancelledAt: a.CancelledAt,
		ApprovalURL: g.ApprovalURL(a.ID),
	}
}

// ApprovalURL is where a human looks at an approval.
func (g *Gate) ApprovalURL(id string) string {
	if g.approvalURL == nil {
		return ""
	}
	return g.approvalURL(id)
}

const maxReason = 1000

// RequestApproval records a request for op on a concrete resource. It is
// approved at once when the policy needs no approval or its autoApprove
// conditions hold; then the response carries the access token.
func (g *Gate) RequestApproval(ctx context.Context, c Call, r api.ApprovalRequest) (api.ApprovalView, error) {
	e := g.entry(c, vsecure.AuditRequestApproval, r.Resource)
	p := c.Principal
	if !p.HasAny(vsecure.RoleAgent, vsecure.RoleAdmin) {
		return api.ApprovalView{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EForbidden, "requesting approval needs the agent role"))
	}
	if r.RequestedBy != "" && r.RequestedBy != p.ID {
		return api.ApprovalView{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EForbidden, "requestedBy must be the caller (%s) or omitted", p.ID))
	}
	u, err := vsecure.ParseURI(r.Resource)
	if err != nil {
		return api.ApprovalView{}, g.fail(ctx, e, err)
	}
	if u.IsPattern() {
		return api.ApprovalView{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EInvalid, "approval is requested for one resource, not a pattern"))
	}
	e.Resource = u.String()
	op, err := vsecure.ParseOperation(r.Operation)
	if err != nil {
		return api.ApprovalView{}, g.fail(ctx, e, err)
	}
	if len(r.Reason) > maxReason {
		return api.ApprovalView{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EInvalid, "reason may have at most %d bytes", maxReason))
	}
	view, err := g.store.LoadAccess(ctx, vsecure.AccessQuery{Principal: p.ID, Resource: u, Operation: op})
	if err != nil {
		return api.ApprovalView{}, g.fail(ctx, e, err)
	}
	pol := vsecure.Governing(view.Policies, u)
	if pol == nil {
		return api.ApprovalView{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EForbidden, "no policy covers %s", u))
	}
	if !pol.Permits(op) {
		return api.ApprovalView{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EOperationNotAllowed, "the policy %s does not permit %s; an approval cannot widen it", pol.URI, op))
	}
	ttl := vsecure.DefaultTTL
	if r.TTL != nil {
		ttl = *r.TTL
	}
	if ttl < 1 || ttl > pol.EffectiveMaxTTL() {
		return api.ApprovalView{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EInvalid, "ttl must be between 1 and %d seconds", pol.EffectiveMaxTTL()))
	}
	maxUses, err := requestedUses(pol, op, r.MaxUses)
	if err != nil {
		return api.ApprovalView{}, g.fail(ctx, e, err)
	}
	if err := g.takeApprovalToken(ctx, p.ID); err != nil {
		return api.ApprovalView{}, g.fail(ctx, e, err)
	}
	now := g.clock().Truncate(time.Second)
	a := vsecure.Approval{
		ID: g.newID("appr_", g.now()), Resource: u.String(), Operation: op, Reason: r.Reason,
		RequestedBy: p.ID, OnBehalfOf: p.OnBehalfOf, RequestedByKey: p.KeyID, RequestedAt: now, ExpiresAt: now.Add(time.Duration(ttl) * time.Second), TTL: ttl,
		Status: vsecure.StatusPending, Approvers: pol.Approvers, RequiredApprovals: pol.Quorum(),
		SlackChannel: pol.SlackChannel, StepUp: pol.StepUp, MaxUses: maxUses, UsesLeft: maxUses, Version: 1,
	}
	var token string
	if !pol.RequiresApproval || pol.AutoApproves(p.ID, now) {
		a = a.AutoApprove()
		token = g.secret(TokenPrefix)
		a.TokenHash = HashCredential(token)
		e.Metadata["approvedBy"] = vsecure.AutoApprover
	}
	e.ApprovalID = a.ID
	if err := g.store.CreateApproval(ctx, a, e); err != nil {
		return api.ApprovalView{}, g.stateFail(ctx, e, err)
	}
	if err := g.workflow.Started(ctx, a); err != nil {
		g.log.WarnContext(ctx, "workflow start failed; the approval stands", "approvalId", a.ID, "err", err)
	}
	v := g.view(a, now)
	v.AccessToken = token
	return v, nil
}

// requestedUses is the use cap of a new approval for op: the request's
// maxUses, at most the policy's, else the policy's. Only reads and uses
// spend uses, so a write request carries none.
func requestedUses(pol *vsecure.Policy, op vsecure.Operation, asked *int) (int, error) {
	if op == vsecure.OpWrite {
		if asked != nil {
			return 0, vsecure.Errorf(vsecure.EInvalid, "maxUses counts reads and uses; a write request cannot carry it")
		}
		return 0, nil
	}
	if asked == nil {
		return pol.MaxUses, nil
	}
	limit := pol.MaxUses
	if limit == 0 {
		limit = vsecure.MaxMaxUses
	}
	if *asked < 1 || *asked > limit {
		return 0, vsecure.Errorf(vsecure.EInvalid, "maxUses must be between 1 and %d (the policy %s allows no more)", limit, pol.URI)
	}
	return *asked, nil
}

// NoApprovalRate in Config.ApprovalRate lets approval requests through
// unlimited (tests that ask more often than any agent should).
var NoApprovalRate = vsecure.RateLimit{Burst: -1}

// takeApprovalToken takes one of the requester's approval-request tokens
// from the store. A store that cannot answer refuses the request: an
// unlimited requester could bury the approvers.
func (g *Gate) takeApprovalToken(ctx context.Context, requester string) error {
	if g.approvalRate.Burst < 0 {
		return nil
	}
	ok, wait, err := g.store.TakeToken(ctx, vsecure.ApprovalBucket(requester), g.approvalRate, g.now())
	if err != nil {
		return vsecure.Wrap(vsecure.EUnavailable, err, "the approval request limit cannot be checked; retry later")
	}
	if !ok {
		return vsecure.RateLimited(wait, "too many approval requests from "+requester+"; retry later")
	}
	return nil
}

// maxRaceRetries bounds re-reads after a lost conditional write (quorum
// votes racing each other).
const maxRaceRetries = 8

// Decide applies an approver's decision. Racing approvers each re-read
// after a lost conditional write, so exactly one completes the decision and
// the others see already_decided (or add their vote to a quorum).
func (g *Gate) Decide(ctx context.Context, c Call, id string, r api.Respond) (api.ApprovalView, error) {
	e := g.entry(c, vsecure.AuditRespond, "")
	e.ApprovalID = id
	p := c.Principal
	action := vsecure.Action(r.Action)
	switch action {
	case vsecure.ActionApprove:
		e.Operation = vsecure.AuditApprove
	case vsecure.ActionDeny:
		e.Operation = vsecure.AuditDeny
	default:
		return api.ApprovalView{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EInvalid, "action must be approve or deny"))
	}
	if r.ApprovedBy != "" && r.ApprovedBy != p.ID {
		return api.ApprovalView{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EForbidden, "approvedBy must be the caller (%s) or omitted", p.ID))
	}
	if !p.HasAny(vsecure.RoleApprover, vsecure.RoleAdmin) {
		return api.ApprovalView{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EForbidden, "deciding approvals needs the approver role"))
	}
	if len(r.Reason) > maxReason {
		return api.ApprovalView{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EInvalid, "reason may have at most %d bytes", maxReason))
	}
	for attempt := 0; ; attempt++ {
		a, err := g.store.GetApproval(ctx, id)
		if err != nil {
			return api.ApprovalView{}, g.fail(ctx, e, err)
		}
		e.Resource = a.Resource
		if p.ID != a.RequestedBy && a.ActsForRequester(p) {
			// The human an agent acts for, or another of their agents,
			// is the requester as far as separation of duties goes.
			return api.ApprovalView{}, g.fail(ctx, e, vsecure.Errorf(vsecure.ESelfApproval, "%s cannot decide a request made by or for %s", p.ID, vsecure.RequesterLabel(a.RequestedBy, a.OnBehalfOf)))
		}
		now := g.clock()
		next, err := a.Decide(p.ID, action, r.Reason, now)
		if err == nil {
			err = g.stepUp(c, a, e, now)
		}
		if err != nil {
			return api.ApprovalView{}, g.fail(ctx, e, err)
		}
		var token string
		if next.Status == vsecure.StatusApproved {
			token = g.secret(TokenPrefix)
			next.TokenHash = HashCredential(token)
		}
		if r.Reason != "" {
			e.Metadata["reason"] = r.Reason
		}
		e.Metadata["status"] = string(next.Status)
		err = g.store.UpdateApproval(ctx, next, e)
		if vsecure.IsCode(err, vsecure.EConflict) && attempt < maxRaceRetries {
			continue
		}
		if err != nil {
			return api.ApprovalView{}, g.stateFail(ctx, e, err)
		}
		if next.Status != vsecure.StatusPending {
			if err := g.workflow.Decided(ctx, next); err != nil {
				g.log.WarnContext(ctx, "workflow notify of decision failed; the decision stands", "approvalId", id, "err", err)
			}
		}
		v := g.view(next, now)
		v.AccessToken = token
		return v, nil
	}
}

// stepUp enforces a stepUp policy on a decision or revocation the
// approval's rules otherwise allow, so that only someone who could decide
// is told to step up. A step-up the call carries is recorded in e whether
// or not the approval needs it: the entry says what the decider proved.
func (g *Gate) stepUp(c Call, a vsecure.Approval, e vsecure.Entry, now time.Time) error {
	// Only Call.StepUp may claim a step-up, never the adapter's metadata.
	delete(e.Metadata, "stepUp")
	delete(e.Metadata, "stepUpCredentialId")
	if s := c.StepUp; s != nil {
		e.Metadata["stepUp"] = s.Method
		e.Metadata["stepUpCredentialId"] = s.CredentialID
	}
	if !a.StepUp {
		return nil
	}
	return vsecure.RequireStepUp(c.StepUp, now, g.ApprovalURL(a.ID))
}

// GetApproval returns one approval the caller may see.
func (g *Gate) GetApproval(ctx context.Context, c Call, id string) (api.ApprovalView, error) {
	e := g.entry(c, vsecure.AuditGetApproval, "")
	e.ApprovalID = id
	a, err := g.store.GetApproval(ctx, id)
	if err != nil {
		return api.ApprovalView{}, g.fail(ctx, e, err)
	}
	e.Resource = a.Resource
	if c.Principal.Scope != nil || !a.CanView(c.Principal) {
		return api.ApprovalView{}, g.fail(ctx, e, vsecure.Errorf(vsecure.ENotFound, "no approval %s", id))
	}
	if err := g.appendOK(ctx, e); err != nil {
		return api.ApprovalView{}, err
	}
	return g.view(a, g.clock()), nil
}

// Revoke ends granted access at once (a listed approver or an admin).
func (g *Gate) Revoke(ctx context.Context, c Call, id string) (api.ApprovalView, error) {
	e := g.entry(c, vsecure.AuditRevoke, "")
	e.ApprovalID = id
	p := c.Principal
	for attempt := 0; ; attempt++ {
		a, err := g.store.GetApproval(ctx, id)
		if err != nil {
			return api.ApprovalView{}, g.fail(ctx, e, err)
		}
		e.Resource = a.Resource
		listed := p.Has(vsecure.RoleApprover) && slices.Contains(a.Approvers, p.ID)
		if !listed && !p.Has(vsecure.RoleAdmin) {
			return api.ApprovalView{}, g.fail(ctx, e, vsecure.Errorf(vsecure.ENotApprover, "only a listed approver or an admin can revoke"))
		}
		now := g.clock()
		next, err := a.Revoke(p.ID, now)
		if err == nil {
			err = g.stepUp(c, a, e, now)
		}
		if err != nil {
			return api.ApprovalView{}, g.fail(ctx, e, err)
		}
		err = g.store.UpdateApproval(ctx, next, e)
		if vsecure.IsCode(err, vsecure.EConflict) && attempt < maxRaceRetries {
			continue
		}
		if err != nil {
			return api.ApprovalView{}, g.stateFail(ctx, e, err)
		}
		if err := g.workflow.Revoked(ctx, next); err != nil {
			g.log.WarnContext(ctx, "workflow notify of revocation failed; the revocation stands", "approvalId", id, "err", err)
		}
		return g.view(next, now), nil
	}
}

// Cancel withdraws a request (its requester, the human it acts for, or an
// admin): a pending one becomes cancelled and its workflow is told as for a
// denial; an approved one is revoked. Racing cancels have one winner; the
// others see already_decided.
func (g *Gate) Cancel(ctx context.Context, c Call, id string) (api.ApprovalView, error) {
	e := g.entry(c, vsecure.AuditCancel, "")
	e.ApprovalID = id
	p := c.Principal
	for attempt := 0; ; attempt++ {
		a, err := g.store.GetApproval(ctx, id)
		if err != nil {
			return api.ApprovalView{}, g.fail(ctx, e, err)
		}
		e.Resource = a.Resource
		if !a.CanCancel(p) {
			if p.Scope == nil && a.CanView(p) {
				return api.ApprovalView{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EForbidden, "only the requester, the human it acts for, or an admin can cancel"))
			}
			return api.ApprovalView{}, g.fail(ctx, e, vsecure.Errorf(vsecure.ENotFound, "no approval %s", id))
		}
		now := g.clock()
		next, err := a.Cancel(p.ID, now)
		if err != nil {
			return api.ApprovalView{}, g.fail(ctx, e, err)
		}
		e.Metadata["from"], e.Metadata["status"] = string(a.Status), string(next.Status)
		err = g.store.UpdateApproval(ctx, next, e)
		if vsecure.IsCode(err, vsecure.EConflict) && attempt < maxRaceRetries {
			continue
		}
		if err != nil {
			return api.ApprovalView{}, g.stateFail(ctx, e, err)
		}
		notify, what := g.workflow.Decided, "cancellation"
		if next.Status == vsecure.StatusRevoked {
			notify = g.workflow.Revoked
		}
		if err := notify(ctx, next); err != nil {
			g.log.WarnContext(ctx, "workflow notify of "+what+" failed; the cancellation stands", "approvalId", id, "err", err)
		}
		return g.view(next, now), nil
	}
}

// Expire tidies a pending or approved approval whose expiresAt passed. The
// workflow calls it; it is a no-op (nil) when another writer got there first.
func (g *Gate) Expire(ctx context.Context, id string) (vsecure.Approval, error) {
	c := Call{Principal: vsecure.Principal{ID: "workflow"}}
	for attempt := 0; ; attempt++ {
		a, err := g.store.GetApproval(ctx, id)
		if err != nil {
			return a, err
		}
		next, err := a.Expire(g.clock())
		if err != nil {
			return a, err
		}
		e := g.entry(c, vsecure.AuditExpire, a.Resource)
		e.ApprovalID = id
		e.Metadata["from"] = string(a.Status)
		err = g.store.UpdateApproval(ctx, next, e)
		if vsecure.IsCode(err, vsecure.EConflict) && attempt < maxRaceRetries {
			continue
		}
		return next, err
	}
}

// ApprovalQuery is a page of approvals, parsed from the request by the
// HTTP layer: a status and an exact resource URI ("" for any), the page
// size (0: DefaultLimit) and cursor.
type ApprovalQuery struct {
	Status   vsecure.Status
	Resource string
	Limit    int
	Cursor   string
}

// ListApprovals lists approvals the caller may see, newest first.
func (g *Gate) ListApprovals(ctx context.Context, c Call, q ApprovalQuery) ([]api.ApprovalView, api.Pagination, error) {
	e := g.entry(c, vsecure.AuditListApprovals, q.Resource)
	p := c.Principal
	if p.Scope != nil {
		return nil, api.Pagination{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EForbidden, "an access token can only read its resource"))
	}
	now := g.clock()
	f := vsecure.ApprovalFilter{Now: now}
	if !p.Has(vsecure.RoleAdmin) {
		f.Visible = p.ID
	}
	f.Status, f.Resource = q.Status, q.Resource
	n, err := pageLimit(q.Limit)
	if err != nil {
		return nil, api.Pagination{}, g.fail(ctx, e, err)
	}
	scope := "approvals\x00" + p.ID + "\x00" + f.Visible + "\x00" + string(f.Status) + "\x00" + f.Resource
	cs, err := g.cursors(ctx)
	if err != nil {
		return nil, api.Pagination{}, g.fail(ctx, e, err)
	}
	raw, err := cs.open(scope, q.Cursor)
	if err != nil {
		return nil, api.Pagination{}, g.fail(ctx, e, err)
	}
	items, next, err := g.store.ListApprovals(ctx, f, raw, n)
	if err != nil {
		return nil, api.Pagination{}, g.fail(ctx, e, err)
	}
	if err := g.appendOK(ctx, e); err != nil {
		return nil, api.Pagination{}, err
	}
	out := make([]api.ApprovalView, 0, len(items))
	for _, a := range items {
		out = append(out, g.view(a, now))
	}
	return out, api.Pagination{Cursor: cs.sign(scope, next), HasMore: next != ""}, nil
}
