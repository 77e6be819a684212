package gate

import (
	"context"
	"strconv"
	"time"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/digest"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// AuditQuery is a page of the audit log: the filter (parsed from the
// request by the HTTP layer), the page size (0: api.DefaultLimit) and cursor.
type AuditQuery struct {
	Filter vsecure.AuditFilter
	Limit  int
	Cursor string
}

// QueryAudit returns audit entries, newest first (admin, auditor).
func (g *Gate) QueryAudit(ctx context.Context, c Call, q AuditQuery) ([]vsecure.Entry, api.Pagination, error) {
	f := q.Filter
	e := g.entry(c, vsecure.AuditQuery, f.Resource)
	if !c.Principal.HasAny(vsecure.RoleAdmin, vsecure.RoleAuditor) {
		return nil, api.Pagination{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EForbidden, "reading the audit log needs the admin or auditor role"))
	}
	if err := checkRange(f.From, f.To); err != nil {
		return nil, api.Pagination{}, g.fail(ctx, e, err)
	}
	n, err := pageLimit(q.Limit)
	if err != nil {
		return nil, api.Pagination{}, g.fail(ctx, e, err)
	}
	success := ""
	if f.Success != nil {
		success = strconv.FormatBool(*f.Success)
	}
	scope := "audit\x00" + c.Principal.ID + "\x00" + f.Resource + "\x00" + f.Actor + "\x00" + f.Operation + "\x00" + success + "\x00" + stamp(f.From) + "\x00" + stamp(f.To)
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

// checkRange refuses a time range that ends before it starts.
func checkRange(from, to time.Time) error {
	if !from.IsZero() && !to.IsZero() && to.Before(from) {
		return vsecure.Errorf(vsecure.EInvalid, "to is before from")
	}
	return nil
}

// stamp is a bound of a range in a cursor's scope ("" for none).
func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// AuditVerifier checks the audit log against its signed digests
// (digest.Verifier).
type AuditVerifier interface {
	Verify(ctx context.Context, from, to time.Time) (digest.Report, error)
}

// VerifyAudit checks the audit log of [from, to) against its digests
// (admin, auditor). Findings are the answer, not an error: the call
// succeeds and says what was tampered with.
func (g *Gate) VerifyAudit(ctx context.Context, c Call, from, to time.Time) (api.AuditVerification, error) {
	e := g.entry(c, vsecure.AuditVerify, "")
	if !c.Principal.HasAny(vsecure.RoleAdmin, vsecure.RoleAuditor) {
		return api.AuditVerification{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EForbidden, "verifying the audit log needs the admin or auditor role"))
	}
	if err := checkRange(from, to); err != nil {
		return api.AuditVerification{}, g.fail(ctx, e, err)
	}
	if g.verifier == nil {
		return api.AuditVerification{}, g.fail(ctx, e, vsecure.Errorf(vsecure.EUnavailable, "audit verification is not configured on this server"))
	}
	key, err := g.trustedKey(ctx)
	if err != nil {
		return api.AuditVerification{}, g.fail(ctx, e, vsecure.Wrap(vsecure.EUnavailable, err, "the audit signing key could not be read"))
	}
	r, err := g.verifier.Verify(ctx, from, to)
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
