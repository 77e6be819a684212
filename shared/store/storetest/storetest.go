// Package storetest is the conformance suite every vsecure.Store must pass.
//
// The services above the store trust it for their safety properties: that a
// state change and its audit entry land together or not at all, that two
// racing decisions have exactly one winner, that a grant disappears when its
// approval is revoked. Those promises are easy to break in one adapter and
// not the other, so both the embedded (bbolt) and the DynamoDB store run
// this one suite unchanged. It therefore speaks only the vsecure.Store
// interface and compares values as their JSON encodings, the form every
// adapter persists.
//
// Each behaviour is a subtest named for it
// (TestStore/UpdateApproval/stale_version_conflicts) and gets its own store
// from newStore, which must return an empty store, may be called
// concurrently (subtests run in parallel), and should register its own
// cleanup with t.Cleanup. Times come from a per-test clock that advances one
// second per call, so every entry and id is distinct and ordering assertions
// mean something.
package storetest

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// Run runs every conformance test against stores made by newStore.
func Run(t *testing.T, newStore func(t *testing.T) vsecure.Store) {
	su := suite{newStore: newStore}
	su.group(t, "Policies", map[string]func(*env){
		"empty_store_lists_none":  testPoliciesEmpty,
		"list_ordered_by_uri":     testPoliciesOrdered,
		"put_overwrites_same_uri": testPoliciesOverwrite,
	})
	su.group(t, "LoadAccess", map[string]func(*env){
		"empty_store_finds_nothing":             testLoadAccessEmpty,
		"policies_are_the_resource_candidates":  testLoadAccessCandidates,
		"latest_and_specific_versions":          testLoadAccessVersions,
		"grant_of_principal_resource_operation": testLoadAccessGrant,
		"key_and_token_approval_as_stored":      testLoadAccessKeyAndApproval,
	})
	su.group(t, "PutSecret", map[string]func(*env){
		"first_version_must_be_1":  testPutSecretFirstVersion,
		"version_must_follow_head": testPutSecretFollowsHead,
		"versions_stay_readable":   testPutSecretVersionsReadable,
		"keeps_access_statistics":  testPutSecretKeepsStats,
	})
	su.group(t, "ListSecrets", map[string]func(*env){
		"pattern_ordered_and_paginated": testListSecrets,
		"exact_uri_lists_one":           testListSecretsExact,
		"garbage_cursor_is_invalid":     testListSecretsGarbageCursor,
	})
	su.group(t, "RecordRead", map[string]func(*env){
		"increments_count_and_sets_accessed_at": testRecordRead,
		"missing_secret_is_not_created":         testRecordReadMissing,
		"listing_counts_reads_not_yet_indexed":  testRecordReadListing,
	})
	su.group(t, "SpendUse", map[string]func(*env){
		"spends_counts_and_audits_together": testSpendUse,
		"last_use_ends_the_grant":           testSpendUseLast,
	})
	su.group(t, "CreateApproval", map[string]func(*env){
		"round_trip":                    testCreateApprovalRoundTrip,
		"duplicate_id_conflicts":        testCreateApprovalDuplicate,
		"approved_sets_grant_and_token": testCreateApprovalApproved,
	})
	su.group(t, "GetApproval", map[string]func(*env){
		"missing_not_found": testGetApprovalMissing,
	})
	su.group(t, "UpdateApproval", map[string]func(*env){
		"next_version_is_stored":        testUpdateApprovalNextVersion,
		"stale_version_conflicts":       testUpdateApprovalStale,
		"missing_not_found":             testUpdateApprovalMissing,
		"approve_sets_grant":            testUpdateApprovalApproveSetsGrant,
		"revoke_clears_grant":           testUpdateApprovalRevokeClearsGrant,
		"expire_clears_grant":           testUpdateApprovalExpireClearsGrant,
		"grant_follows_latest_approved": testUpdateApprovalGrantFollowsLatest,
	})
	su.group(t, "ApprovalByToken", map[string]func(*env){
		"found_once_approved":       testTokenFoundOnceApproved,
		"unknown_not_found":         testTokenUnknown,
		"revoked_token_grants_none": testTokenRevoked,
	})
	su.group(t, "ListApprovals", map[string]func(*env){
		"filters_newest_first":              testListApprovalsFilters,
		"pagination_covers_every_item_once": testListApprovalsPagination,
		"garbage_cursor_is_invalid":         testListApprovalsGarbageCursor,
	})
	su.group(t, "ListLiveApprovals", map[string]func(*env){
		"pending_and_approved_only": testListLiveApprovals,
	})
	su.group(t, "Audit", map[string]func(*env){
		"append_and_query_newest_first":     testAuditNewestFirst,
		"filters":                           testAuditFilters,
		"pagination_covers_every_item_once": testAuditPagination,
		"duplicate_id_conflicts":            testAuditDuplicate,
		"zero_entry_rejected":               testAuditZeroEntry,
		"garbage_cursor_is_invalid":         testAuditGarbageCursor,
		"state_changes_write_their_entry":   testAuditStateChangesWrite,
		"zero_entry_writes_none":            testAuditZeroEntryWritesNone,
		"failed_entry_fails_the_change":     testAuditFailedEntryFailsChange,
	})
	su.group(t, "AuditDigests", map[string]func(*env){
		"range_is_the_window_oldest_first": testAuditRangeWindow,
		"range_stops_when_asked":           testAuditRangeStops,
		"oldest_entry":                     testOldestAudit,
		"digests_round_trip_in_order":      testDigestsRoundTrip,
		"same_window_conflicts":            testDigestSameWindowConflicts,
	})
	su.group(t, "Keys", map[string]func(*env){
		"create_and_get":                  testKeyCreateGet,
		"missing_not_found":               testKeyMissing,
		"duplicate_id_conflicts":          testKeyDuplicateID,
		"duplicate_hash_conflicts":        testKeyDuplicateHash,
		"update_replaces_record":          testKeyUpdate,
		"update_missing_not_found":        testKeyUpdateMissing,
		"list_ordered_and_paginated":      testKeyList,
		"garbage_cursor_is_invalid":       testKeyGarbageCursor,
		"mark_used_once_per_interval":     testKeyMarkUsed,
		"mark_used_never_creates":         testKeyMarkUsedMissing,
		"mark_used_touches_only_last_use": testKeyMarkUsedTouchesOnlyLastUse,
		"update_needs_the_next_version":   testKeyUpdateNeedsNextVersion,
		"update_from_version_0":           testKeyUpdateFromVersion0,
		"revocation_is_final":             testKeyRevocationIsFinal,
		"rotate_writes_all_or_nothing":    testKeyRotate,
	})
	// The gate over this store: every key change re-reads and retries on a
	// lost race, and a revocation that returned success holds.
	su.group(t, "KeyRaces", map[string]func(*env){
		"revoke_x_patch":  testRaceRevokePatch,
		"revoke_x_rotate": testRaceRevokeRotate,
		"rotate_x_rotate": testRaceRotateRotate,
		"patch_x_patch":   testRacePatchPatch,
		// Concurrent admin bootstraps: exactly one mints.
		"bootstrap_x20": testRaceBootstrap,
	})
	su.group(t, "Idempotency", map[string]func(*env){
		"reserve_then_replay":        testIdemReserveThenReplay,
		"scoped_per_principal":       testIdemScopedPerPrincipal,
		"expired_record_is_replaced": testIdemExpiredReplaced,
		"stale_lease_is_taken_over":  testIdemStaleLeaseTakenOver,
		"release_lets_a_retry_run":   testIdemReleaseLetsRetry,
		"concurrent_one_winner":      testIdemConcurrentOneWinner,
	})
	su.group(t, "Slack", map[string]func(*env){
		"keys_of_a_slack_user":            testSlackKeysOfUser,
		"keys_follow_updates":             testSlackKeysFollowUpdates,
		"remember_refuses_a_replay":       testRememberOnce,
		"remember_has_one_winner_in_race": testRememberConcurrent,
	})
	su.group(t, "RateLimit", map[string]func(*env){
		"burst_then_refill":   testRateBurstThenRefill,
		"buckets_independent": testRateKeysIndependent,
		"exact_burst_in_race": testRateConcurrent,
		// The gate over this store.
		"gate_limits_approval_requests": testGateApprovalLimit,
		"gate_fails_closed":             testGateApprovalLimitFailsClosed,
	})
	su.group(t, "StepUp", map[string]func(*env){
		"policy_round_trip":   testStepUpPolicyRoundTrip,
		"approval_round_trip": testStepUpApprovalRoundTrip,
		"gate_needs_step_up":  testStepUpGate,
	})
	su.group(t, "Passkeys", passkeyTests)
	su.group(t, "Concurrency", map[string]func(*env){
		"one_decision_wins":             testConcurrentDecisions,
		"record_read_counts_every_read": testConcurrentRecordRead,
		"one_use_spent_once":            testConcurrentSpendUse,
	})
}

type suite struct {
	newStore func(t *testing.T) vsecure.Store
}

// group runs tests as parallel subtests of name, in name order so runs
// are reproducible.
func (su suite) group(t *testing.T, name string, tests map[string]func(*env)) {
	t.Run(name, func(t *testing.T) {
		t.Parallel()
		names := make([]string, 0, len(tests))
		for n := range tests {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			fn := tests[n]
			t.Run(n, func(t *testing.T) {
				t.Parallel()
				fn(&env{t: t, ctx: t.Context(), s: su.newStore(t)})
			})
		}
	})
}

// env is what one behaviour test works with: a fresh store and a clock.
type env struct {
	t    *testing.T
	ctx  context.Context
	s    vsecure.Store
	tick atomic.Int64
}

// AuditFlusher is implemented by a store (or a test's wrapper of one)
// that applies reads' access counts from its audit log later, such as
// DynamoDB's indexer: FlushAudit applies every entry written before now.
// The suite calls it before it asserts counts read through LoadAccess.
type AuditFlusher interface {
	FlushAudit(ctx context.Context, now time.Time) error
}

// flush lets a store that counts reads from its log catch up.
func (e *env) flush() {
	e.t.Helper()
	if f, ok := e.s.(AuditFlusher); ok {
		e.ok(f.FlushAudit(e.ctx, e.now()), "FlushAudit")
	}
}

// base is the suite's epoch: a fixed instant, so nothing depends on the
// wall clock.
var base = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// now returns the next instant of the test's clock: one second after the
// previous one. Safe for concurrent use.
func (e *env) now() time.Time {
	return base.Add(time.Duration(e.tick.Add(1)) * time.Second)
}

const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

// NewID returns a time-sortable id: prefix, the millisecond timestamp of at
// in 10 characters of lowercase Crockford base32, then 16 random
// characters. Ids made at later milliseconds sort after earlier ones.
func NewID(prefix string, at time.Time) string {
	var b [26]byte
	ms := uint64(at.UnixMilli())
	for i := 9; i >= 0; i-- {
		b[i] = crockford[ms&31]
		ms >>= 5
	}
	for i := 10; i < len(b); i++ {
		b[i] = crockford[rand.IntN(len(crockford))]
	}
	return prefix + string(b[:])
}

// Fixtures.

func (e *env) entry(op, resource, actor string) vsecure.Entry {
	at := e.now()
	return vsecure.Entry{
		ID:        NewID("log_", at),
		Timestamp: at,
		Resource:  resource,
		Operation: op,
		Actor:     actor,
		Success:   true,
		Metadata:  map[string]string{"requestId": NewID("req_", at)},
	}
}

func (e *env) policy(uri string) vsecure.Policy {
	return vsecure.Policy{
		URI:               uri,
		Name:              "policy for " + uri,
		Permissions:       []vsecure.Operation{vsecure.OpRead, vsecure.OpWrite},
		RequiresApproval:  true,
		Approvers:         []string{"alice", "bob"},
		RequiredApprovals: 1,
		MaxTTL:            7200,
		Metadata:          map[string]string{"team": "platform"},
		UpdatedBy:         "admin",
		UpdatedAt:         e.now(),
	}
}

// secret returns head and value of version v of uri.
func (e *env) secret(uri string, v int) (vsecure.Secret, vsecure.SecretVersion) {
	at := e.now()
	head := vsecure.Secret{
		URI:         uri,
		Name:        "name of " + uri,
		Description: "a test secret",
		Metadata:    map[string]string{"owner": "platform"},
		Version:     v,
		CreatedAt:   base,
		UpdatedAt:   at,
		UpdatedBy:   "admin",
	}
	val := vsecure.SecretVersion{
		URI:     uri,
		Version: v,
		Sealed: vsecure.Sealed{
			KeyID:      "local:1",
			WrappedKey: []byte("wrapped-" + uri),
			Nonce:      []byte("nonce-123456"),
			Ciphertext: []byte(uri + "#" + string(rune('0'+v%10))),
		},
		CreatedAt: at,
		CreatedBy: "admin",
	}
	return head, val
}

// putSecret writes versions 1..n of uri.
func (e *env) putSecret(uri string, n int) (vsecure.Secret, []vsecure.SecretVersion) {
	e.t.Helper()
	var head vsecure.Secret
	var vals []vsecure.SecretVersion
	for v := 1; v <= n; v++ {
		h, val := e.secret(uri, v)
		e.ok(e.s.PutSecret(e.ctx, h, val, e.entry(vsecure.AuditWrite, uri, "admin")), "PutSecret v%d", v)
		head = h
		vals = append(vals, val)
	}
	return head, vals
}

func (e *env) approval(requester, resource string, op vsecure.Operation) vsecure.Approval {
	at := e.now()
	return vsecure.Approval{
		ID:                NewID("appr_", at),
		Resource:          resource,
		Operation:         op,
		Reason:            "deploy",
		RequestedBy:       requester,
		RequestedAt:       at,
		ExpiresAt:         at.Add(time.Hour),
		TTL:               3600,
		Status:            vsecure.StatusPending,
		Approvers:         []string{"alice", "bob"},
		RequiredApprovals: 1,
		SlackChannel:      "#approvals",
		Version:           1,
	}
}

func (e *env) createApproval(a vsecure.Approval) vsecure.Approval {
	e.t.Helper()
	e.ok(e.s.CreateApproval(e.ctx, a, e.entry(vsecure.AuditRequestApproval, a.Resource, a.RequestedBy)), "CreateApproval")
	return a
}

// approve decides a as alice and stores the result with a token hash.
func (e *env) approve(a vsecure.Approval) vsecure.Approval {
	e.t.Helper()
	next, err := a.Decide("alice", vsecure.ActionApprove, "ok", a.RequestedAt.Add(time.Second))
	e.ok(err, "Decide")
	next.TokenHash = "tok-" + a.ID
	e.ok(e.s.UpdateApproval(e.ctx, next, e.entry(vsecure.AuditApprove, a.Resource, "alice")), "UpdateApproval approve")
	return next
}

func (e *env) revoke(a vsecure.Approval) vsecure.Approval {
	e.t.Helper()
	next, err := a.Revoke("alice", a.RequestedAt.Add(2*time.Second))
	e.ok(err, "Revoke")
	e.ok(e.s.UpdateApproval(e.ctx, next, e.entry(vsecure.AuditRevoke, a.Resource, "alice")), "UpdateApproval revoke")
	return next
}

func (e *env) key(principal string) vsecure.Key {
	at := e.now()
	exp := at.Add(90 * 24 * time.Hour)
	return vsecure.Key{
		ID:        NewID("key_", at),
		Principal: principal,
		Roles:     []vsecure.Role{vsecure.RoleAgent},
		Hash:      "sha256-" + NewID("", at),
		CreatedAt: at,
		CreatedBy: "admin",
		ExpiresAt: &exp,
		Version:   1,
	}
}

// Assertions.

func (e *env) ok(err error, format string, args ...any) {
	e.t.Helper()
	if err != nil {
		e.t.Fatalf(format+": unexpected error: %v", append(args, err)...)
	}
}

func (e *env) code(err error, want vsecure.Code, format string, args ...any) {
	e.t.Helper()
	if !vsecure.IsCode(err, want) {
		e.t.Fatalf(format+": got error %v (code %q), want code %q", append(args, err, vsecure.ErrorCode(err), want)...)
	}
}

// same compares got and want as their JSON encodings.
func (e *env) same(what string, got, want any) {
	e.t.Helper()
	g, err1 := json.Marshal(got)
	w, err2 := json.Marshal(want)
	if err1 != nil || err2 != nil {
		e.t.Fatalf("%s: marshal: %v %v", what, err1, err2)
	}
	if string(g) != string(w) {
		e.t.Fatalf("%s:\n got %s\nwant %s", what, g, w)
	}
}

func (e *env) sameKey(what string, got, want vsecure.Key) {
	e.t.Helper()
	e.same(what, got, want)
	if got.Hash != want.Hash {
		e.t.Fatalf("%s: hash %q, want %q", what, got.Hash, want.Hash)
	}
}

// auditAll returns every entry matching f, paging with a small limit and
// failing on a repeated entry or a runaway cursor.
func (e *env) auditAll(f vsecure.AuditFilter) []vsecure.Entry {
	e.t.Helper()
	var out []vsecure.Entry
	seen := map[string]bool{}
	cursor := ""
	for range 10000 {
		page, next, err := e.s.QueryAudit(e.ctx, f, cursor, 250)
		e.ok(err, "QueryAudit")
		for _, x := range page {
			if seen[x.ID] {
				e.t.Fatalf("QueryAudit returned entry %s twice", x.ID)
			}
			seen[x.ID] = true
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

// wantEntries asserts that the store holds exactly entries (any order).
func (e *env) wantEntries(entries ...vsecure.Entry) {
	e.t.Helper()
	got := e.auditAll(vsecure.AuditFilter{})
	byID := map[string]vsecure.Entry{}
	for _, x := range got {
		byID[x.ID] = x
	}
	for _, w := range entries {
		g, ok := byID[w.ID]
		if !ok {
			e.t.Fatalf("audit entry %s (%s) missing; store has %d entries", w.ID, w.Operation, len(got))
		}
		e.same("audit entry "+w.ID, g, w)
	}
	if len(got) != len(entries) {
		e.t.Fatalf("store has %d audit entries, want %d", len(got), len(entries))
	}
}

func (e *env) auditCount() int {
	e.t.Helper()
	return len(e.auditAll(vsecure.AuditFilter{}))
}

func (e *env) load(principal, resource string, op vsecure.Operation, version int) vsecure.AccessView {
	e.t.Helper()
	u, err := vsecure.ParseURI(resource)
	e.ok(err, "ParseURI %s", resource)
	v, err := e.s.LoadAccess(e.ctx, vsecure.AccessQuery{Principal: principal, Resource: u, Operation: op, Version: version})
	e.ok(err, "LoadAccess %s", resource)
	return v
}

func (e *env) grantID(principal, resource string, op vsecure.Operation) string {
	e.t.Helper()
	v := e.load(principal, resource, op, 0)
	if v.Grant == nil {
		return ""
	}
	return v.Grant.ID
}

// garbageCursors are strings no store could have issued.
var garbageCursors = []string{"%%%not a cursor%%%", "\x00\xff\xfe", "vsecure://secrets/../etc"}

func ids[T any](items []T, id func(T) string) []string {
	out := make([]string, len(items))
	for i, x := range items {
		out[i] = id(x)
	}
	return out
}

func entryID(x vsecure.Entry) string    { return x.ID }
func keyID(k vsecure.Key) string        { return k.ID }
func secretURI(s vsecure.Secret) string { return s.URI }
