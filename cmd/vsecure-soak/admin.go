package main

import (
	mrand "math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/vsecure/vsecure/cmd/vsecure-soak/invariant"
	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/vsecure"
)

type adminStats struct{ keysRevoked, keysRotated, approvalsRevoked int }

// runAdmin revokes keys (racing a PATCH or a rotation of the same key),
// rotates keys, revokes approvals and writes new versions of gated secrets.
func (w *world) runAdmin(seed uint64, st *adminStats) {
	rng := mrand.New(mrand.NewPCG(seed, 3))
	for !w.stopped() {
		a := w.agents[w.names[rng.IntN(len(w.names))]]
		switch x := rng.Float64(); {
		case x < 0.25:
			if w.revokeKey(a, rng) {
				st.keysRevoked++
			}
		case x < 0.45:
			if w.rotateKey(a, rng) {
				st.keysRotated++
			}
		case x < 0.70:
			if w.revokeApproval(rng) {
				st.approvalsRevoked++
			}
		case x < 0.90:
			w.write(w.admin, w.adminKey, w.gated[rng.IntN(len(w.gated))])
		default:
			k := a.current()
			w.admin.do(invariant.Op{Kind: "key_patch"}, "PATCH", "/v1/security/keys/"+url.PathEscape(k.id), w.adminKey,
				map[string]string{"slackUserId": "U" + strings.ToUpper(newValue()[8:16])}, nil)
		}
		time.Sleep(time.Duration(150+rng.IntN(200)) * time.Millisecond)
	}
}

// revokeKey gives the agent a new key, then revokes the old one while a
// PATCH or a rotation of it runs at the same moment. The revocation counts
// from the first answer that confirms it.
func (w *world) revokeKey(a *agent, rng *mrand.Rand) bool {
	old := a.current()
	nk, ok := w.createKey(a.name, vsecure.RoleAgent)
	if !ok {
		return false
	}
	var wg sync.WaitGroup
	if rng.Float64() < 0.5 {
		wg.Go(func() {
			w.admin.do(invariant.Op{Kind: "key_patch"}, "PATCH", "/v1/security/keys/"+url.PathEscape(old.id), w.adminKey,
				map[string]string{"slackUserId": "U" + strings.ToUpper(newValue()[8:16])}, nil)
		})
	} else {
		wg.Go(func() {
			var r api.RotatedKey
			op := w.admin.do(invariant.Op{Kind: "key_rotate"}, "POST", "/v1/security/keys/"+url.PathEscape(old.id)+"/rotate", w.adminKey,
				map[string]int{"overlapSeconds": 3600}, &r)
			if op.Outcome() == "ok" {
				// A key minted by a rotation of a key being revoked: unused,
				// but a key all the same.
				w.rec.secret("API key", r.Secret)
			}
		})
	}
	ack, ok := w.confirmRevoked(old)
	wg.Wait()
	a.mu.Lock()
	a.key = nk
	a.mu.Unlock()
	if !ok {
		return false
	}
	w.rec.revoked(invariant.Revocation{Cred: old.id, At: ack, Why: "key revoked"})
	w.die(token{old, w.open[0], time.Time{}})
	// Access tokens issued on approvals this key requested end with it.
	w.mu.Lock()
	var toks []token
	for ap, kid := range w.requester {
		if kid != old.id {
			continue
		}
		w.rec.revoked(invariant.Revocation{Cred: "tok:" + ap, At: ack, Why: "token of a revoked key"})
		if t, ok := w.tokens[ap]; ok {
			toks = append(toks, t)
		}
	}
	w.mu.Unlock()
	for _, t := range toks {
		w.die(t)
	}
	return true
}

// confirmRevoked deletes key k until an answer confirms it is revoked (a
// 200, or already_decided after an attempt whose answer was lost).
func (w *world) confirmRevoked(k cred) (time.Time, bool) {
	lost := false
	for range 30 {
		op := w.admin.do(invariant.Op{Kind: "key_revoke"}, "DELETE", "/v1/security/keys/"+url.PathEscape(k.id), w.adminKey, nil, nil)
		switch {
		case op.Status == 200:
			return op.Done, true
		case op.Code == string(vsecure.EAlreadyDecided) && lost:
			return op.Done, true
		case op.Status == 0 || op.Status >= 500:
			lost = true
			time.Sleep(100 * time.Millisecond)
		default:
			return time.Time{}, false
		}
	}
	return time.Time{}, false
}

// rotateKey replaces the agent's key with no overlap or a 2 s one; the old
// key is dead from the ack or the end of the overlap.
func (w *world) rotateKey(a *agent, rng *mrand.Rand) bool {
	old := a.current()
	overlap := 0
	if rng.Float64() < 0.5 {
		overlap = 2
	}
	var r api.RotatedKey
	op := w.admin.do(invariant.Op{Kind: "key_rotate"}, "POST", "/v1/security/keys/"+url.PathEscape(old.id)+"/rotate", w.adminKey,
		map[string]int{"overlapSeconds": overlap}, &r)
	switch {
	case op.Outcome() == "ok":
	case op.Status == 0 || op.Status >= 500:
		// It may or may not have happened: end the old key for certain.
		return w.revokeKey(a, rng)
	default:
		return false
	}
	w.rec.secret("API key", r.Secret)
	a.mu.Lock()
	a.key = cred{r.Secret, r.ID}
	a.mu.Unlock()
	dead := op.Done
	if e := r.Replaces.ExpiresAt; e != nil && e.After(dead) {
		dead = *e
	}
	w.rec.revoked(invariant.Revocation{Cred: old.id, At: dead, Why: "key rotated"})
	w.die(token{old, w.open[0], time.Time{}})
	return true
}

// revokeApproval ends a granted approval: its token and the grant it gives
// the requester's key.
func (w *world) revokeApproval(rng *mrand.Rand) bool {
	var list struct {
		Data []api.ApprovalView `json:"data"`
	}
	w.admin.do(invariant.Op{Kind: "list"}, "GET", "/v1/security/mcp/approvals?status=approved&limit=50", w.adminKey, nil, &list)
	if len(list.Data) == 0 {
		return false
	}
	ap := list.Data[rng.IntN(len(list.Data))]
	lost := false
	for range 20 {
		op := w.admin.do(invariant.Op{Kind: "revoke", ApprovalID: ap.ID, Resource: ap.Resource}, "POST",
			"/v1/security/mcp/approvals/"+url.PathEscape(ap.ID)+"/revoke", w.adminKey, struct{}{}, nil)
		switch {
		case op.Status == 200, op.Code == string(vsecure.EAlreadyDecided) && lost:
			w.rec.revoked(invariant.Revocation{Cred: "tok:" + ap.ID, At: op.Done, Why: "approval revoked", Approval: ap.ID})
			w.mu.Lock()
			t, ok := w.tokens[ap.ID]
			w.mu.Unlock()
			if ok {
				w.die(t)
			}
			return true
		case op.Status == 0 || op.Status >= 500:
			lost = true
			time.Sleep(100 * time.Millisecond)
		default:
			return false
		}
	}
	return false
}

// runProber keeps trying every dead credential, each from its own source
// address in turn, at a rate the failed-authentication limit allows.
func (w *world) runProber(probers []*caller) {
	n := 0
	for !w.stopped() {
		w.mu.Lock()
		dead := append([]token(nil), w.dead...)
		w.mu.Unlock()
		if len(dead) == 0 {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		t := dead[n%len(dead)]
		w.read(probers[n%len(probers)], t.cred, t.resource)
		n++
		time.Sleep(50 * time.Millisecond)
	}
}
