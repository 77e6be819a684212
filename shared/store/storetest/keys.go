package storetest

import (
	"time"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// A key update is conditional on the version it was built on: one built
// on a stale or a skipped version changes nothing and writes no entry.
func testKeyUpdateNeedsNextVersion(e *env) {
	k := e.key("agent-1")
	e.ok(e.s.CreateKey(e.ctx, k, vsecure.Entry{}), "CreateKey")
	next := k
	next.SlackUserID, next.Version = "U1", k.Version+1
	en := e.entry(vsecure.AuditKeyUpdate, "", "admin")
	e.ok(e.s.UpdateKey(e.ctx, next, en), "UpdateKey at the next version")
	for _, v := range []int{k.Version, next.Version, next.Version + 2} {
		stale := next
		stale.SlackUserID, stale.Version = "U2", v
		e.code(e.s.UpdateKey(e.ctx, stale, e.entry(vsecure.AuditKeyUpdate, "", "admin")), vsecure.EConflict, "UpdateKey at version %d over %d", v, next.Version)
	}
	got, err := e.s.KeyByHash(e.ctx, k.Hash)
	e.ok(err, "KeyByHash")
	e.sameKey("key after refused updates", got, next)
	e.wantEntries(en)
}

// Keys written before versions existed read as version 0 and take updates
// at version 1.
func testKeyUpdateFromVersion0(e *env) {
	k := e.key("agent-1")
	k.Version = 0
	e.ok(e.s.CreateKey(e.ctx, k, vsecure.Entry{}), "CreateKey")
	k.SlackUserID, k.Version = "U1", 1
	e.ok(e.s.UpdateKey(e.ctx, k, vsecure.Entry{}), "UpdateKey of a version-0 key")
	got, err := e.s.GetKey(e.ctx, k.ID)
	e.ok(err, "GetKey")
	e.sameKey("GetKey", got, k)
}

// A revoked key is never written back without its revocation, even by a
// writer that holds the current version.
func testKeyRevocationIsFinal(e *env) {
	k := e.key("agent-1")
	e.ok(e.s.CreateKey(e.ctx, k, vsecure.Entry{}), "CreateKey")
	revoked := k
	at := e.now()
	revoked.RevokedAt, revoked.Version = &at, k.Version+1
	e.ok(e.s.UpdateKey(e.ctx, revoked, vsecure.Entry{}), "UpdateKey revoke")
	back := revoked
	back.RevokedAt, back.Version = nil, revoked.Version+1
	e.code(e.s.UpdateKey(e.ctx, back, e.entry(vsecure.AuditKeyUpdate, "", "admin")), vsecure.EConflict, "UpdateKey clearing revokedAt")
	rotated := e.key("agent-1")
	e.code(e.s.RotateKey(e.ctx, back, rotated, e.entry(vsecure.AuditKeyRotate, "", "admin")), vsecure.EConflict, "RotateKey clearing revokedAt")
	got, err := e.s.KeyByHash(e.ctx, k.Hash)
	e.ok(err, "KeyByHash")
	e.sameKey("key after refused un-revocations", got, revoked)
	_, err = e.s.GetKey(e.ctx, rotated.ID)
	e.code(err, vsecure.ENotFound, "new key of a refused rotation")
	if n := e.auditCount(); n != 0 {
		e.t.Fatalf("refused writes left %d audit entries", n)
	}
}

// MarkKeyUsed touches only the last use: it neither undoes a revocation
// written after the caller read the key, nor moves the version (so a
// recorded use never makes a change lose its race).
func testKeyMarkUsedTouchesOnlyLastUse(e *env) {
	k := e.key("agent-1")
	e.ok(e.s.CreateKey(e.ctx, k, vsecure.Entry{}), "CreateKey")
	read := k // what authentication read, before the revocation
	revoked := k
	at := e.now()
	revoked.RevokedAt, revoked.Version = &at, k.Version+1
	e.ok(e.s.UpdateKey(e.ctx, revoked, vsecure.Entry{}), "UpdateKey revoke")
	used := e.now().Truncate(time.Second)
	e.ok(e.s.MarkKeyUsed(e.ctx, read, used, used.Add(-vsecure.KeyUseInterval)), "MarkKeyUsed")
	got, err := e.s.KeyByHash(e.ctx, k.Hash)
	e.ok(err, "KeyByHash")
	if got.RevokedAt == nil || got.Version != revoked.Version {
		e.t.Fatalf("after MarkKeyUsed: revokedAt %v version %d, want revoked at version %d", got.RevokedAt, got.Version, revoked.Version)
	}
	next := got
	next.Version++
	next.SlackUserID = "U1"
	e.ok(e.s.UpdateKey(e.ctx, next, vsecure.Entry{}), "UpdateKey after a recorded use")
}

// RotateKey writes the old key's change, the new key and the entry
// together, or nothing.
func testKeyRotate(e *env) {
	old := e.key("agent-1")
	e.ok(e.s.CreateKey(e.ctx, old, vsecure.Entry{}), "CreateKey")
	end := e.now()
	cut := old
	cut.ExpiresAt, cut.Version = &end, old.Version+1
	stale := cut
	stale.Version = old.Version
	nk := e.key("agent-1")
	nk.RotatedFrom = old.ID
	e.code(e.s.RotateKey(e.ctx, stale, nk, e.entry(vsecure.AuditKeyRotate, "", "admin")), vsecure.EConflict, "RotateKey on a stale version")
	_, err := e.s.KeyByHash(e.ctx, nk.Hash)
	e.code(err, vsecure.ENotFound, "new key of a refused rotation")
	taken := e.key("agent-1")
	taken.Hash = old.Hash
	e.code(e.s.RotateKey(e.ctx, cut, taken, e.entry(vsecure.AuditKeyRotate, "", "admin")), vsecure.EConflict, "RotateKey to a taken hash")
	got, err := e.s.GetKey(e.ctx, old.ID)
	e.ok(err, "GetKey")
	e.sameKey("old key after refused rotations", got, old)

	en := e.entry(vsecure.AuditKeyRotate, "", "admin")
	e.ok(e.s.RotateKey(e.ctx, cut, nk, en), "RotateKey")
	got, err = e.s.KeyByHash(e.ctx, old.Hash)
	e.ok(err, "KeyByHash old")
	e.sameKey("old key", got, cut)
	got, err = e.s.KeyByHash(e.ctx, nk.Hash)
	e.ok(err, "KeyByHash new")
	e.sameKey("new key", got, nk)
	e.wantEntries(en)
}
