package storetest

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// auditSet appends twelve entries (in a scrambled order) and returns them
// oldest first.
func (e *env) auditSet() []vsecure.Entry {
	e.t.Helper()
	resources := []string{
		"vsecure://secrets/production/DB",
		"vsecure://secrets/production/API",
		"vsecure://secrets/staging/DB",
		"vsecure://custom/db/x",
		"",
	}
	actors := []string{"agent-1", "agent-2", "admin"}
	ops := []string{vsecure.AuditRead, vsecure.AuditWrite, vsecure.AuditApprove, vsecure.AuditRead}
	var entries []vsecure.Entry
	for i := range 12 {
		en := e.entry(ops[i%len(ops)], resources[i%len(resources)], actors[i%len(actors)])
		if i%3 == 0 {
			en.Success = false
			en.Error = "forbidden"
		}
		entries = append(entries, en)
	}
	for _, i := range []int{7, 2, 11, 0, 5, 9, 1, 10, 4, 8, 3, 6} {
		e.ok(e.s.AppendAudit(e.ctx, entries[i]), "AppendAudit %d", i)
	}
	return entries
}

func newestFirst(entries []vsecure.Entry, f vsecure.AuditFilter) []vsecure.Entry {
	var out []vsecure.Entry
	for i := len(entries) - 1; i >= 0; i-- {
		if f.Matches(&entries[i]) {
			out = append(out, entries[i])
		}
	}
	return out
}

func auditFilters(entries []vsecure.Entry) []struct {
	name string
	f    vsecure.AuditFilter
} {
	yes, no := true, false
	return []struct {
		name string
		f    vsecure.AuditFilter
	}{
		{"all", vsecure.AuditFilter{}},
		{"resource_exact", vsecure.AuditFilter{Resource: "vsecure://secrets/production/DB"}},
		{"resource_pattern", vsecure.AuditFilter{Resource: "vsecure://secrets/production/*"}},
		{"resource_wide_pattern", vsecure.AuditFilter{Resource: "vsecure://secrets/*"}},
		{"actor", vsecure.AuditFilter{Actor: "agent-2"}},
		{"operation", vsecure.AuditFilter{Operation: vsecure.AuditWrite}},
		{"success", vsecure.AuditFilter{Success: &yes}},
		{"failure", vsecure.AuditFilter{Success: &no}},
		{"from_inclusive", vsecure.AuditFilter{From: entries[3].Timestamp}},
		{"to_inclusive", vsecure.AuditFilter{To: entries[8].Timestamp}},
		{"from_to", vsecure.AuditFilter{From: entries[3].Timestamp, To: entries[8].Timestamp}},
		{"combined", vsecure.AuditFilter{Resource: "vsecure://secrets/production/*", Actor: "agent-2", Success: &yes}},
	}
}

func testAuditNewestFirst(e *env) {
	entries := e.auditSet()
	got, next, err := e.s.QueryAudit(e.ctx, vsecure.AuditFilter{}, "", 100)
	e.ok(err, "QueryAudit")
	if next != "" {
		e.t.Fatalf("QueryAudit: cursor %q after every entry", next)
	}
	want := slices.Clone(entries)
	slices.Reverse(want)
	e.same("QueryAudit", got, want)
}

func (e *env) queryAudit(f vsecure.AuditFilter, limit int) []vsecure.Entry {
	e.t.Helper()
	var out []vsecure.Entry
	cursor := ""
	for range 1000 {
		page, next, err := e.s.QueryAudit(e.ctx, f, cursor, limit)
		e.ok(err, "QueryAudit")
		if len(page) > limit {
			e.t.Fatalf("QueryAudit returned %d entries over limit %d", len(page), limit)
		}
		out = append(out, page...)
		if next == "" {
			return out
		}
		cursor = next
	}
	e.t.Fatal("QueryAudit cursor never ended")
	return nil
}

func testAuditFilters(e *env) {
	entries := e.auditSet()
	for _, tc := range auditFilters(entries) {
		want := newestFirst(entries, tc.f)
		if len(want) == 0 || (tc.name != "all" && len(want) == len(entries)) {
			e.t.Fatalf("%s: fixture selects %d of %d entries; the case tests nothing", tc.name, len(want), len(entries))
		}
		e.same(tc.name, e.queryAudit(tc.f, 100), want)
	}
	// Both bounds are inclusive.
	if got := e.queryAudit(vsecure.AuditFilter{From: entries[3].Timestamp, To: entries[8].Timestamp}, 100); len(got) != 6 {
		e.t.Fatalf("from..to selected %d entries, want 6", len(got))
	}
	if got := e.queryAudit(vsecure.AuditFilter{From: entries[11].Timestamp.Add(time.Second)}, 100); len(got) != 0 {
		e.t.Fatalf("from after the last entry selected %d entries", len(got))
	}
}

func testAuditPagination(e *env) {
	entries := e.auditSet()
	for _, tc := range auditFilters(entries) {
		want := ids(newestFirst(entries, tc.f), entryID)
		for _, limit := range []int{1, 2, 5} {
			got := ids(e.queryAudit(tc.f, limit), entryID)
			e.same(fmt.Sprintf("%s with limit %d", tc.name, limit), got, want)
		}
	}
}

func testAuditDuplicate(e *env) {
	en := e.entry(vsecure.AuditRead, "vsecure://secrets/production/DB", "agent-1")
	e.ok(e.s.AppendAudit(e.ctx, en), "AppendAudit")
	dup := e.entry(vsecure.AuditWrite, "vsecure://secrets/production/DB", "mallory")
	dup.ID, dup.Timestamp = en.ID, en.Timestamp // an entry's key on DynamoDB
	e.code(e.s.AppendAudit(e.ctx, dup), vsecure.EConflict, "AppendAudit over an existing entry")
	e.wantEntries(en)
}

func testAuditZeroEntry(e *env) {
	e.code(e.s.AppendAudit(e.ctx, vsecure.Entry{}), vsecure.EInvalid, "AppendAudit of a zero entry")
	if n := e.auditCount(); n != 0 {
		e.t.Fatalf("zero entry stored: %d entries", n)
	}
}

func testAuditGarbageCursor(e *env) {
	e.auditSet()
	for _, c := range garbageCursors {
		_, _, err := e.s.QueryAudit(e.ctx, vsecure.AuditFilter{}, c, 10)
		e.code(err, vsecure.EInvalid, "QueryAudit cursor %q", c)
	}
}

// changes performs one call of every state-changing method, taking each
// call's entry from entry, and returns what it stored.
type changed struct {
	policy   vsecure.Policy
	head     vsecure.Secret
	approval vsecure.Approval
	key      vsecure.Key
}

func (e *env) changeEverything(entry func(op, resource, actor string) vsecure.Entry) changed {
	e.t.Helper()
	var c changed
	c.policy = e.policy("vsecure://secrets/production/*")
	e.ok(e.s.PutPolicy(e.ctx, c.policy, entry(vsecure.AuditConfigure, c.policy.URI, "admin")), "PutPolicy")

	uri := "vsecure://secrets/production/DB"
	h, v := e.secret(uri, 1)
	e.ok(e.s.PutSecret(e.ctx, h, v, entry(vsecure.AuditWrite, uri, "admin")), "PutSecret")
	c.head = h
	// A read is recorded with its entry only (the gate never reads without
	// one); a store may count reads from its log.
	if read := entry(vsecure.AuditRead, uri, "agent-1"); read.ID != "" {
		at := read.Timestamp
		e.ok(e.s.RecordRead(e.ctx, uri, at, read), "RecordRead")
		c.head.AccessCount, c.head.AccessedAt = 1, &at
	}

	a := e.approval("agent-1", uri, vsecure.OpRead)
	e.ok(e.s.CreateApproval(e.ctx, a, entry(vsecure.AuditRequestApproval, uri, "agent-1")), "CreateApproval")
	next, err := a.Decide("alice", vsecure.ActionApprove, "", a.RequestedAt.Add(time.Second))
	e.ok(err, "Decide")
	e.ok(e.s.UpdateApproval(e.ctx, next, entry(vsecure.AuditApprove, uri, "alice")), "UpdateApproval")
	c.approval = next

	k := e.key("agent-1")
	e.ok(e.s.CreateKey(e.ctx, k, entry(vsecure.AuditKeyCreate, "", "admin")), "CreateKey")
	revoked := e.now()
	k.RevokedAt = &revoked
	k.Version++
	e.ok(e.s.UpdateKey(e.ctx, k, entry(vsecure.AuditKeyRevoke, "", "admin")), "UpdateKey")
	c.key = k
	return c
}

// check asserts that every change of changeEverything took effect.
func (e *env) checkChanged(c changed) {
	e.t.Helper()
	ps, err := e.s.ListPolicies(e.ctx)
	e.ok(err, "ListPolicies")
	e.same("policies", ps, []vsecure.Policy{c.policy})
	e.flush()
	v := e.load("agent-1", c.head.URI, vsecure.OpRead, 0)
	if v.Secret == nil || v.Value == nil || v.Grant == nil {
		e.t.Fatalf("LoadAccess after changes: %+v", v)
	}
	e.same("head", *v.Secret, c.head)
	e.same("grant", *v.Grant, c.approval)
	k, err := e.s.GetKey(e.ctx, c.key.ID)
	e.ok(err, "GetKey")
	e.sameKey("key", k, c.key)
}

func testAuditStateChangesWrite(e *env) {
	var want []vsecure.Entry
	c := e.changeEverything(func(op, resource, actor string) vsecure.Entry {
		en := e.entry(op, resource, actor)
		want = append(want, en)
		return en
	})
	extra := e.entry(vsecure.AuditListSecrets, "", "admin")
	e.ok(e.s.AppendAudit(e.ctx, extra), "AppendAudit")
	e.checkChanged(c)
	e.wantEntries(append(want, extra)...)
}

func testAuditZeroEntryWritesNone(e *env) {
	c := e.changeEverything(func(string, string, string) vsecure.Entry { return vsecure.Entry{} })
	e.checkChanged(c)
	if n := e.auditCount(); n != 0 {
		e.t.Fatalf("calls with zero entries wrote %d audit entries", n)
	}
}

// An entry that cannot be written (its id is taken) takes the change down
// with it: audit is fail-closed.
func testAuditFailedEntryFailsChange(e *env) {
	taken := e.entry(vsecure.AuditWrite, "vsecure://secrets/production/DB", "agent-1")
	e.ok(e.s.AppendAudit(e.ctx, taken), "AppendAudit")
	// The same id at the same time: on DynamoDB an entry's key is both.
	clash := func(op string) vsecure.Entry {
		en := e.entry(op, "vsecure://secrets/production/DB", "mallory")
		en.ID, en.Timestamp = taken.ID, taken.Timestamp
		return en
	}

	p := e.policy("vsecure://secrets/production/*")
	e.code(e.s.PutPolicy(e.ctx, p, clash(vsecure.AuditConfigure)), vsecure.EConflict, "PutPolicy with a taken entry id")
	if ps, err := e.s.ListPolicies(e.ctx); err != nil || len(ps) != 0 {
		e.t.Fatalf("policy stored without its entry: %v %v", ps, err)
	}

	uri := "vsecure://secrets/production/DB"
	h, v := e.secret(uri, 1)
	e.code(e.s.PutSecret(e.ctx, h, v, clash(vsecure.AuditWrite)), vsecure.EConflict, "PutSecret with a taken entry id")
	if got := e.load("admin", uri, vsecure.OpRead, 1); got.Secret != nil || got.Value != nil {
		e.t.Fatalf("secret stored without its entry: %+v", got)
	}
	e.ok(e.s.PutSecret(e.ctx, h, v, vsecure.Entry{}), "PutSecret")
	err := e.s.RecordRead(e.ctx, uri, taken.Timestamp, clash(vsecure.AuditRead))
	e.code(err, vsecure.EConflict, "RecordRead with a taken entry id")
	e.flush()
	if got := e.load("admin", uri, vsecure.OpRead, 0).Secret; got.AccessCount != 0 || got.AccessedAt != nil {
		e.t.Fatalf("read counted without its entry: %+v", got)
	}

	a := e.approval("agent-1", uri, vsecure.OpRead)
	e.code(e.s.CreateApproval(e.ctx, a, clash(vsecure.AuditRequestApproval)), vsecure.EConflict, "CreateApproval with a taken entry id")
	_, err = e.s.GetApproval(e.ctx, a.ID)
	e.code(err, vsecure.ENotFound, "approval stored without its entry")
	e.ok(e.s.CreateApproval(e.ctx, a, vsecure.Entry{}), "CreateApproval")
	next, err := a.Decide("alice", vsecure.ActionApprove, "", a.RequestedAt.Add(time.Second))
	e.ok(err, "Decide")
	e.code(e.s.UpdateApproval(e.ctx, next, clash(vsecure.AuditApprove)), vsecure.EConflict, "UpdateApproval with a taken entry id")
	got, err := e.s.GetApproval(e.ctx, a.ID)
	e.ok(err, "GetApproval")
	e.same("approval after a failed update", got, a)
	if id := e.grantID("agent-1", uri, vsecure.OpRead); id != "" {
		e.t.Fatalf("grant %s stored without its entry", id)
	}

	k := e.key("agent-1")
	e.code(e.s.CreateKey(e.ctx, k, clash(vsecure.AuditKeyCreate)), vsecure.EConflict, "CreateKey with a taken entry id")
	_, err = e.s.KeyByHash(e.ctx, k.Hash)
	e.code(err, vsecure.ENotFound, "key stored without its entry")
	e.ok(e.s.CreateKey(e.ctx, k, vsecure.Entry{}), "CreateKey")
	revoked := k
	at := e.now()
	revoked.RevokedAt = &at
	revoked.Version++
	e.code(e.s.UpdateKey(e.ctx, revoked, clash(vsecure.AuditKeyRevoke)), vsecure.EConflict, "UpdateKey with a taken entry id")
	gotKey, err := e.s.GetKey(e.ctx, k.ID)
	e.ok(err, "GetKey")
	e.sameKey("key after a failed update", gotKey, k)

	e.wantEntries(taken)
}

func testKeyCreateGet(e *env) {
	k := e.key("agent-1")
	k.SlackUserID = "U0123"
	en := e.entry(vsecure.AuditKeyCreate, "", "admin")
	e.ok(e.s.CreateKey(e.ctx, k, en), "CreateKey")
	got, err := e.s.GetKey(e.ctx, k.ID)
	e.ok(err, "GetKey")
	e.sameKey("GetKey", got, k)
	got, err = e.s.KeyByHash(e.ctx, k.Hash)
	e.ok(err, "KeyByHash")
	e.sameKey("KeyByHash", got, k)
	e.wantEntries(en)
}

func testKeyMissing(e *env) {
	e.ok(e.s.CreateKey(e.ctx, e.key("agent-1"), vsecure.Entry{}), "CreateKey")
	_, err := e.s.GetKey(e.ctx, NewID("key_", e.now()))
	e.code(err, vsecure.ENotFound, "GetKey of a missing id")
	_, err = e.s.KeyByHash(e.ctx, "sha256-unknown")
	e.code(err, vsecure.ENotFound, "KeyByHash of an unknown hash")
}

func testKeyDuplicateID(e *env) {
	k := e.key("agent-1")
	e.ok(e.s.CreateKey(e.ctx, k, vsecure.Entry{}), "CreateKey")
	dup := e.key("agent-2")
	dup.ID = k.ID
	e.code(e.s.CreateKey(e.ctx, dup, e.entry(vsecure.AuditKeyCreate, "", "admin")), vsecure.EConflict, "CreateKey with an existing id")
	_, err := e.s.KeyByHash(e.ctx, dup.Hash)
	e.code(err, vsecure.ENotFound, "hash of a refused key")
	got, err := e.s.GetKey(e.ctx, k.ID)
	e.ok(err, "GetKey")
	e.sameKey("key after a refused duplicate", got, k)
	if n := e.auditCount(); n != 0 {
		e.t.Fatalf("refused key wrote %d audit entries", n)
	}
}

func testKeyDuplicateHash(e *env) {
	k := e.key("agent-1")
	e.ok(e.s.CreateKey(e.ctx, k, vsecure.Entry{}), "CreateKey")
	dup := e.key("agent-2")
	dup.Hash = k.Hash
	e.code(e.s.CreateKey(e.ctx, dup, vsecure.Entry{}), vsecure.EConflict, "CreateKey with an existing hash")
	_, err := e.s.GetKey(e.ctx, dup.ID)
	e.code(err, vsecure.ENotFound, "refused key")
	got, err := e.s.KeyByHash(e.ctx, k.Hash)
	e.ok(err, "KeyByHash")
	e.sameKey("KeyByHash after a refused duplicate", got, k)
}

func testKeyUpdate(e *env) {
	k := e.key("agent-1")
	e.ok(e.s.CreateKey(e.ctx, k, vsecure.Entry{}), "CreateKey")
	at := e.now()
	k.RevokedAt = &at
	k.LastUsedAt = &at
	k.SlackUserID = "U999"
	k.Roles = []vsecure.Role{vsecure.RoleAgent, vsecure.RoleApprover}
	k.Version++
	en := e.entry(vsecure.AuditKeyRevoke, "", "admin")
	e.ok(e.s.UpdateKey(e.ctx, k, en), "UpdateKey")
	got, err := e.s.GetKey(e.ctx, k.ID)
	e.ok(err, "GetKey")
	e.sameKey("GetKey after update", got, k)
	got, err = e.s.KeyByHash(e.ctx, k.Hash)
	e.ok(err, "KeyByHash")
	e.sameKey("KeyByHash after update", got, k)
	e.wantEntries(en)
}

func testKeyUpdateMissing(e *env) {
	k := e.key("agent-1")
	k.Version++
	e.code(e.s.UpdateKey(e.ctx, k, e.entry(vsecure.AuditKeyRevoke, "", "admin")), vsecure.ENotFound, "UpdateKey of a missing key")
	_, err := e.s.KeyByHash(e.ctx, k.Hash)
	e.code(err, vsecure.ENotFound, "UpdateKey created a key")
	if n := e.auditCount(); n != 0 {
		e.t.Fatalf("refused update wrote %d audit entries", n)
	}
}

func (e *env) listKeys(limit int) []vsecure.Key {
	e.t.Helper()
	var out []vsecure.Key
	cursor := ""
	for range 1000 {
		page, next, err := e.s.ListKeys(e.ctx, cursor, limit)
		e.ok(err, "ListKeys")
		if len(page) > limit {
			e.t.Fatalf("ListKeys returned %d keys over limit %d", len(page), limit)
		}
		out = append(out, page...)
		if next == "" {
			return out
		}
		cursor = next
	}
	e.t.Fatal("ListKeys cursor never ended")
	return nil
}

// Keys list oldest first (ascending id), the order they were issued.
func testKeyList(e *env) {
	var keys []vsecure.Key
	for i := range 7 {
		keys = append(keys, e.key(fmt.Sprintf("agent-%d", i)))
	}
	for _, i := range []int{4, 0, 6, 2, 1, 5, 3} {
		e.ok(e.s.CreateKey(e.ctx, keys[i], vsecure.Entry{}), "CreateKey %d", i)
	}
	slices.SortFunc(keys, func(a, b vsecure.Key) int { return strings.Compare(a.ID, b.ID) })
	for _, limit := range []int{1, 2, 3, 100} {
		got := e.listKeys(limit)
		e.same(fmt.Sprintf("ListKeys ids with limit %d", limit), ids(got, keyID), ids(keys, keyID))
		for i := range got {
			e.sameKey("listed key", got[i], keys[i])
		}
	}
}

func testKeyGarbageCursor(e *env) {
	e.ok(e.s.CreateKey(e.ctx, e.key("agent-1"), vsecure.Entry{}), "CreateKey")
	for _, c := range garbageCursors {
		_, _, err := e.s.ListKeys(e.ctx, c, 10)
		e.code(err, vsecure.EInvalid, "ListKeys cursor %q", c)
	}
}
