package gate

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/vsecure"
)

func viewPolicy(p vsecure.Policy, admin bool) api.ResourceView {
	u, _ := vsecure.ParseURI(p.URI)
	v := api.ResourceView{
		URI: p.URI, Name: p.Name, Description: p.Description, Type: u.Type(),
		Permissions: p.Permissions, RequiresApproval: p.RequiresApproval, StepUp: p.StepUp, Approvers: p.Approvers,
		RequiredApprovals: p.Quorum(), MaxTTL: p.EffectiveMaxTTL(), MaxUses: p.MaxUses,
	}
	if admin {
		// Who is trusted to skip approval, and where notices go, is
		// configuration detail agents have no need to learn.
		v.AutoApprove, v.SlackChannel = p.AutoApprove, p.SlackChannel
		t := p.UpdatedAt
		v.UpdatedAt = &t
	}
	return v
}

// ListResources lists every configured policy.
func (g *Gate) ListResources(ctx context.Context, c Call) ([]api.ResourceView, error) {
	e := g.entry(c, vsecure.AuditListResources, "")
	if c.Principal.Scope != nil {
		return nil, g.fail(ctx, e, vsecure.Errorf(vsecure.EForbidden, "an access token can only read its resource"))
	}
	ps, err := g.store.ListPolicies(ctx)
	if err != nil {
		return nil, g.fail(ctx, e, err)
	}
	if err := g.appendOK(ctx, e); err != nil {
		return nil, err
	}
	out := make([]api.ResourceView, 0, len(ps))
	for _, p := range ps {
		out = append(out, viewPolicy(p, c.Principal.Has(vsecure.RoleAdmin)))
	}
	return out, nil
}

// ConfigurePolicy creates or replaces the policy for p.URI (admin).
func (g *Gate) ConfigurePolicy(ctx context.Context, c Call, p vsecure.Policy) (api.ResourceView, error) {
	e := g.entry(c, vsecure.AuditConfigure, p.URI)
	if !c.Principal.Has(vsecure.RoleAdmin) {
		return api.ResourceView{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EForbidden, "configuring resources needs the admin role"))
	}
	if err := p.Validate(); err != nil {
		return api.ResourceView{}, g.fail(ctx, e, err)
	}
	e.Resource = p.URI
	p.UpdatedBy, p.UpdatedAt = c.Principal.ID, g.clock().Truncate(time.Second)
	if err := g.store.PutPolicy(ctx, p, e); err != nil {
		return api.ResourceView{}, g.stateFail(ctx, e, err)
	}
	return viewPolicy(p, true), nil
}

// accessQuery names what a secret read or write by c needs, including the
// caller's key and, for an access token, its approval: authorize judges
// them as stored now, because the principal may come from a cached
// authorizer answer that predates a revocation or a role change.
func accessQuery(c Call, u vsecure.URI, op vsecure.Operation, version int) vsecure.AccessQuery {
	q := vsecure.AccessQuery{Principal: c.Principal.ID, Resource: u, Operation: op, Version: version, KeyID: c.Principal.KeyID}
	if s := c.Principal.Scope; s != nil {
		q.ApprovalID = s.ApprovalID
	}
	return q
}

// authorize decides whether the caller may perform op on u given what the
// store holds. It returns the approval id that allowed it, if any.
//
// The credential is judged live, not as the principal remembers it: the
// caller's key (for a token, the key that requested it) must exist and be
// active, a key caller acts with the key's stored roles, and a token's
// approval must still be approved.
func (g *Gate) authorize(c Call, u vsecure.URI, op vsecure.Operation, view vsecure.AccessView, now time.Time) (string, error) {
	p := c.Principal
	live, err := judgeKey(p, view.Key, now)
	if err != nil {
		return "", err
	}
	if s := p.Scope; s != nil {
		if s.Resource != u.String() || !s.Operation.Covers(op) {
			return "", vsecure.Errorf(vsecure.EForbidden, "this access token is limited to %s on %s", s.Operation, s.Resource)
		}
		a := view.Approval
		if a == nil || a.RequestedByKey != p.KeyID || a.RequestedBy != p.ID || a.Resource != u.String() || !a.Covers(op) {
			return "", vsecure.Errorf(vsecure.EUnauthenticated, "the access token is no longer valid")
		}
		switch st := a.StatusAt(now); st {
		case vsecure.StatusApproved:
		case vsecure.StatusExpired:
			return "", vsecure.Errorf(vsecure.EExpired, "the access token expired at %s", a.ExpiresAt.Format(time.RFC3339))
		default:
			return "", vsecure.Errorf(vsecure.EUnauthenticated, "the access token is no longer valid (approval %s is %s)", a.ID, st)
		}
		if a.Spent() {
			return "", vsecure.Errorf(vsecure.EUnauthenticated, "the access token is no longer valid (approval %s has no use left)", a.ID)
		}
		if !live.HasAny(vsecure.RoleAgent, vsecure.RoleAdmin) {
			return "", vsecure.Errorf(vsecure.EForbidden, "the key that requested this access no longer has the agent or admin role")
		}
	} else if live.Has(vsecure.RoleAdmin) {
		return "", nil
	} else if !live.Has(vsecure.RoleAgent) {
		return "", vsecure.Errorf(vsecure.EForbidden, "%s on secrets needs the agent or admin role", op)
	}
	pol := vsecure.Governing(view.Policies, u)
	if pol == nil {
		return "", vsecure.Errorf(vsecure.EForbidden, "no policy covers %s", u)
	}
	if op == vsecure.OpRead && !pol.Permits(op) && pol.Permits(vsecure.OpUse) {
		return "", vsecure.Errorf(vsecure.EOperationNotAllowed, UseOnlyMessage, pol.URI)
	}
	if !pol.Permits(op) {
		return "", vsecure.Errorf(vsecure.EOperationNotAllowed, "the policy %s does not permit %s", pol.URI, op)
	}
	if p.Scope != nil {
		// The token's approval was checked above as stored now; the
		// policy must still permit the operation.
		return p.Scope.ApprovalID, nil
	}
	if !pol.RequiresApproval {
		return "", nil
	}
	if view.Grant != nil && view.Grant.Grants(p.ID, u.String(), op, now) {
		return view.Grant.ID, nil
	}
	return "", &vsecure.Error{Code: vsecure.EApprovalRequired, Message: fmt.Sprintf("%s on %s requires approval", op, u),
		Err: ApprovalNeeded{Resource: u.String(), Operation: op}}
}

// UseOnlyMessage is the refusal of a read under a policy that permits only
// use (a format naming the policy). Clients (the MCP server) show it as is,
// so its wording is kept stable.
const UseOnlyMessage = "the policy %s permits use, not read: the value is never returned; use it via `vsecure run` or the MCP tool run_with_secrets instead"

// ApprovalNeeded is the typed detail of an approval_required refusal: the
// approval that would allow the operation. The gate knows what to request,
// not where: the HTTP layer renders it as a hint naming its route.
type ApprovalNeeded struct {
	Resource  string
	Operation vsecure.Operation
}

func (n ApprovalNeeded) Error() string {
	return "an approved request for " + string(n.Operation) + " on " + n.Resource + " is needed"
}

// ReadSecret returns the value of a concrete secret (version 0 = latest)
// if policy and approvals allow it, counting the access.
func (g *Gate) ReadSecret(ctx context.Context, c Call, u vsecure.URI, version int) (api.SecretRead, error) {
	return g.access(ctx, c, g.entry(c, vsecure.AuditRead, u.String()), u, vsecure.OpRead, version)
}

// Bounds of a use's command (argv[0]) and host as audited.
const (
	maxCommand = 256
	maxHost    = 255
)

// UseSecret returns a secret's value for the caller to inject into a
// process: the use permission (read implies it), the same approvals and
// counting as a read, audited as use with the command and host. Command
// is argv[0] as the CLI sends it; the arguments never reach the server.
func (g *Gate) UseSecret(ctx context.Context, c Call, r api.SecretUse) (api.SecretRead, error) {
	e := g.entry(c, vsecure.AuditUse, truncateResource(r.URI))
	u, err := vsecure.ParseURI(r.URI)
	if err != nil {
		return api.SecretRead{}, g.fail(ctx, e, err)
	}
	e.Resource = u.String()
	if err := validateUse(u, r); err != nil {
		return api.SecretRead{}, g.fail(ctx, e, err)
	}
	e.Metadata["command"], e.Metadata["host"] = r.Command, r.Host
	return g.access(ctx, c, e, u, vsecure.OpUse, r.Version)
}

func truncateResource(s string) string {
	if len(s) > 512 {
		return s[:512]
	}
	return s
}

func validateUse(u vsecure.URI, r api.SecretUse) error {
	switch {
	case u.IsPattern():
		return vsecure.Errorf(vsecure.EInvalid, "a use names one secret, not a pattern")
	case r.Command == "" || len(r.Command) > maxCommand || strings.ContainsAny(r.Command, "\x00\r\n"):
		return vsecure.Errorf(vsecure.EInvalid, "command must be the program's argv[0]: 1-%d bytes, no NUL or newline", maxCommand)
	case len(r.Host) > maxHost || strings.ContainsAny(r.Host, "\x00\r\n"):
		return vsecure.Errorf(vsecure.EInvalid, "host may have at most %d bytes and no NUL or newline", maxHost)
	}
	return nil
}

// maxSpendRetries bounds re-reads after losing a use of a capped approval
// to a concurrent reader: each round has a winner, so only a crowd larger
// than this can exhaust it.
const maxSpendRetries = 32

// access is a read or a use of u: the caller's authority judged as stored
// now, the value opened, and the access counted with e in one write (which
// also spends a use of a capped approval).
func (g *Gate) access(ctx context.Context, c Call, e vsecure.Entry, u vsecure.URI, op vsecure.Operation, version int) (api.SecretRead, error) {
	if version < 0 {
		return api.SecretRead{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EInvalid, "version must be a positive integer"))
	}
	for attempt := 0; ; attempt++ {
		view, now, apID, err := g.loadAccess(ctx, c, u, op, version)
		e.ApprovalID = apID
		if err != nil {
			return api.SecretRead{}, g.fail(ctx, e, err)
		}
		if view.Secret == nil || view.Value == nil {
			return api.SecretRead{}, g.fail(ctx, e, vsecure.Errorf(vsecure.ENotFound, "no secret at %s", u))
		}
		v := view.Value
		// The value is opened for the place it was read from, not the place
		// its record claims: a record moved to another version or URI (a
		// rollback by someone with table access) fails to open.
		want := version
		if want == 0 {
			want = view.Secret.Version
		}
		if v.URI != u.String() || v.Version != want {
			return api.SecretRead{}, g.fail(ctx, e, vsecure.Wrap(vsecure.EInternal,
				fmt.Errorf("stored value of %s claims %s version %d, read as version %d", u, v.URI, v.Version, want), "secret could not be decrypted"))
		}
		pt, err := g.sealer.Open(ctx, v.Sealed, vsecure.SealContext{URI: u.String(), Version: want})
		if err != nil {
			return api.SecretRead{}, g.fail(ctx, e, err)
		}
		e.Metadata["version"] = itoa(v.Version)
		at := now.Truncate(time.Second)
		if capped := cappedApproval(c, apID, view); capped != nil {
			next, err := capped.Spend()
			if err == nil {
				e.Metadata["usesLeft"] = itoa(next.UsesLeft)
				err = g.store.SpendUse(ctx, next, u.String(), at, e)
			}
			if err != nil {
				clear(pt)
				if vsecure.IsCode(err, vsecure.EConflict) && attempt < maxSpendRetries {
					delete(e.Metadata, "usesLeft")
					delete(e.Metadata, "version")
					continue // another reader took that use: judge the approval again
				}
				return api.SecretRead{}, g.stateFail(ctx, e, err)
			}
		} else if err := g.store.RecordRead(ctx, u.String(), at, e); err != nil {
			clear(pt)
			return api.SecretRead{}, g.stateFail(ctx, e, err)
		}
		// The counts shown are this read's view: exact unless other reads of
		// the same secret overlapped it, in which case the stored count is
		// higher (and still exact).
		head := *view.Secret
		head.AccessCount++
		head.AccessedAt = &at
		md := head.Metadata
		if md == nil {
			md = map[string]string{}
		}
		return api.SecretRead{
			URI: u.String(), Name: head.Name, Description: head.Description, Type: u.Type(),
			Value: string(pt), Version: v.Version, Metadata: md,
			AccessedAt: head.AccessedAt, AccessCount: head.AccessCount, ApprovalID: apID,
		}, nil
	}
}

// loadAccess reads what an access decision needs and makes it. A use may
// rest on a read approval (read implies use), which the store indexes
// under read: it is looked up only when no use approval grants.
func (g *Gate) loadAccess(ctx context.Context, c Call, u vsecure.URI, op vsecure.Operation, version int) (vsecure.AccessView, time.Time, string, error) {
	q := accessQuery(c, u, op, version)
	view, err := g.store.LoadAccess(ctx, q)
	if err != nil {
		return view, time.Time{}, "", err
	}
	if version == 0 && view.Secret != nil && view.Value != nil && view.Value.Version != view.Secret.Version {
		// A store without snapshot reads (DynamoDB's BatchGetItem) can
		// see a head and its latest value from either side of a
		// concurrent write: look once more before calling it tampering.
		if view, err = g.store.LoadAccess(ctx, q); err != nil {
			return view, time.Time{}, "", err
		}
	}
	now := g.clock()
	apID, err := g.authorize(c, u, op, view, now)
	if op == vsecure.OpUse && vsecure.IsCode(err, vsecure.EApprovalRequired) {
		q.Operation = vsecure.OpRead
		byRead, rerr := g.store.LoadAccess(ctx, q)
		if rerr != nil {
			return view, now, "", rerr
		}
		if byRead.Grant != nil && byRead.Grant.Grants(c.Principal.ID, u.String(), op, now) {
			view.Grant = byRead.Grant
			apID, err = g.authorize(c, u, op, view, now)
		}
	}
	return view, now, apID, err
}

// cappedApproval is the approval with a use cap that allowed an access, if
// any: the access token's, or the requester's grant.
func cappedApproval(c Call, apID string, view vsecure.AccessView) *vsecure.Approval {
	if apID == "" {
		return nil
	}
	a := view.Grant
	if c.Principal.Scope != nil {
		a = view.Approval
	}
	if a == nil || a.ID != apID || a.MaxUses == 0 {
		return nil
	}
	return a
}

// GetPattern returns the policy configured exactly at pattern u.
func (g *Gate) GetPattern(ctx context.Context, c Call, u vsecure.URI) (api.ResourceView, error) {
	e := g.entry(c, vsecure.AuditGetResource, u.String())
	if c.Principal.Scope != nil {
		return api.ResourceView{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EForbidden, "an access token can only read its resource"))
	}
	// The caller's key rides in the same read, so the policy is shown to
	// the key as stored now, not as a cached authorizer answer remembers it.
	view, err := g.store.LoadAccess(ctx, vsecure.AccessQuery{Principal: c.Principal.ID, Resource: u, Operation: vsecure.OpRead, KeyID: c.Principal.KeyID})
	if err != nil {
		return api.ResourceView{}, g.fail(ctx, e, err)
	}
	live, err := judgeKey(c.Principal, view.Key, g.clock())
	if err != nil {
		return api.ResourceView{}, g.fail(ctx, e, err)
	}
	for _, p := range view.Policies {
		if p.URI == u.String() {
			if err := g.appendOK(ctx, e); err != nil {
				return api.ResourceView{}, err
			}
			return viewPolicy(p, live.Has(vsecure.RoleAdmin)), nil
		}
	}
	return api.ResourceView{}, g.fail(ctx, e, vsecure.Errorf(vsecure.ENotFound, "no resource is configured at %s", u))
}

func infoOf(s vsecure.Secret) api.SecretInfo {
	u, _ := vsecure.ParseURI(s.URI)
	md := s.Metadata
	if md == nil {
		md = map[string]string{}
	}
	return api.SecretInfo{
		URI: s.URI, Name: s.Name, Description: s.Description, Type: u.Type(), Version: s.Version,
		Metadata: md, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt, UpdatedBy: s.UpdatedBy,
		AccessCount: s.AccessCount, AccessedAt: s.AccessedAt,
	}
}

// WriteSecret stores a new version of a concrete secret.
func (g *Gate) WriteSecret(ctx context.Context, c Call, u vsecure.URI, w api.SecretWrite) (api.SecretInfo, error) {
	e := g.entry(c, vsecure.AuditWrite, u.String())
	if err := validateWrite(w); err != nil {
		return api.SecretInfo{}, g.fail(ctx, e, err)
	}
	for attempt := 0; ; attempt++ {
		view, err := g.store.LoadAccess(ctx, accessQuery(c, u, vsecure.OpWrite, 0))
		if err != nil {
			return api.SecretInfo{}, g.fail(ctx, e, err)
		}
		now := g.clock().Truncate(time.Second)
		apID, err := g.authorize(c, u, vsecure.OpWrite, view, now)
		e.ApprovalID = apID
		if err != nil {
			return api.SecretInfo{}, g.fail(ctx, e, err)
		}
		head := vsecure.Secret{URI: u.String(), CreatedAt: now}
		if view.Secret != nil {
			head = *view.Secret
			head.Metadata = maps.Clone(head.Metadata)
		}
		head.Version++
		head.UpdatedAt, head.UpdatedBy = now, c.Principal.ID
		if w.Name != "" {
			head.Name = w.Name
		}
		if w.Description != "" {
			head.Description = w.Description
		}
		if w.Metadata != nil {
			head.Metadata = w.Metadata
		}
		sealed, err := g.sealer.Seal(ctx, []byte(*w.Value), vsecure.SealContext{URI: head.URI, Version: head.Version})
		if err != nil {
			return api.SecretInfo{}, g.fail(ctx, e, err)
		}
		e.Metadata["version"] = itoa(head.Version)
		v := vsecure.SecretVersion{URI: head.URI, Version: head.Version, Sealed: sealed, CreatedAt: now, CreatedBy: c.Principal.ID}
		err = g.store.PutSecret(ctx, head, v, e)
		if vsecure.IsCode(err, vsecure.EConflict) && attempt < 5 {
			continue // a concurrent writer took this version; seal the next one
		}
		if err != nil {
			return api.SecretInfo{}, g.stateFail(ctx, e, err)
		}
		return infoOf(head), nil
	}
}

func validateWrite(w api.SecretWrite) error {
	switch {
	case w.Value == nil:
		return vsecure.Errorf(vsecure.EInvalid, "value is required")
	case len(*w.Value) > vsecure.MaxSecretBytes:
		return vsecure.Errorf(vsecure.ETooLarge, "a secret value may have at most %d bytes", vsecure.MaxSecretBytes)
	case len(w.Name) > 200 || len(w.Description) > 2000:
		return vsecure.Errorf(vsecure.EInvalid, "name or description too long")
	case len(w.Metadata) > 32:
		return vsecure.Errorf(vsecure.EInvalid, "at most 32 metadata entries")
	}
	for k, v := range w.Metadata {
		if k == "" || len(k) > 64 || len(v) > 256 {
			return vsecure.Errorf(vsecure.EInvalid, "metadata keys are 1-64 bytes and values at most 256")
		}
	}
	return nil
}

// ListSecrets lists secrets (never values) covered by pattern that the
// caller's policies let it read or write.
//
// under is a URI pattern, or nil for every secret.
func (g *Gate) ListSecrets(ctx context.Context, c Call, under *vsecure.URI, cursor string, limit int) ([]api.SecretInfo, api.Pagination, error) {
	pattern := ""
	if under != nil {
		pattern = under.String()
	}
	e := g.entry(c, vsecure.AuditListSecrets, pattern)
	if under != nil && !under.IsPattern() {
		return nil, api.Pagination{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EInvalid, "pattern must end in /*"))
	}
	if c.Principal.Scope != nil {
		return nil, api.Pagination{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EForbidden, "an access token can only read its resource"))
	}
	if !c.Principal.HasAny(vsecure.RoleAdmin, vsecure.RoleAgent) {
		return nil, api.Pagination{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EForbidden, "listing secrets needs the agent or admin role"))
	}
	n, err := pageLimit(limit)
	if err != nil {
		return nil, api.Pagination{}, g.fail(ctx, e, err)
	}
	scope := "secrets\x00" + c.Principal.ID + "\x00" + pattern
	cs, err := g.cursors(ctx)
	if err != nil {
		return nil, api.Pagination{}, g.fail(ctx, e, err)
	}
	raw, err := cs.open(scope, cursor)
	if err != nil {
		return nil, api.Pagination{}, g.fail(ctx, e, err)
	}
	var policies []vsecure.Policy
	if !c.Principal.Has(vsecure.RoleAdmin) {
		if policies, err = g.store.ListPolicies(ctx); err != nil {
			return nil, api.Pagination{}, g.fail(ctx, e, err)
		}
	}
	heads, next, err := g.store.ListSecrets(ctx, pattern, raw, n)
	if err != nil {
		return nil, api.Pagination{}, g.fail(ctx, e, err)
	}
	if err := g.appendOK(ctx, e); err != nil {
		return nil, api.Pagination{}, err
	}
	out := make([]api.SecretInfo, 0, len(heads))
	for _, h := range heads {
		if policies != nil {
			u, err := vsecure.ParseURI(h.URI)
			if err != nil {
				continue
			}
			if pol := vsecure.Governing(policies, u); pol == nil || len(pol.Permissions) == 0 {
				continue
			}
		}
		out = append(out, infoOf(h))
	}
	return out, api.Pagination{Cursor: cs.sign(scope, next), HasMore: next != ""}, nil
}

func itoa(n int) string { return strconv.Itoa(n) }
