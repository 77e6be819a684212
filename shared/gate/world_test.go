package gate_test

// world is the fixture of the rule tables (rules_test.go, access_test.go,
// failclosed_test.go): a gate over a fresh embedded store in t.TempDir()
// with the local sealer and an injected clock.

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vsecure/vsecure/internal/testclock"
	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/crypto/local"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/store/embedded"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// Fixture resources. Each policy exists for one kind of rule.
const (
	stagingURI = "vsecure://secrets/staging/API_TOKEN"       // staging/*: read, write, no approval
	dbURI      = "vsecure://secrets/production/DATABASE_URL" // production/*: read, alice or bob
	otherURI   = "vsecure://secrets/production/OTHER"
	vaultURI   = "vsecure://secrets/vault/K" // vault/*: read, alice and bob (quorum 2)
	opsURI     = "vsecure://secrets/ops/X"   // ops/*: read, dual, alice or admin
	devURI     = "vsecure://secrets/dev/X"   // no policy
	dbValue    = "postgresql://app:hunter2@db.internal:5432/app"
)

// rulesAdminKey is the bootstrap admin's credential.
const rulesAdminKey = "vsk_rules-admin-key-0123456789abcdefghijklmnopqrstuvwxyz"

// faults breaks the store on demand. audit fails every audit append;
// writes fails every state write, each of which carries its audit entry
// in the same atomic write. An audit log that cannot be written at all is
// both. The next lose state writes lose their conditional check, as to a
// concurrent writer; lost counts them. marks counts the key-use writes
// (MarkKeyUsed), which fail while marksDown. listKeysDown, slackDown,
// completeDown and releaseDown fail those reads and idempotency writes;
// digestDownAt fails the digest lookup of that one time.
type faults struct {
	vsecure.Store
	audit, writes, marksDown, tornOnce                 atomic.Bool
	listKeysDown, slackDown, completeDown, releaseDown atomic.Bool
	digestDownAt                                       atomic.Pointer[time.Time]
	lose, lost, marks, loads, failLoad                 atomic.Int32
}

func (f *faults) ListKeys(ctx context.Context, cursor string, limit int) ([]vsecure.Key, string, error) {
	if f.listKeysDown.Load() {
		return nil, "", errDown
	}
	return f.Store.ListKeys(ctx, cursor, limit)
}

func (f *faults) KeysBySlackUser(ctx context.Context, id string) ([]vsecure.Key, error) {
	if f.slackDown.Load() {
		return nil, errDown
	}
	return f.Store.KeysBySlackUser(ctx, id)
}

func (f *faults) CompleteIdempotency(ctx context.Context, r vsecure.IdempotencyRecord) error {
	if f.completeDown.Load() {
		return errDown
	}
	return f.Store.CompleteIdempotency(ctx, r)
}

func (f *faults) ReleaseIdempotency(ctx context.Context, principal, key, token string) error {
	if f.releaseDown.Load() {
		return errDown
	}
	return f.Store.ReleaseIdempotency(ctx, principal, key, token)
}

func (f *faults) DigestBefore(ctx context.Context, t time.Time) (vsecure.Digest, error) {
	if at := f.digestDownAt.Load(); at != nil && at.Equal(t) {
		return vsecure.Digest{}, errDown
	}
	return f.Store.DigestBefore(ctx, t)
}

// LoadAccess shows, while tornOnce, the next view of the latest version
// with a head one version behind its value, as a store without snapshot
// reads can in a concurrent write; loads counts the reads, and the read
// whose number is failLoad fails.
func (f *faults) LoadAccess(ctx context.Context, q vsecure.AccessQuery) (vsecure.AccessView, error) {
	if f.loads.Add(1) == f.failLoad.Load() {
		return vsecure.AccessView{}, errDown
	}
	v, err := f.Store.LoadAccess(ctx, q)
	if err == nil && q.Version == 0 && v.Secret != nil && f.tornOnce.CompareAndSwap(true, false) {
		head := *v.Secret
		head.Version--
		v.Secret = &head
	}
	return v, err
}

func (f *faults) MarkKeyUsed(ctx context.Context, k vsecure.Key, at, since time.Time) error {
	f.marks.Add(1)
	if f.marksDown.Load() {
		return errDown
	}
	return f.Store.MarkKeyUsed(ctx, k, at, since)
}

var (
	errDown = vsecure.Wrap(vsecure.EUnavailable, io.ErrUnexpectedEOF, "store unavailable")
	errLost = vsecure.Errorf(vsecure.EConflict, "a concurrent writer got there first")
)

func (f *faults) write() error {
	if f.writes.Load() {
		return errDown
	}
	if f.lose.Add(-1) >= 0 {
		f.lost.Add(1)
		return errLost
	}
	f.lose.Store(0)
	return nil
}

func (f *faults) AppendAudit(ctx context.Context, e vsecure.Entry) error {
	if f.audit.Load() {
		return errDown
	}
	return f.Store.AppendAudit(ctx, e)
}

func (f *faults) PutPolicy(ctx context.Context, p vsecure.Policy, e vsecure.Entry) error {
	if err := f.write(); err != nil {
		return err
	}
	return f.Store.PutPolicy(ctx, p, e)
}

func (f *faults) RecordRead(ctx context.Context, uri string, at time.Time, e vsecure.Entry) error {
	if err := f.write(); err != nil {
		return err
	}
	return f.Store.RecordRead(ctx, uri, at, e)
}

func (f *faults) SpendUse(ctx context.Context, a vsecure.Approval, uri string, at time.Time, e vsecure.Entry) error {
	if err := f.write(); err != nil {
		return err
	}
	return f.Store.SpendUse(ctx, a, uri, at, e)
}

func (f *faults) PutSecret(ctx context.Context, h vsecure.Secret, v vsecure.SecretVersion, e vsecure.Entry) error {
	if err := f.write(); err != nil {
		return err
	}
	return f.Store.PutSecret(ctx, h, v, e)
}

func (f *faults) CreateApproval(ctx context.Context, a vsecure.Approval, e vsecure.Entry) error {
	if err := f.write(); err != nil {
		return err
	}
	return f.Store.CreateApproval(ctx, a, e)
}

func (f *faults) UpdateApproval(ctx context.Context, a vsecure.Approval, e vsecure.Entry) error {
	if err := f.write(); err != nil {
		return err
	}
	return f.Store.UpdateApproval(ctx, a, e)
}

func (f *faults) CreateKey(ctx context.Context, k vsecure.Key, e vsecure.Entry) error {
	if err := f.write(); err != nil {
		return err
	}
	return f.Store.CreateKey(ctx, k, e)
}

func (f *faults) UpdateKey(ctx context.Context, k vsecure.Key, e vsecure.Entry) error {
	if err := f.write(); err != nil {
		return err
	}
	return f.Store.UpdateKey(ctx, k, e)
}

func (f *faults) RotateKey(ctx context.Context, old, next vsecure.Key, e vsecure.Entry) error {
	if err := f.write(); err != nil {
		return err
	}
	return f.Store.RotateKey(ctx, old, next, e)
}

// world is a gate over a fresh embedded store with the fixture policies,
// a secret under each, and keys for:
//
//	admin         admin
//	ai-agent-123  agent     (the requester of most rows)
//	ai-agent-999  agent     (another agent)
//	alice, bob    approver  (listed on production, vault, ops (alice))
//	carol         approver  (listed nowhere)
//	dual          agent + approver (listed on ops)
//	auditor-1     auditor
type world struct {
	t     *testing.T
	g     *gate.Gate
	st    *faults
	clock *testclock.Clock
	keys  map[string]api.CreatedKey
	// config built g (gateWith builds others like it).
	config gate.Config
}

// gateWith is a second gate over the world's store, sealer and clock, its
// config changed by change. Calls of the world (w.as) work on it too.
func (w *world) gateWith(change func(c *gate.Config)) *gate.Gate {
	w.t.Helper()
	c := w.config
	change(&c)
	g, err := gate.New(c)
	if err != nil {
		w.t.Fatal(err)
	}
	return g
}

// start is the fixture clock's first reading (a Friday, 10:30 UTC).
var start = time.Date(2024, 3, 15, 10, 30, 0, 0, time.UTC)

func newWorld(t *testing.T, at ...time.Time) *world {
	t.Helper()
	db, err := embedded.Open(filepath.Join(t.TempDir(), "vsecure.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return newWorldOn(t, db, at...)
}

// newWorldOn is newWorld on a store of the caller's (stores.Both).
func newWorldOn(t *testing.T, db vsecure.Store, at ...time.Time) *world {
	t.Helper()
	ctx := t.Context()
	sealer, err := local.New(bytes.Repeat([]byte("m"), 32))
	if err != nil {
		t.Fatal(err)
	}
	clk := testclock.New(start)
	if len(at) > 0 {
		clk.Set(at[0])
	}
	w := &world{t: t, st: &faults{Store: db}, clock: clk, keys: map[string]api.CreatedKey{}}
	w.config = gate.Config{
		Store: w.st, Sealer: sealer, ApprovalURL: func(id string) string { return "https://vsecure.example/v1/security/mcp/approvals/" + id },
		CursorKey: bytes.Repeat([]byte("k"), 32), Now: clk.Now,
	}
	w.g, err = gate.New(w.config)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.g.EnsureKey(ctx, rulesAdminKey, "admin", []vsecure.Role{vsecure.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	for p, roles := range map[string][]string{
		"ai-agent-123": {"agent"}, "ai-agent-999": {"agent"}, "alice": {"approver"}, "bob": {"approver"},
		"carol": {"approver"}, "dual": {"agent", "approver"}, "auditor-1": {"auditor"},
	} {
		k, err := w.g.CreateKey(ctx, w.as("admin"), api.KeyRequest{Principal: p, Roles: roles})
		if err != nil {
			t.Fatal(err)
		}
		w.keys[p] = k
	}
	for _, p := range []vsecure.Policy{
		{URI: "vsecure://secrets/staging/*", Permissions: []vsecure.Operation{vsecure.OpRead, vsecure.OpWrite}},
		{URI: "vsecure://secrets/production/*", Permissions: []vsecure.Operation{vsecure.OpRead},
			RequiresApproval: true, Approvers: []string{"alice", "bob"}},
		{URI: "vsecure://secrets/vault/*", Permissions: []vsecure.Operation{vsecure.OpRead},
			RequiresApproval: true, Approvers: []string{"alice", "bob"}, RequiredApprovals: 2},
		{URI: "vsecure://secrets/ops/*", Permissions: []vsecure.Operation{vsecure.OpRead},
			RequiresApproval: true, Approvers: []string{"dual", "alice", "admin"}},
	} {
		w.configure(p)
	}
	for _, u := range []string{stagingURI, dbURI, otherURI, vaultURI, opsURI, devURI} {
		v := "value of " + u
		if u == dbURI {
			v = dbValue
		}
		if _, err := w.g.WriteSecret(ctx, w.as("admin"), uri(t, u), api.SecretWrite{Value: &v}); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

func uri(t *testing.T, s string) vsecure.URI {
	t.Helper()
	u, err := vsecure.ParseURI(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (w *world) configure(p vsecure.Policy) {
	w.t.Helper()
	if _, err := w.g.ConfigurePolicy(w.t.Context(), w.as("admin"), p); err != nil {
		w.t.Fatalf("configure %s: %v", p.URI, err)
	}
}

// cred is the API key of principal.
func (w *world) cred(principal string) string {
	if principal == "admin" {
		return rulesAdminKey
	}
	k, ok := w.keys[principal]
	if !ok {
		w.t.Fatalf("no key for %s", principal)
	}
	return k.Secret
}

// as authenticates principal's key now, as the authorizer does.
func (w *world) as(principal string) gate.Call { return w.login(w.cred(principal)) }

// login authenticates a credential (API key or access token) now; the
// call it returns is what a cached authorizer answer would hold on to.
func (w *world) login(cred string) gate.Call {
	w.t.Helper()
	p, err := w.g.Authenticate(w.t.Context(), cred, gate.Call{})
	if err != nil {
		w.t.Fatalf("authenticate: %v", err)
	}
	return gate.Call{Principal: p}
}

// request has principal request op on resource (ttl nil: the default).
func (w *world) request(principal, resource, op string, ttl *int) (api.ApprovalView, error) {
	return w.g.RequestApproval(w.t.Context(), w.as(principal), api.ApprovalRequest{Resource: resource, Operation: op, Reason: "rules", TTL: ttl})
}

// pending has ai-agent-123 request read on resource; it must be pending.
func (w *world) pending(resource string) string {
	w.t.Helper()
	a, err := w.request("ai-agent-123", resource, "read", nil)
	if err != nil || a.Status != vsecure.StatusPending {
		w.t.Fatalf("request %s: %v (status %q)", resource, err, a.Status)
	}
	return a.ID
}

// approved has ai-agent-123 request read on dbURI and alice approve it;
// it returns the approval id and its access token.
func (w *world) approved() (id, token string) {
	w.t.Helper()
	id = w.pending(dbURI)
	d, err := w.decide("alice", id, "approve")
	if err != nil || d.Status != vsecure.StatusApproved || d.AccessToken == "" {
		w.t.Fatalf("approve: %v (status %q, token issued %v)", err, d.Status, d.AccessToken != "")
	}
	return id, d.AccessToken
}

func (w *world) decide(principal, id, action string) (api.ApprovalView, error) {
	return w.g.Decide(w.t.Context(), w.as(principal), id, api.Respond{Action: action})
}

func (w *world) read(c gate.Call, resource string) (api.SecretRead, error) {
	return w.g.ReadSecret(w.t.Context(), c, uri(w.t, resource), 0)
}

func (w *world) write(c gate.Call, resource, value string) (api.SecretInfo, error) {
	return w.g.WriteSecret(w.t.Context(), c, uri(w.t, resource), api.SecretWrite{Value: &value})
}

// stored is the approval as the store holds it, judged at the clock.
func (w *world) stored(id string) vsecure.Approval {
	w.t.Helper()
	a, err := w.st.Store.GetApproval(w.t.Context(), id)
	if err != nil {
		w.t.Fatal(err)
	}
	a.Status = a.StatusAt(w.clock.Now())
	return a
}

// entry returns the one audit entry of op by actor (entries written in
// the same millisecond have no order, so rows find theirs by actor).
func (w *world) entry(op, actor string) vsecure.Entry {
	w.t.Helper()
	return w.one(vsecure.AuditFilter{Operation: op, Actor: actor})
}

// refusal returns the one refused call of op by actor.
func (w *world) refusal(op, actor string) vsecure.Entry {
	w.t.Helper()
	return w.one(vsecure.AuditFilter{Operation: op, Actor: actor, Success: ptr(false)})
}

func (w *world) one(f vsecure.AuditFilter) vsecure.Entry {
	w.t.Helper()
	es, _, err := w.st.Store.QueryAudit(w.t.Context(), f, "", 100)
	if err != nil {
		w.t.Fatal(err)
	}
	if len(es) != 1 {
		w.t.Fatalf("%d %s entries by %s, want 1: %+v", len(es), f.Operation, f.Actor, es)
	}
	return es[0]
}

// want fails unless err has code ("" means success).
func want(t *testing.T, err error, code vsecure.Code, what string) {
	t.Helper()
	if code == "" {
		if err != nil {
			t.Fatalf("%s: %v, want success", what, err)
		}
		return
	}
	if !vsecure.IsCode(err, code) {
		t.Fatalf("%s: got %v (code %q), want %q", what, err, vsecure.ErrorCode(err), code)
	}
}

func ptr[T any](v T) *T { return &v }
