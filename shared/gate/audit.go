package gate

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/digest"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// AuditQuery holds audit filters as given by the caller.
type AuditQuery struct {
	Resource  string
	Actor     string
	Operation string
	Success   string
	From, To  string
	Limit     int
	Cursor    string
}

// QueryAudit returns audit entries, newest first (admin, auditor).
func (g *Gate) QueryAudit(ctx context.Context, c Call, q AuditQuery) ([]vsecure.Entry, api.Pagination, error) {
	e := g.entry(c, vsecure.AuditQuery, q.Resource)
	if !c.Principal.HasAny(vsecure.RoleAdmin, vsecure.RoleAuditor) {
		return nil, api.Pagination{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EForbidden, "reading the audit log needs the admin or auditor role"))
	}
	f, err := parseAuditFilter(q)
	if err != nil {
		return nil, api.Pagination{}, g.fail(ctx, e, err)
	}
	n, err := pageLimit(q.Limit)
	if err != nil {
		return nil, api.Pagination{}, g.fail(ctx, e, err)
	}
	scope := "audit\x00" + c.Principal.ID + "\x00" + f.Resource + "\x00" + f.Actor + "\x00" + f.Operation + "\x00" + q.Success + "\x00" + q.From + "\x00" + q.To
	cs, err := g.cursors(ctx)
	if err != nil {
		return nil, api.Pagination{}, g.fail(ctx, e, err)
	}
	raw, err := cs.open(scope, q.Cursor)
	if err != nil {
		return nil, api.Pagination{}, g.fail(ctx, e, err)
	}
	entries, next, err := g.store.QueryAudit(ctx, f, raw, n)
	if err != nil {
		return nil, api.Pagination{}, g.fail(ctx, e, err)
	}
	if err := g.appendOK(ctx, e); err != nil {
		return nil, api.Pagination{}, err
	}
	return entries, api.Pagination{Cursor: cs.sign(scope, next), HasMore: next != ""}, nil
}

func parseAuditFilter(q AuditQuery) (vsecure.AuditFilter, error) {
	var f vsecure.AuditFilter
	if q.Resource != "" {
		u, err := vsecure.ParseURI(q.Resource)
		if err != nil {
			return f, err
		}
		f.Resource = u.String()
	}
	if q.Actor != "" {
		if len(q.Actor) > 128 {
			return f, vsecure.Errorf(vsecure.EInvalid, "actor too long")
		}
		f.Actor = q.Actor
	}
	if q.Operation != "" {
		if !slices.Contains(vsecure.AuditOperations, q.Operation) {
			return f, vsecure.Errorf(vsecure.EInvalid, "unknown operation %q", q.Operation)
		}
		f.Operation = q.Operation
	}
	if q.Success != "" {
		b, err := strconv.ParseBool(q.Success)
		if err != nil {
			return f, vsecure.Errorf(vsecure.EInvalid, "success must be true or false")
		}
		f.Success = &b
	}
	var err error
	if f.From, err = parseTime("from", q.From); err != nil {
		return f, err
	}
	if f.To, err = parseTime("to", q.To); err != nil {
		return f, err
	}
	if !f.From.IsZero() && !f.To.IsZero() && f.To.Before(f.From) {
		return f, vsecure.Errorf(vsecure.EInvalid, "to is before from")
	}
	return f, nil
}

func parseTime(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, vsecure.Errorf(vsecure.EInvalid, "%s must be an RFC 3339 time such as 2024-03-15T10:30:00Z", name)
	}
	return t.UTC(), nil
}

// AuditVerifier checks the audit log against its signed digests
// (digest.Verifier).
type AuditVerifier interface {
	Verify(ctx context.Context, from, to time.Time) (digest.Report, error)
}

// VerifyAudit checks the audit log of [from, to) against its digests
// (admin, auditor). Findings are the answer, not an error: the call
// succeeds and says what was tampered with.
func (g *Gate) VerifyAudit(ctx context.Context, c Call, from, to string) (api.AuditVerification, error) {
	e := g.entry(c, vsecure.AuditVerify, "")
	if !c.Principal.HasAny(vsecure.RoleAdmin, vsecure.RoleAuditor) {
		return api.AuditVerification{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EForbidden, "verifying the audit log needs the admin or auditor role"))
	}
	f, err := parseAuditFilter(AuditQuery{From: from, To: to})
	if err != nil {
		return api.AuditVerification{}, g.fail(ctx, e, err)
	}
	if g.verifier == nil {
		return api.AuditVerification{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EUnavailable, "audit verification is not configured on this server"))
	}
	key, err := g.trustedKey(ctx)
	if err != nil {
		return api.AuditVerification{}, g.fail(ctx, e, vsecure.Wrap(vsecure.EUnavailable, err, "the audit signing key could not be read"))
	}
	r, err := g.verifier.Verify(ctx, f.From, f.To)
	if err != nil {
		return api.AuditVerification{}, g.fail(ctx, e, vsecure.Wrap(vsecure.EUnavailable, err, "the audit log could not be verified"))
	}
	e.Metadata["digests"] = strconv.Itoa(r.Digests)
	e.Metadata["entries"] = strconv.Itoa(r.Entries)
	e.Metadata["findings"] = strconv.Itoa(len(r.Findings))
	if err := g.appendOK(ctx, e); err != nil {
		return api.AuditVerification{}, err
	}
	return api.AuditVerification{Report: r, TrustedKey: key}, nil
}

func (g *Gate) trustedKey(ctx context.Context) (api.TrustedKey, error) {
	if g.auditKey == nil {
		return api.TrustedKey{}, nil
	}
	pub, err := g.auditKey.PublicKey(ctx)
	if err != nil {
		return api.TrustedKey{}, err
	}
	return api.TrustedKey{KeyID: g.auditKey.KeyID(), Algorithm: g.auditKey.Algorithm(), PublicKey: pub}, nil
}
