package console

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/oidc"
	"github.com/vsecure/vsecure/shared/vsecure"
)

func returnTo(r *http.Request) string {
	if rt := r.FormValue("returnTo"); oidc.SafeReturnTo(rt) && strings.HasPrefix(rt, "/console") {
		return rt
	}
	return "/console"
}

func (c *Console) signInPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "signin", page{Title: "Sign in", Data: map[string]any{
		"ReturnTo": returnTo(r), "OIDC": c.cfg.OIDC != nil, "Dev": c.cfg.DevSignIn && loopback(r),
		"Roles": []vsecure.Role{vsecure.RoleApprover, vsecure.RoleAdmin, vsecure.RoleAuditor},
	}})
}

// devSignIn signs in as whoever the form names: zero-setup local use, so
// it is refused unless this request came in on loopback.
func (c *Console) devSignIn(w http.ResponseWriter, r *http.Request) {
	if !c.cfg.DevSignIn || !loopback(r) {
		c.fail(w, r, nil, vsecure.Errorf(vsecure.EForbidden, "the dev sign-in is only offered on a server bound to loopback"))
		return
	}
	id := strings.TrimSpace(r.PostFormValue("principal"))
	if id == "" || len(id) > 128 {
		c.fail(w, r, nil, vsecure.Errorf(vsecure.EInvalid, "name a principal (at most 128 bytes)"))
		return
	}
	// Not Human: no identity provider vouched for this person, so the gate
	// lets them add no passkey (gate.RegisterPasskey).
	p := vsecure.Principal{ID: id}
	for _, name := range r.PostForm["role"] {
		role, err := vsecure.ParseRole(name)
		if err != nil {
			c.fail(w, r, nil, err)
			return
		}
		if !slices.Contains(p.Roles, role) {
			p.Roles = append(p.Roles, role)
		}
	}
	c.cfg.Log.InfoContext(r.Context(), "console dev sign-in", "principal", id)
	c.startSession(w, r, p, "", true, returnTo(r))
}

// signedIn starts the session of an OIDC sign-in (oidc.SignedIn), and
// behind a gateway's JWT authorizer keeps the ID token for the edge.
func (c *Console) signedIn(w http.ResponseWriter, r *http.Request, si oidc.SignIn) {
	if c.cfg.GatewaySubject != nil {
		if err := setIDToken(w, si); err != nil {
			c.cfg.Log.WarnContext(r.Context(), "console sign-in refused", "principal", si.Principal.ID, "err", err)
			c.fail(w, r, nil, err)
			return
		}
	}
	c.startSession(w, r, si.Principal, si.Subject, false, si.ReturnTo)
}

func (c *Console) startSession(w http.ResponseWriter, r *http.Request, p vsecure.Principal, sub string, dev bool, to string) {
	s := c.newSession(p)
	s.Dev, s.Sub = dev, sub
	if err := c.setSession(r.Context(), w, s); err != nil {
		c.fail(w, r, nil, err)
		return
	}
	if !oidc.SafeReturnTo(to) || !strings.HasPrefix(to, "/console") {
		to = "/console"
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// signOut needs the CSRF token too, so no other site can sign a person out.
func (c *Console) signOut(w http.ResponseWriter, r *http.Request) {
	if s, ok := c.session(r); ok && !c.csrfOK(r, s) {
		c.fail(w, r, &s, vsecure.Errorf(vsecure.EForbidden, "the form's CSRF token is missing or wrong"))
		return
	}
	clearSession(w)
	http.Redirect(w, r, "/console/signin", http.StatusSeeOther)
}

// inbox lists pending approvals the person may decide and recent decisions.
func (c *Console) inbox(w http.ResponseWriter, r *http.Request, s *Session) {
	call := c.call(r, s)
	all, _, err := c.cfg.Gate.ListApprovals(r.Context(), call, gate.ApprovalQuery{Limit: 100})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	var pending, mine, recent []api.ApprovalView
	for _, a := range all {
		switch {
		case a.Status == vsecure.StatusPending && canDecide(s, a):
			pending = append(pending, a)
		case a.Status == vsecure.StatusPending && a.OnBehalfOf == s.principal().ID:
			// Requests the person's agents made for them: theirs to
			// follow or cancel, never to decide.
			mine = append(mine, a)
		case a.Status != vsecure.StatusPending:
			recent = append(recent, a)
		}
	}
	if len(recent) > 20 {
		recent = recent[:20]
	}
	c.render(w, r, http.StatusOK, "inbox", page{Title: "Inbox", Session: s, Data: map[string]any{"Pending": pending, "Mine": mine, "Recent": recent}})
}

// canDecide mirrors the gate's rule for showing the buttons; the gate
// decides regardless. The human an agent acts for counts as its requester.
func canDecide(s *Session, a api.ApprovalView) bool {
	p := s.principal()
	if a.RequestedBy == p.ID || a.OnBehalfOf == p.ID {
		return false
	}
	return p.HasAny(vsecure.RoleApprover, vsecure.RoleAdmin) && slices.Contains(a.Approvers, p.ID)
}

type approvalPage struct {
	A         api.ApprovalView
	CanDecide bool
	CanRevoke bool
	CanCancel bool // the requester or the human it acts for (or an admin)
	Pending   bool
	StepUp    string // what the session's step-up lacks, "" when fresh
	Result    string
}

func (c *Console) approval(w http.ResponseWriter, r *http.Request, s *Session) {
	a, err := c.cfg.Gate.GetApproval(r.Context(), c.call(r, s), r.PathValue("id"))
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.showApproval(w, r, s, a, r.URL.Query().Get("done"))
}

func (c *Console) showApproval(w http.ResponseWriter, r *http.Request, s *Session, a api.ApprovalView, result string) {
	p := s.principal()
	d := approvalPage{A: a, Pending: a.Status == vsecure.StatusPending, Result: result}
	d.CanDecide = d.Pending && canDecide(s, a)
	d.CanRevoke = a.Status == vsecure.StatusApproved && (p.Has(vsecure.RoleAdmin) || (p.Has(vsecure.RoleApprover) && slices.Contains(a.Approvers, p.ID)))
	live := a.Status == vsecure.StatusPending || a.Status == vsecure.StatusApproved
	d.CanCancel = live && (p.Has(vsecure.RoleAdmin) || a.RequestedBy == p.ID || a.OnBehalfOf != "" && a.OnBehalfOf == p.ID)
	if a.StepUp {
		d.StepUp = vsecure.StaleStepUp(s.StepUp, c.now())
	}
	c.render(w, r, http.StatusOK, "approval", page{Title: "Approval " + a.ID, Session: s, Data: d})
}

// decide goes through gate.Decide, the API's and Slack's path, as the
// session's principal; the answer's access token (if any) is the agent's
// to collect through the API, never shown here.
func (c *Console) decide(w http.ResponseWriter, r *http.Request, s *Session) {
	id := r.PathValue("id")
	v, err := c.cfg.Gate.Decide(r.Context(), c.call(r, s), id, api.Respond{Action: r.PostFormValue("action"), Reason: r.PostFormValue("reason")})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/console/approvals/"+url.PathEscape(v.ID)+"?done="+url.QueryEscape(string(v.Status)), http.StatusSeeOther)
}

func (c *Console) revoke(w http.ResponseWriter, r *http.Request, s *Session) {
	v, err := c.cfg.Gate.Revoke(r.Context(), c.call(r, s), r.PathValue("id"))
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/console/approvals/"+url.PathEscape(v.ID)+"?done=revoked", http.StatusSeeOther)
}

// cancel goes through gate.Cancel, the API's path: a pending request
// becomes cancelled, an approved one is revoked.
func (c *Console) cancel(w http.ResponseWriter, r *http.Request, s *Session) {
	v, err := c.cfg.Gate.Cancel(r.Context(), c.call(r, s), r.PathValue("id"))
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/console/approvals/"+url.PathEscape(v.ID)+"?done="+url.QueryEscape(string(v.Status)), http.StatusSeeOther)
}

// audit shows the log with the API's filters and the digests' status.
func (c *Console) audit(w http.ResponseWriter, r *http.Request, s *Session) {
	q := r.URL.Query()
	f := vsecure.AuditFilter{Resource: q.Get("resource"), Actor: q.Get("actor"), Operation: q.Get("operation")}
	switch q.Get("success") {
	case "true", "false":
		ok := q.Get("success") == "true"
		f.Success = &ok
	}
	call := c.call(r, s)
	logs, page_, err := c.cfg.Gate.QueryAudit(r.Context(), call, gate.AuditQuery{Filter: f, Limit: 100, Cursor: q.Get("cursor")})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	now := c.now()
	verify := "not checked"
	if rep, err := c.cfg.Gate.VerifyAudit(r.Context(), call, now.Add(-24*time.Hour), now); err != nil {
		verify = "unavailable: " + vsecure.ErrorMessage(err)
	} else if rep.OK() {
		// Entries after the last digest are MAC-checked, not yet sealed.
		verify = fmt.Sprintf("no findings in the last 24 h: %d digests, %d entries checked, %d not yet sealed", rep.Digests, rep.Entries, rep.Unsealed)
	} else {
		verify = fmt.Sprintf("NOT verified: %d findings (GET /v1/security/mcp/audit/verify has them)", len(rep.Findings))
	}
	c.render(w, r, http.StatusOK, "audit", page{Title: "Audit", Session: s, Data: map[string]any{
		"Logs": logs, "Next": page_.Cursor, "More": page_.HasMore, "Filter": f, "Success": q.Get("success"), "Verify": verify,
	}})
}

// keys is read-only and for admins (the gate refuses anyone else).
func (c *Console) keys(w http.ResponseWriter, r *http.Request, s *Session) {
	ks, _, err := c.cfg.Gate.ListKeys(r.Context(), c.call(r, s), "", 100)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.render(w, r, http.StatusOK, "keys", page{Title: "Keys", Session: s, Data: ks})
}

// policies is read-only; whoever the gate lets list them sees them (as on
// the API), admins with every detail.
func (c *Console) policies(w http.ResponseWriter, r *http.Request, s *Session) {
	ps, err := c.cfg.Gate.ListResources(r.Context(), c.call(r, s))
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.render(w, r, http.StatusOK, "policies", page{Title: "Policies", Session: s, Data: ps})
}
