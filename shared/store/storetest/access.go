package storetest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vsecure/vsecure/shared/vsecure"
)

func testPoliciesEmpty(e *env) {
	got, err := e.s.ListPolicies(e.ctx)
	e.ok(err, "ListPolicies")
	if len(got) != 0 {
		e.t.Fatalf("empty store lists %d policies", len(got))
	}
}

func testPoliciesOrdered(e *env) {
	uris := []string{
		"vsecure://secrets/production/DB",
		"vsecure://custom/db/*",
		"vsecure://secrets/*",
		"vsecure://api-keys/*",
		"vsecure://secrets/production/*",
	}
	var want []vsecure.Policy
	for _, u := range uris {
		p := e.policy(u)
		e.ok(e.s.PutPolicy(e.ctx, p, e.entry(vsecure.AuditConfigure, u, "admin")), "PutPolicy %s", u)
		want = append(want, p)
	}
	slices.SortFunc(want, func(a, b vsecure.Policy) int { return strings.Compare(a.URI, b.URI) })
	got, err := e.s.ListPolicies(e.ctx)
	e.ok(err, "ListPolicies")
	e.same("ListPolicies", got, want)
}

func testPoliciesOverwrite(e *env) {
	p := e.policy("vsecure://secrets/production/*")
	e.ok(e.s.PutPolicy(e.ctx, p, e.entry(vsecure.AuditConfigure, p.URI, "admin")), "PutPolicy")
	p.Permissions = []vsecure.Operation{vsecure.OpRead}
	p.Approvers = []string{"carol"}
	p.Description = "tightened"
	p.UpdatedAt = e.now()
	e.ok(e.s.PutPolicy(e.ctx, p, e.entry(vsecure.AuditConfigure, p.URI, "admin")), "PutPolicy again")
	got, err := e.s.ListPolicies(e.ctx)
	e.ok(err, "ListPolicies")
	e.same("ListPolicies after overwrite", got, []vsecure.Policy{p})
}

func testLoadAccessEmpty(e *env) {
	v := e.load("agent-1", "vsecure://secrets/production/DB", vsecure.OpRead, 0)
	if len(v.Policies) != 0 || v.Secret != nil || v.Value != nil || v.Grant != nil {
		e.t.Fatalf("empty store: LoadAccess found %+v", v)
	}
}

func testLoadAccessCandidates(e *env) {
	resource := "vsecure://secrets/production/DB"
	candidates := []string{
		"vsecure://secrets/production/DB",
		"vsecure://secrets/production/*",
		"vsecure://secrets/*",
	}
	others := []string{
		"vsecure://secrets/production/DB2",
		"vsecure://secrets/production/OTHER",
		"vsecure://secrets/prod/*",
		"vsecure://secrets/staging/*",
		"vsecure://custom/production/*",
		"vsecure://api-keys/*",
	}
	want := map[string]vsecure.Policy{}
	for _, u := range append(slices.Clone(candidates), others...) {
		p := e.policy(u)
		e.ok(e.s.PutPolicy(e.ctx, p, vsecure.Entry{}), "PutPolicy %s", u)
		if slices.Contains(candidates, u) {
			want[u] = p
		}
	}
	v := e.load("agent-1", resource, vsecure.OpRead, 0)
	got := map[string]vsecure.Policy{}
	for _, p := range v.Policies {
		if _, dup := got[p.URI]; dup {
			e.t.Fatalf("LoadAccess returned policy %s twice", p.URI)
		}
		got[p.URI] = p
	}
	e.same("LoadAccess policies (by URI)", got, want)

	// Only some candidates exist: the rest are simply absent.
	v = e.load("agent-1", "vsecure://secrets/staging/API", vsecure.OpRead, 0)
	gotURIs := ids(v.Policies, func(p vsecure.Policy) string { return p.URI })
	slices.Sort(gotURIs)
	e.same("LoadAccess policies of staging/API", gotURIs, []string{"vsecure://secrets/*", "vsecure://secrets/staging/*"})
}

func testLoadAccessVersions(e *env) {
	uri := "vsecure://secrets/production/DB"
	head, vals := e.putSecret(uri, 3)
	e.putSecret("vsecure://secrets/production/DB2", 1)

	v := e.load("agent-1", uri, vsecure.OpRead, 0)
	if v.Secret == nil || v.Value == nil {
		e.t.Fatalf("LoadAccess latest: secret %v value %v", v.Secret, v.Value)
	}
	e.same("head", *v.Secret, head)
	e.same("latest value", *v.Value, vals[2])

	for i, want := range vals {
		v := e.load("agent-1", uri, vsecure.OpRead, i+1)
		if v.Secret == nil || v.Value == nil {
			e.t.Fatalf("LoadAccess version %d: secret %v value %v", i+1, v.Secret, v.Value)
		}
		e.same("head when asking for a version", *v.Secret, head)
		e.same("value of version", *v.Value, want)
	}

	v = e.load("agent-1", uri, vsecure.OpRead, 4)
	if v.Secret == nil || v.Value != nil {
		e.t.Fatalf("LoadAccess of a missing version: secret %v value %v, want head and no value", v.Secret, v.Value)
	}
	v = e.load("agent-1", "vsecure://secrets/production/NONE", vsecure.OpRead, 0)
	if v.Secret != nil || v.Value != nil {
		e.t.Fatalf("LoadAccess of a missing secret: secret %v value %v", v.Secret, v.Value)
	}
}

func testLoadAccessGrant(e *env) {
	res := "vsecure://secrets/production/DB"
	a := e.approve(e.createApproval(e.approval("agent-1", res, vsecure.OpRead)))
	v := e.load("agent-1", res, vsecure.OpRead, 0)
	if v.Grant == nil {
		e.t.Fatal("LoadAccess: no grant after approval")
	}
	e.same("grant", *v.Grant, a)
	for _, q := range []struct {
		principal, resource string
		op                  vsecure.Operation
	}{
		{"agent-2", res, vsecure.OpRead},
		{"agent-1", res, vsecure.OpWrite},
		{"agent-1", "vsecure://secrets/production/DB2", vsecure.OpRead},
		{"alice", res, vsecure.OpRead},
	} {
		if id := e.grantID(q.principal, q.resource, q.op); id != "" {
			e.t.Fatalf("LoadAccess(%s, %s, %s) found grant %s of another principal, resource or operation", q.principal, q.resource, q.op, id)
		}
	}
}

// testLoadAccessKeyAndApproval: the caller's key and a token's approval
// come back as stored, revoked or not, so the gate can judge a credential
// that a cache may still vouch for.
func testLoadAccessKeyAndApproval(e *env) {
	res := "vsecure://secrets/production/DB"
	u, err := vsecure.ParseURI(res)
	e.ok(err, "ParseURI")
	k := e.key("agent-1")
	e.ok(e.s.CreateKey(e.ctx, k, vsecure.Entry{}), "CreateKey")
	a := e.approval("agent-1", res, vsecure.OpRead)
	a.RequestedByKey = k.ID
	a = e.approve(e.createApproval(a))
	q := vsecure.AccessQuery{Principal: "agent-1", Resource: u, Operation: vsecure.OpRead, KeyID: k.ID, ApprovalID: a.ID}
	load := func() vsecure.AccessView {
		e.t.Helper()
		v, err := e.s.LoadAccess(e.ctx, q)
		e.ok(err, "LoadAccess")
		return v
	}

	v := load()
	if v.Key == nil || v.Approval == nil {
		e.t.Fatalf("LoadAccess with a key and an approval id: key %v approval %v, want both", v.Key, v.Approval)
	}
	e.same("key", *v.Key, k)
	e.same("approval", *v.Approval, a)

	e.revoke(a)
	at := e.now()
	k.RevokedAt = &at
	k.Version++
	e.ok(e.s.UpdateKey(e.ctx, k, e.entry(vsecure.AuditKeyRevoke, "", "admin")), "UpdateKey revoke")
	v = load()
	if v.Key == nil || v.Key.RevokedAt == nil || !v.Key.RevokedAt.Equal(at) {
		e.t.Fatalf("LoadAccess after the key's revocation: key %+v, want it with revokedAt %s", v.Key, at)
	}
	if v.Approval == nil || v.Approval.Status != vsecure.StatusRevoked {
		e.t.Fatalf("LoadAccess after the approval's revocation: approval %+v, want it revoked", v.Approval)
	}
	if v.Grant != nil {
		e.t.Fatalf("LoadAccess after revocation: grant %s", v.Grant.ID)
	}

	q.KeyID, q.ApprovalID = "key_missing", "appr_missing"
	if v = load(); v.Key != nil || v.Approval != nil {
		e.t.Fatalf("LoadAccess of a missing key and approval: key %v approval %v, want neither", v.Key, v.Approval)
	}
	q.KeyID, q.ApprovalID = "", ""
	if v = load(); v.Key != nil || v.Approval != nil {
		e.t.Fatalf("LoadAccess without a key or approval id: key %v approval %v, want neither", v.Key, v.Approval)
	}
}

func testPutSecretFirstVersion(e *env) {
	uri := "vsecure://secrets/production/DB"
	for _, v := range []int{0, 2} {
		h, val := e.secret(uri, v)
		e.code(e.s.PutSecret(e.ctx, h, val, e.entry(vsecure.AuditWrite, uri, "admin")), vsecure.EConflict, "first PutSecret at version %d", v)
	}
	if got := e.load("admin", uri, vsecure.OpRead, 0); got.Secret != nil {
		e.t.Fatalf("a refused write created %+v", got.Secret)
	}
	if n := e.auditCount(); n != 0 {
		e.t.Fatalf("refused writes left %d audit entries", n)
	}
	e.putSecret(uri, 1)
}

func testPutSecretFollowsHead(e *env) {
	uri := "vsecure://secrets/production/DB"
	head, vals := e.putSecret(uri, 2)
	before := e.auditCount()
	for _, v := range []int{1, 2, 4} {
		h, val := e.secret(uri, v)
		e.code(e.s.PutSecret(e.ctx, h, val, e.entry(vsecure.AuditWrite, uri, "admin")), vsecure.EConflict, "PutSecret version %d over head 2", v)
	}
	got := e.load("admin", uri, vsecure.OpRead, 0)
	e.same("head after refused writes", *got.Secret, head)
	e.same("latest value after refused writes", *got.Value, vals[1])
	if n := e.auditCount(); n != before {
		e.t.Fatalf("refused writes changed the audit log from %d to %d entries", before, n)
	}
	h, val := e.secret(uri, 3)
	e.ok(e.s.PutSecret(e.ctx, h, val, e.entry(vsecure.AuditWrite, uri, "admin")), "PutSecret version 3")
}

func testPutSecretVersionsReadable(e *env) {
	uri := "vsecure://secrets/production/API"
	_, vals := e.putSecret(uri, 12) // past 9 and 10 to catch lexical version ordering
	for i, want := range vals {
		got := e.load("admin", uri, vsecure.OpRead, i+1)
		if got.Value == nil {
			e.t.Fatalf("version %d unreadable", i+1)
		}
		e.same("version", *got.Value, want)
	}
	if got := e.load("admin", uri, vsecure.OpRead, 0); got.Value == nil || got.Value.Version != 12 {
		e.t.Fatalf("latest value %+v, want version 12", got.Value)
	}
}

// A write that loaded the head before some reads must not reset the
// counters those reads advanced.
func testPutSecretKeepsStats(e *env) {
	uri := "vsecure://secrets/production/DB"
	e.putSecret(uri, 1)
	var lastAt time.Time
	for i := range 3 {
		en := e.entry(vsecure.AuditRead, uri, "agent-1")
		lastAt = en.Timestamp
		e.ok(e.s.RecordRead(e.ctx, uri, lastAt, en), "RecordRead")
		if i == 1 {
			e.flush() // counted before the write, and one after it
		}
	}
	last := vsecure.Secret{AccessedAt: &lastAt}
	h, val := e.secret(uri, 2) // AccessCount 0, AccessedAt nil: a stale view
	e.ok(e.s.PutSecret(e.ctx, h, val, e.entry(vsecure.AuditWrite, uri, "admin")), "PutSecret v2")
	e.flush()
	got := e.load("admin", uri, vsecure.OpRead, 0).Secret
	if got.AccessCount != 3 || got.AccessedAt == nil || !got.AccessedAt.Equal(*last.AccessedAt) {
		e.t.Fatalf("after PutSecret: accessCount %d accessedAt %v, want 3 and %v", got.AccessCount, got.AccessedAt, last.AccessedAt)
	}
	if got.Version != 2 || !got.UpdatedAt.Equal(h.UpdatedAt) {
		e.t.Fatalf("after PutSecret: head %+v, want version 2 updated at %v", got, h.UpdatedAt)
	}
}

func testListSecrets(e *env) {
	prod := []string{
		"vsecure://secrets/production/A",
		"vsecure://secrets/production/B",
		"vsecure://secrets/production/C",
		"vsecure://secrets/production/D",
		"vsecure://secrets/production/E",
	}
	others := []string{
		"vsecure://secrets/productionX/A",
		"vsecure://secrets/staging/A",
		"vsecure://custom/production/A",
	}
	heads := map[string]vsecure.Secret{}
	for _, u := range []string{prod[3], others[0], prod[0], others[2], prod[4], prod[2], others[1], prod[1]} {
		h, _ := e.putSecret(u, 1)
		heads[u] = h
	}
	list := func(pattern string, limit int) []vsecure.Secret {
		var out []vsecure.Secret
		cursor := ""
		for range 100 {
			page, next, err := e.s.ListSecrets(e.ctx, pattern, cursor, limit)
			e.ok(err, "ListSecrets %s", pattern)
			if len(page) > limit {
				e.t.Fatalf("ListSecrets returned %d items over limit %d", len(page), limit)
			}
			out = append(out, page...)
			if next == "" {
				return out
			}
			cursor = next
		}
		e.t.Fatal("ListSecrets cursor never ended")
		return nil
	}
	for _, limit := range []int{1, 2, 5, 100} {
		got := list("vsecure://secrets/production/*", limit)
		e.same(fmt.Sprintf("ListSecrets production/* URIs (limit %d)", limit), ids(got, secretURI), prod)
		for _, s := range got {
			e.same("listed head", s, heads[s.URI])
		}
	}
	all := list("vsecure://secrets/*", 3)
	want := append(slices.Clone(prod), others[0], others[1])
	slices.Sort(want)
	e.same("ListSecrets secrets/*", ids(all, secretURI), want)
	if got := list("vsecure://secrets/nothing/*", 2); len(got) != 0 {
		e.t.Fatalf("ListSecrets of an empty pattern listed %v", ids(got, secretURI))
	}
}

func testListSecretsExact(e *env) {
	e.putSecret("vsecure://secrets/production/A", 1)
	e.putSecret("vsecure://secrets/production/AB", 1)
	got, next, err := e.s.ListSecrets(e.ctx, "vsecure://secrets/production/A", "", 10)
	e.ok(err, "ListSecrets exact")
	if next != "" {
		e.t.Fatalf("ListSecrets exact: cursor %q after the only item", next)
	}
	e.same("ListSecrets exact", ids(got, secretURI), []string{"vsecure://secrets/production/A"})
}

func testListSecretsGarbageCursor(e *env) {
	e.putSecret("vsecure://secrets/production/A", 1)
	for _, c := range garbageCursors {
		_, _, err := e.s.ListSecrets(e.ctx, "vsecure://secrets/*", c, 10)
		e.code(err, vsecure.EInvalid, "ListSecrets cursor %q", c)
	}
}

func testRecordRead(e *env) {
	uri := "vsecure://secrets/production/DB"
	head, _ := e.putSecret(uri, 1)
	entries := e.auditAll(vsecure.AuditFilter{})
	for i := 1; i <= 3; i++ {
		en := e.entry(vsecure.AuditRead, uri, "agent-1")
		at := en.Timestamp // accessedAt is the read's time, as its entry says
		e.ok(e.s.RecordRead(e.ctx, uri, at, en), "RecordRead %d", i)
		entries = append(entries, en)
		want := head
		want.AccessCount = int64(i)
		want.AccessedAt = &at
		e.flush()
		e.same("head after RecordRead", *e.load("agent-1", uri, vsecure.OpRead, 0).Secret, want)
	}
	e.wantEntries(entries...)
}

// The gate loads the secret before it records a read, so a store need
// not check that it exists: it may refuse (ENotFound, writing nothing) or
// write the entry, but it never creates the secret, even once it applies
// the read's count.
func testRecordReadMissing(e *env) {
	en := e.entry(vsecure.AuditRead, "vsecure://secrets/production/NONE", "agent-1")
	err := e.s.RecordRead(e.ctx, "vsecure://secrets/production/NONE", en.Timestamp, en)
	if err != nil {
		e.code(err, vsecure.ENotFound, "RecordRead of a missing secret")
		if n := e.auditCount(); n != 0 {
			e.t.Fatalf("RecordRead of a missing secret refused but wrote %d audit entries", n)
		}
	} else {
		e.wantEntries(en)
	}
	e.flush()
	if v := e.load("agent-1", "vsecure://secrets/production/NONE", vsecure.OpRead, 0); v.Secret != nil {
		e.t.Fatalf("RecordRead created a secret: %+v", v.Secret)
	}
}

// 50 approvers race to decide one request needing a single approval. Every
// one read the pending request before any wrote, so all of them pass
// Decide, and the store must let exactly one write through.
func testConcurrentDecisions(e *env) {
	const n = 50
	res := "vsecure://secrets/production/DB"
	a := e.approval("agent-1", res, vsecure.OpRead)
	a.Approvers = nil
	for i := range n {
		a.Approvers = append(a.Approvers, "approver-"+string(rune('a'+i/26))+string(rune('a'+i%26)))
	}
	e.createApproval(a)
	before := e.auditCount()

	var read, wg sync.WaitGroup
	read.Add(n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			by := a.Approvers[i]
			cur, err := e.s.GetApproval(e.ctx, a.ID)
			read.Done()
			read.Wait() // everyone holds the pending version before anyone writes
			if err != nil {
				errs[i] = err
				return
			}
			next, err := cur.Decide(by, vsecure.ActionApprove, "", cur.RequestedAt.Add(time.Minute))
			if err != nil {
				errs[i] = err
				return
			}
			errs[i] = e.s.UpdateApproval(e.ctx, next, e.entry(vsecure.AuditApprove, res, by))
		})
	}
	wg.Wait()

	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			e.t.Fatalf("both %s and %s decided the request", a.Approvers[winner], a.Approvers[i])
		case err == nil:
			winner = i
		case !vsecure.IsCode(err, vsecure.EConflict):
			e.t.Fatalf("loser %s: got %v, want a conflict", a.Approvers[i], err)
		}
	}
	if winner < 0 {
		e.t.Fatal("no decision succeeded")
	}
	got, err := e.s.GetApproval(e.ctx, a.ID)
	e.ok(err, "GetApproval")
	if got.Status != vsecure.StatusApproved || got.ApprovedBy != a.Approvers[winner] || got.Version != a.Version+1 || len(got.Decisions) != 1 {
		e.t.Fatalf("stored approval %+v, want approved once by %s at version %d", got, a.Approvers[winner], a.Version+1)
	}
	approvals := e.auditAll(vsecure.AuditFilter{Operation: vsecure.AuditApprove})
	if len(approvals) != 1 || approvals[0].Actor != a.Approvers[winner] {
		e.t.Fatalf("audit has %d approve entries %v, want one by the winner %s", len(approvals), approvals, a.Approvers[winner])
	}
	if n := e.auditCount(); n != before+1 {
		e.t.Fatalf("audit grew by %d entries, want 1", n-before)
	}
	if id := e.grantID("agent-1", res, vsecure.OpRead); id != a.ID {
		e.t.Fatalf("grant %q, want %s", id, a.ID)
	}
}

// ListSecrets shows every recorded read, whether or not the store has
// applied it to the head yet, and counts none twice once it has.
func testRecordReadListing(e *env) {
	uri := "vsecure://secrets/production/DB"
	head, _ := e.putSecret(uri, 1)
	e.putSecret("vsecure://secrets/production/OTHER", 1)
	read := func(n int) time.Time {
		var at time.Time
		for range n {
			en := e.entry(vsecure.AuditRead, uri, "agent-1")
			at = en.Timestamp
			e.ok(e.s.RecordRead(e.ctx, uri, at, en), "RecordRead")
		}
		return at
	}
	want := func(what string, count int64, at time.Time) {
		e.t.Helper()
		got, _, err := e.s.ListSecrets(e.ctx, "vsecure://secrets/production/*", "", 10)
		e.ok(err, "ListSecrets")
		if len(got) != 2 || got[0].URI != uri {
			e.t.Fatalf("%s: listed %v", what, ids(got, secretURI))
		}
		w := head
		w.AccessCount, w.AccessedAt = count, &at
		e.same(what, got[0], w)
		if got[1].AccessCount != 0 || got[1].AccessedAt != nil {
			e.t.Fatalf("%s: the unread secret shows %d reads", what, got[1].AccessCount)
		}
	}
	at := read(3)
	want("3 reads, none applied", 3, at)
	e.flush()
	want("3 reads, all applied", 3, at)
	at = read(2)
	want("5 reads, 3 applied", 5, at)
	e.flush()
	want("5 reads, all applied", 5, at)
}

// 50 readers × 20 reads: no increment may be lost and every read gets its
// own count and audit entry.
func testConcurrentRecordRead(e *env) {
	const readers, reads = 50, 20
	uri := "vsecure://secrets/production/DB"
	e.putSecret(uri, 1)
	errs := make([]error, readers)
	var wg sync.WaitGroup
	for g := range readers {
		wg.Go(func() {
			for range reads {
				en := e.entry(vsecure.AuditRead, uri, "agent-"+string(rune('a'+g%26)))
				if err := e.s.RecordRead(e.ctx, uri, en.Timestamp, en); err != nil {
					errs[g] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for g, err := range errs {
		e.ok(err, "reader %d", g)
	}
	e.flush()
	head := e.load("agent-1", uri, vsecure.OpRead, 0).Secret
	if head.AccessCount != readers*reads {
		e.t.Fatalf("accessCount %d, want %d", head.AccessCount, readers*reads)
	}
	if head.AccessedAt == nil || head.AccessedAt.Before(base) {
		e.t.Fatalf("accessedAt %v not set by the reads", head.AccessedAt)
	}
	got := e.auditAll(vsecure.AuditFilter{Resource: uri, Operation: vsecure.AuditRead})
	if len(got) != readers*reads {
		e.t.Fatalf("%d read entries, want %d", len(got), readers*reads)
	}
}
