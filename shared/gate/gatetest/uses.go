package gatetest

import (
	"sync"
	"testing"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// Racers is how many readers race for a one-use grant.
const Racers = 24

// capped has the agent request read on production with maxUses n and
// alice approve it; it returns the approval id and its access token.
func (w *world) capped(n int) (approvalID, token string) {
	w.t.Helper()
	ctx := w.t.Context()
	a, err := w.g.RequestApproval(ctx, w.authenticate(w.agentKey), api.ApprovalRequest{Resource: productionURI, Operation: "read", Reason: "once", MaxUses: &n})
	if err != nil {
		w.t.Fatal(err)
	}
	if a.MaxUses != n || a.UsesLeft != n {
		w.t.Fatalf("requested maxUses %d: view says maxUses %d, usesLeft %d", n, a.MaxUses, a.UsesLeft)
	}
	d, err := w.g.Decide(ctx, w.alice, a.ID, api.Respond{Action: "approve"})
	if err != nil || d.AccessToken == "" {
		w.t.Fatalf("approve: %v (token issued: %v)", err, d.AccessToken != "")
	}
	return a.ID, d.AccessToken
}

// OneUseGrantReadOnce: Racers concurrent reads of a one-use grant, half
// with the requester's key and half with the access token (both
// authenticated before the race, as cached authorizer answers are),
// succeed exactly once. The losers see approval_required (key) or
// unauthenticated (token); afterwards the token no longer authenticates
// and one successful read is in the audit log.
func OneUseGrantReadOnce(t *testing.T, s vsecure.Store) {
	w := newWorld(t, s)
	id, token := w.capped(1)
	byKey, byToken := w.authenticate(w.agentKey), w.authenticate(token)
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, Racers)
	)
	for i := range Racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := byKey
			if i%2 == 1 {
				c = byToken
			}
			<-start
			_, errs[i] = w.g.ReadSecret(t.Context(), c, w.production, 0)
		}()
	}
	close(start)
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case i%2 == 0 && vsecure.IsCode(err, vsecure.EApprovalRequired):
		case i%2 == 1 && vsecure.IsCode(err, vsecure.EUnauthenticated):
		default:
			t.Errorf("reader %d: %v (code %q), want success or the grant's end", i, err, vsecure.ErrorCode(err))
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d reads of a one-use grant succeeded, want exactly 1", won, Racers)
	}
	a, err := s.GetApproval(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if a.UsesLeft != 0 || !a.Spent() {
		t.Fatalf("stored approval after the race: usesLeft %d, want 0", a.UsesLeft)
	}
	if _, err := w.g.Authenticate(t.Context(), token, gate.Call{}); !vsecure.IsCode(err, vsecure.EUnauthenticated) {
		t.Fatalf("the spent token authenticates: %v", err)
	}
	w.want(w.read(byKey, w.production), vsecure.EApprovalRequired, "the requester's read after the last use")
	ok := true
	es, _, err := s.QueryAudit(t.Context(), vsecure.AuditFilter{Resource: productionURI, Operation: vsecure.AuditRead, Success: &ok}, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].ApprovalID != id || es[0].Metadata["usesLeft"] != "0" {
		t.Fatalf("successful reads audited: %+v, want the one under %s with usesLeft 0", es, id)
	}
}

// UsesSpentByReadAndUse: a read approval with maxUses 2 is spent by one
// use (read implies use) and one read by token; the third access, either
// way, is refused.
func UsesSpentByReadAndUse(t *testing.T, s vsecure.Store) {
	w := newWorld(t, s)
	_, token := w.capped(2)
	byKey, byToken := w.authenticate(w.agentKey), w.authenticate(token)
	use := func(c gate.Call) error {
		_, err := w.g.UseSecret(t.Context(), c, api.SecretUse{URI: productionURI, Command: "/usr/bin/psql", Host: "build-01"})
		return err
	}
	w.want(use(byKey), "", "first use under the read approval")
	w.want(w.read(byToken, w.production), "", "second access, a read by token")
	w.want(use(byKey), vsecure.EApprovalRequired, "third access by key")
	w.want(w.read(byToken, w.production), vsecure.EUnauthenticated, "third access by token")
}
