// Package gate is the secrets gate's service layer: it authenticates
// callers, applies policies and the approval rules of package vsecure, seals
// and opens values, and audits every call, allowed or refused.
//
// It depends only on interfaces (vsecure.Store, vsecure.Sealer, Workflow),
// so the local server and the Lambda functions run exactly this code over
// different adapters. Auditing is fail-closed: state changes carry their
// audit entry into the store's atomic write, and read-only calls append
// their entry before returning data.
package gate

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"maps"
	"time"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// Workflow is told about approval lifecycle events so it can notify
// approvers, wait for decisions and tidy expired state. It is never on the
// read path: the store is the truth, so its errors are logged, not returned.
type Workflow interface {
	Started(ctx context.Context, a vsecure.Approval) error
	Decided(ctx context.Context, a vsecure.Approval) error
	Revoked(ctx context.Context, a vsecure.Approval) error
}

// NopWorkflow does nothing; expiry is enforced at read time regardless.
type NopWorkflow struct{}

func (NopWorkflow) Started(context.Context, vsecure.Approval) error { return nil }
func (NopWorkflow) Decided(context.Context, vsecure.Approval) error { return nil }
func (NopWorkflow) Revoked(context.Context, vsecure.Approval) error { return nil }

// Config holds the gate's dependencies.
type Config struct {
	Store    vsecure.Store
	Sealer   vsecure.Sealer
	Workflow Workflow
	// ApprovalURL is the link where a human looks at approval id (the
	// approvalUrl of views); the HTTP layer owns the path
	// (httpapi.ApprovalURL). nil links nowhere ("").
	ApprovalURL func(id string) string
	// CursorKey signs pagination cursors (≥ 32 bytes). CursorKeys, if
	// set, supplies it instead, on the first call that paginates.
	CursorKey  []byte
	CursorKeys CursorKeySource
	Logger     *slog.Logger
	// ApprovalRate limits approval requests per requester so that
	// approvers cannot be spammed. The store holds the buckets, so the
	// limit holds across processes. Zero is the product's rule,
	// vsecure.ApprovalRequestLimit; NoApprovalRate turns it off.
	ApprovalRate vsecure.RateLimit
	// AuditVerifier checks the audit log against its signed digests; nil
	// refuses audit verification as unavailable.
	AuditVerifier AuditVerifier
	// AuditKey is the key audit digests are signed with, named in exports
	// and verification reports; nil names none.
	AuditKey AuditKey
	// ExportPageBytes bounds one page of the audit export (0:
	// DefaultExportPageBytes).
	ExportPageBytes int
	// RefusalWindow is how long anonymous refusals of one source and
	// reason are aggregated into one summary entry (see refusals.go); 0
	// means DefaultRefusalWindow, negative writes every refusal.
	// RefusalWindows caps the open windows (0: DefaultRefusalWindows).
	RefusalWindow  time.Duration
	RefusalWindows int
	// Now and Rand are injectable for tests.
	Now  func() time.Time
	Rand io.Reader
	// Humans verifies people's identity-provider JWTs (shared/oidc); nil
	// refuses every JWT.
	Humans HumanVerifier
}

// Gate is the service. Build it once and share it across requests.
type Gate struct {
	store       vsecure.Store
	sealer      vsecure.Sealer
	workflow    Workflow
	approvalURL func(id string) string
	cursorKey   []byte
	// cursorSource, if set, supplies the cursor key instead of cursorKey.
	cursorSource CursorKeySource
	log          *slog.Logger
	now          func() time.Time
	rand         io.Reader
	approvalRate vsecure.RateLimit
	verifier     AuditVerifier
	auditKey     AuditKey
	exportBytes  int
	refusals     *refusals
	humans       HumanVerifier
}

// New validates cfg and returns a gate.
func New(cfg Config) (*Gate, error) {
	if cfg.Store == nil || cfg.Sealer == nil {
		return nil, errors.New("gate: store and sealer are required")
	}
	if cfg.CursorKeys == nil && len(cfg.CursorKey) < 32 {
		return nil, errors.New("gate: cursor key must be at least 32 bytes")
	}
	g := &Gate{
		store: detachedStore{cfg.Store}, sealer: cfg.Sealer, workflow: cfg.Workflow,
		approvalURL: cfg.ApprovalURL, cursorKey: cfg.CursorKey, cursorSource: cfg.CursorKeys, log: cfg.Logger,
		now: cfg.Now, rand: cfg.Rand, approvalRate: cfg.ApprovalRate, verifier: cfg.AuditVerifier,
		auditKey: cfg.AuditKey, exportBytes: cfg.ExportPageBytes,
		refusals: newRefusals(cfg.RefusalWindow, cfg.RefusalWindows),
	}
	g.humans = cfg.Humans
	if g.workflow == nil {
		g.workflow = NopWorkflow{}
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.exportBytes <= 0 {
		g.exportBytes = DefaultExportPageBytes
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.rand == nil {
		g.rand = rand.Reader
	}
	if g.approvalRate == (vsecure.RateLimit{}) {
		g.approvalRate = vsecure.ApprovalRequestLimit
	}
	return g, nil
}

// SetWorkflow replaces the workflow (the local twin needs the gate first).
func (g *Gate) SetWorkflow(w Workflow) { g.workflow = w }

// Store exposes the store to adapters built around the gate (workflow).
func (g *Gate) Store() vsecure.Store { return g.store }

// Call describes who is calling and from where (vsecure.Call, so that
// adapters can pass one without importing the gate).
type Call = vsecure.Call

func (g *Gate) clock() time.Time { return g.now().UTC() }

// entry starts an audit entry for op on resource by the caller.
func (g *Gate) entry(c Call, op, resource string) vsecure.Entry {
	now := g.now()
	md := maps.Clone(c.Metadata)
	if md == nil {
		md = map[string]string{}
	}
	if c.IP != "" {
		md["ipAddress"] = c.IP
	}
	if c.UserAgent != "" {
		md["userAgent"] = c.UserAgent
	}
	if c.RequestID != "" {
		md["requestId"] = c.RequestID
	}
	if c.Principal.Scope != nil {
		md["credential"] = "access_token"
	}
	if c.Principal.Human {
		md["credential"] = api.CredentialOIDC
	}
	// Only the credential says whom an agent acts for ("ai-agent-123 for
	// alice"), never an adapter's metadata.
	delete(md, "onBehalfOf")
	if c.Principal.OnBehalfOf != "" {
		md["onBehalfOf"] = c.Principal.OnBehalfOf
	}
	return vsecure.Entry{
		ID: g.newID("log_", now), Timestamp: now.UTC().Truncate(time.Second),
		Resource: resource, Operation: op, Actor: c.Actor(), Success: true, Metadata: md,
	}
}

// fail records a refused or failed call and returns the error to show. If
// the refusal itself cannot be audited the caller sees audit_unavailable.
func (g *Gate) fail(ctx context.Context, e vsecure.Entry, err error) error {
	e.Success = false
	e.Error = string(vsecure.ErrorCode(err))
	if vsecure.ErrorCode(err) == vsecure.EInternal || vsecure.ErrorCode(err) == vsecure.EUnavailable {
		g.log.ErrorContext(ctx, "operation failed", "op", e.Operation, "resource", e.Resource, "err", err)
	}
	if aerr := g.store.AppendAudit(ctx, e); aerr != nil {
		g.log.ErrorContext(ctx, "audit append failed", "op", e.Operation, "err", aerr)
		return vsecure.Wrap(vsecure.EAuditUnavailable, aerr, "the audit log is unavailable; the operation was not performed")
	}
	return err
}

// appendOK records a successful read-only call before its data is returned.
func (g *Gate) appendOK(ctx context.Context, e vsecure.Entry) error {
	if err := g.store.AppendAudit(ctx, e); err != nil {
		g.log.ErrorContext(ctx, "audit append failed", "op", e.Operation, "err", err)
		return vsecure.Wrap(vsecure.EAuditUnavailable, err, "the audit log is unavailable; the operation was not performed")
	}
	return nil
}

// stateFail handles an error of a state-changing write that carried e. An
// unavailable store wrote neither the change nor its entry: the caller sees
// audit_unavailable. Any other failure (a lost race, a missing item) is
// audited as a refusal.
func (g *Gate) stateFail(ctx context.Context, e vsecure.Entry, err error) error {
	if vsecure.IsCode(err, vsecure.EUnavailable) {
		g.log.ErrorContext(ctx, "state write failed", "op", e.Operation, "err", err)
		return vsecure.Wrap(vsecure.EAuditUnavailable, err, "the store is unavailable; the operation was not performed")
	}
	return g.fail(ctx, e, err)
}

var b32 = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// newID returns prefix + a time-sortable id: 48 bits of milliseconds and 80
// random bits, in lowercase Crockford base32 (the ULID layout).
func (g *Gate) newID(prefix string, t time.Time) string {
	var b [16]byte
	ms := uint64(t.UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	if _, err := io.ReadFull(g.rand, b[6:]); err != nil {
		panic("gate: randomness unavailable: " + err.Error())
	}
	return prefix + b32.EncodeToString(b[:])
}

// secret returns prefix + 32 random bytes, base64url.
func (g *Gate) secret(prefix string) string {
	var b [32]byte
	if _, err := io.ReadFull(g.rand, b[:]); err != nil {
		panic("gate: randomness unavailable: " + err.Error())
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// HashCredential is how API keys and access tokens are stored: they carry
// 256 bits of entropy, so a plain SHA-256 is enough (no password stretching).
func HashCredential(cred string) string {
	sum := sha256.Sum256([]byte(cred))
	return hex.EncodeToString(sum[:])
}

// Credential prefixes.
const (
	KeyPrefix   = "vsk_"
	TokenPrefix = "mcp_at_"
)
