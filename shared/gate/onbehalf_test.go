package gate_test

// Agents acting for humans (Key.OnBehalfOf): the human counts as the
// requester for separation of duties, sees and cancels their agents'
// requests, and is named beside the agent in the audit. On both stores.

import (
	"sync"
	"testing"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/store/storetest/stores"
	"github.com/vsecure/vsecure/shared/vsecure"
)

const (
	teamURI = "vsecure://secrets/team/K" // team/*: read, alice, bob, alice-bot-2 or dual-bot
	soloURI = "vsecure://secrets/solo/K" // solo/*: read, alice alone
)

// obo adds to the world: helper-bot (agent for alice), alice-bot-2
// (agent + approver for alice, listed on team), dual-bot (agent + approver
// for dual, listed on team), a second key of alice's,
// dana (an auditor, no approver role) and dana-bot (agent for dana).
type obo struct {
	*world
	aliceSecond string // the secret of alice's second key
}

func newOBO(t *testing.T, st vsecure.Store) *obo {
	t.Helper()
	w := &obo{world: newWorldOn(t, st)}
	for _, k := range []api.KeyRequest{
		{Principal: "helper-bot", Roles: []string{"agent"}, OnBehalfOf: "alice"},
		{Principal: "alice-bot-2", Roles: []string{"agent", "approver"}, OnBehalfOf: "alice"},
		{Principal: "dual-bot", Roles: []string{"agent", "approver"}, OnBehalfOf: "dual"},
		{Principal: "dana", Roles: []string{"auditor"}},
		{Principal: "dana-bot", Roles: []string{"agent"}, OnBehalfOf: "dana"},
	} {
		ck, err := w.g.CreateKey(t.Context(), w.as("admin"), k)
		want(t, err, "", "create key "+k.Principal)
		if ck.OnBehalfOf != k.OnBehalfOf {
			t.Fatalf("key %s: onBehalfOf %q, want %q", k.Principal, ck.OnBehalfOf, k.OnBehalfOf)
		}
		w.keys[k.Principal] = ck
	}
	second, err := w.g.CreateKey(t.Context(), w.as("admin"), api.KeyRequest{Principal: "alice", Roles: []string{"approver"}})
	want(t, err, "", "alice's second key")
	w.aliceSecond = second.Secret
	w.configure(vsecure.Policy{URI: "vsecure://secrets/team/*", Permissions: []vsecure.Operation{vsecure.OpRead},
		RequiresApproval: true, Approvers: []string{"alice", "bob", "alice-bot-2", "dual-bot"}})
	w.configure(vsecure.Policy{URI: "vsecure://secrets/solo/*", Permissions: []vsecure.Operation{vsecure.OpRead},
		RequiresApproval: true, Approvers: []string{"alice"}})
	for _, u := range []string{teamURI, soloURI} {
		v := "value of " + u
		_, err := w.g.WriteSecret(t.Context(), w.as("admin"), uri(t, u), api.SecretWrite{Value: &v})
		want(t, err, "", "write "+u)
	}
	return w
}

// requestAs has principal request read on resource; it must be pending.
func (w *obo) requestAs(principal, resource string) api.ApprovalView {
	w.t.Helper()
	a, err := w.request(principal, resource, "read", nil)
	if err != nil || a.Status != vsecure.StatusPending {
		w.t.Fatalf("%s requests %s: %v (status %q)", principal, resource, err, a.Status)
	}
	return a
}

func TestOnBehalfOfSeparationOfDuties(t *testing.T) {
	cases := []struct {
		name      string
		requester string
		resource  string
		decider   string // "alice#2": alice's second key
		action    string
		code      vsecure.Code
		status    vsecure.Status // the stored status afterwards
	}{
		{"owner_cannot_approve_agents_request", "helper-bot", teamURI, "alice", "approve", vsecure.ESelfApproval, vsecure.StatusPending},
		{"owner_cannot_deny_agents_request", "helper-bot", teamURI, "alice", "deny", vsecure.ESelfApproval, vsecure.StatusPending},
		{"owner_cannot_approve_with_a_second_key", "helper-bot", teamURI, "alice#2", "approve", vsecure.ESelfApproval, vsecure.StatusPending},
		{"owners_other_agent_cannot_approve", "helper-bot", teamURI, "alice-bot-2", "approve", vsecure.ESelfApproval, vsecure.StatusPending},
		{"agent_cannot_approve_its_owners_own_request", "dual", teamURI, "dual-bot", "approve", vsecure.ESelfApproval, vsecure.StatusPending},
		{"another_approver_may_approve", "helper-bot", teamURI, "bob", "approve", "", vsecure.StatusApproved},
		{"owners_agent_may_approve_a_strangers_request", "ai-agent-123", teamURI, "alice-bot-2", "approve", "", vsecure.StatusApproved},
		{"owner_as_sole_approver_cannot_satisfy_quorum", "helper-bot", soloURI, "alice", "approve", vsecure.ESelfApproval, vsecure.StatusPending},
	}
	stores.Both(t, func(t *testing.T, open stores.Opener) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				w := newOBO(t, open(t))
				a := w.requestAs(tc.requester, tc.resource)
				wantOBO := map[string]string{"helper-bot": "alice"}[tc.requester]
				if a.OnBehalfOf != wantOBO || w.stored(a.ID).OnBehalfOf != wantOBO {
					t.Fatalf("onBehalfOf %q (stored %q), want %q", a.OnBehalfOf, w.stored(a.ID).OnBehalfOf, wantOBO)
				}
				var c gate.Call
				if tc.decider == "alice#2" {
					c = w.login(w.aliceSecond)
				} else {
					c = w.as(tc.decider)
				}
				_, err := w.g.Decide(t.Context(), c, a.ID, api.Respond{Action: tc.action})
				want(t, err, tc.code, tc.decider+" "+tc.action)
				if got := w.stored(a.ID).Status; got != tc.status {
					t.Fatalf("status %s, want %s", got, tc.status)
				}
				if tc.code != "" {
					if len(w.stored(a.ID).Decisions) != 0 {
						t.Fatal("a refused vote was recorded")
					}
					_, err := w.read(w.as(tc.requester), tc.resource)
					want(t, err, vsecure.EApprovalRequired, "requester's read after a refused vote")
				}
			})
		}
	})
}

// The key is the only source of onBehalfOf: it is set at creation by an
// admin, validated, kept by rotation, and carried by the principal.
func TestOnBehalfOfKeys(t *testing.T) {
	stores.Both(t, func(t *testing.T, open stores.Opener) {
		w := newOBO(t, open(t))
		ctx := t.Context()
		for name, r := range map[string]api.KeyRequest{
			"invalid_human":       {Principal: "bot-x", Roles: []string{"agent"}, OnBehalfOf: "alice smith"},
			"reserved_human":      {Principal: "bot-x", Roles: []string{"agent"}, OnBehalfOf: vsecure.AutoApprover},
			"key_acting_for_self": {Principal: "bot-x", Roles: []string{"agent"}, OnBehalfOf: "bot-x"},
		} {
			_, err := w.g.CreateKey(ctx, w.as("admin"), r)
			want(t, err, vsecure.EInvalid, name)
		}
		_, err := w.g.CreateKey(ctx, w.as("helper-bot"), api.KeyRequest{Principal: "bot-y", Roles: []string{"agent"}, OnBehalfOf: "mallory"})
		want(t, err, vsecure.EForbidden, "an agent minting a key")
		if p := w.as("helper-bot").Principal; p.OnBehalfOf != "alice" {
			t.Fatalf("principal %+v, want onBehalfOf alice", p)
		}
		if id, err := w.g.Whoami(ctx, w.as("helper-bot")); err != nil || id.OnBehalfOf != "alice" {
			t.Fatalf("whoami %+v (%v), want onBehalfOf alice", id, err)
		}
		live, err := w.g.LivePrincipal(ctx, w.as("helper-bot").Principal)
		if err != nil || live.OnBehalfOf != "alice" {
			t.Fatalf("live principal %+v (%v), want onBehalfOf alice", live, err)
		}
		rot, err := w.g.RotateKey(ctx, w.as("admin"), w.keys["helper-bot"].ID, api.RotateRequest{})
		want(t, err, "", "rotate")
		if rot.OnBehalfOf != "alice" {
			t.Fatalf("rotated key onBehalfOf %q, want alice", rot.OnBehalfOf)
		}
		if p := w.login(rot.Secret).Principal; p.OnBehalfOf != "alice" {
			t.Fatalf("rotated key's principal %+v", p)
		}
		stored, err := w.st.Store.GetKey(ctx, w.keys["dana-bot"].ID)
		if err != nil || stored.OnBehalfOf != "dana" {
			t.Fatalf("stored key %+v (%v), want onBehalfOf dana", stored, err)
		}
		// The creation is audited with the human it names.
		es, _, err := w.st.Store.QueryAudit(ctx, vsecure.AuditFilter{Operation: vsecure.AuditKeyCreate, Success: ptr(true)}, "", 100)
		want(t, err, "", "query audit")
		named := 0
		for _, e := range es {
			if e.Metadata["principal"] == "dana-bot" && e.Metadata["keyOnBehalfOf"] == "dana" {
				named++
			}
		}
		if named != 1 {
			t.Fatalf("%d key_create entries name dana-bot for dana, want 1", named)
		}
	})
}

func TestOnBehalfOfVisibilityAndCancel(t *testing.T) {
	stores.Both(t, func(t *testing.T, open stores.Opener) {
		w := newOBO(t, open(t))
		ctx := t.Context()
		mine := w.requestAs("dana-bot", dbURI)
		other := w.requestAs("ai-agent-123", dbURI)

		t.Run("owner_lists_and_gets_agents_requests_without_approver_role", func(t *testing.T) {
			list, _, err := w.g.ListApprovals(ctx, w.as("dana"), gate.ApprovalQuery{})
			want(t, err, "", "dana lists")
			if len(list) != 1 || list[0].ID != mine.ID || list[0].OnBehalfOf != "dana" || list[0].Requester() != "dana-bot for dana" {
				t.Fatalf("dana sees %+v, want only %s", list, mine.ID)
			}
			_, err = w.g.GetApproval(ctx, w.as("dana"), mine.ID)
			want(t, err, "", "dana gets her agent's request")
			_, err = w.g.GetApproval(ctx, w.as("dana"), other.ID)
			want(t, err, vsecure.ENotFound, "dana gets someone else's request")
		})

		t.Run("audit_names_the_human", func(t *testing.T) {
			e := w.entry(vsecure.AuditRequestApproval, "dana-bot")
			if e.Metadata["onBehalfOf"] != "dana" {
				t.Fatalf("request entry metadata %v, want onBehalfOf dana", e.Metadata)
			}
			if e := w.entry(vsecure.AuditRequestApproval, "ai-agent-123"); e.Metadata["onBehalfOf"] != "" {
				t.Fatalf("an agent acting for nobody: metadata %v", e.Metadata)
			}
			// An adapter's metadata cannot claim a human.
			c := w.as("ai-agent-999")
			c.Metadata = map[string]string{"onBehalfOf": "alice"}
			_, _ = w.g.RequestApproval(ctx, c, api.ApprovalRequest{Resource: dbURI, Operation: "read"})
			if e := w.entry(vsecure.AuditRequestApproval, "ai-agent-999"); e.Metadata["onBehalfOf"] != "" {
				t.Fatalf("forged onBehalfOf recorded: %v", e.Metadata)
			}
		})

		t.Run("who_may_cancel", func(t *testing.T) {
			for _, tc := range []struct {
				by   string
				code vsecure.Code
			}{
				{"ai-agent-999", vsecure.ENotFound}, // a stranger does not learn it exists
				{"alice", vsecure.EForbidden},       // an approver sees it but cannot cancel
				{"auditor-1", vsecure.ENotFound},
			} {
				_, err := w.g.Cancel(ctx, w.as(tc.by), mine.ID)
				want(t, err, tc.code, tc.by+" cancels")
			}
			if w.stored(mine.ID).Status != vsecure.StatusPending {
				t.Fatal("a refused cancel changed the request")
			}
			r := w.refusal(vsecure.AuditCancel, "alice")
			if r.ApprovalID != mine.ID || r.Error == "" {
				t.Fatalf("refused cancel entry %+v", r)
			}
		})

		for _, by := range []string{"dana", "dana-bot", "admin"} {
			t.Run("pending_cancelled_by_"+by, func(t *testing.T) {
				a := w.requestAs("dana-bot", dbURI)
				v, err := w.g.Cancel(ctx, w.as(by), a.ID)
				want(t, err, "", by+" cancels")
				if v.Status != vsecure.StatusCancelled || v.CancelledBy != by || v.CancelledAt == nil {
					t.Fatalf("view %+v", v)
				}
				if s := w.stored(a.ID); s.Status != vsecure.StatusCancelled || s.CancelledBy != by {
					t.Fatalf("stored %s by %q", s.Status, s.CancelledBy)
				}
				_, err = w.decide("alice", a.ID, "approve")
				want(t, err, vsecure.EAlreadyDecided, "approving a cancelled request")
				_, err = w.g.Cancel(ctx, w.as(by), a.ID)
				want(t, err, vsecure.EAlreadyDecided, "cancelling twice")
				list, _, err := w.g.ListApprovals(ctx, w.as("dana"), gate.ApprovalQuery{Status: vsecure.StatusCancelled})
				want(t, err, "", "list cancelled")
				found := false
				for _, l := range list {
					found = found || l.ID == a.ID
				}
				if !found {
					t.Fatalf("cancelled %s not listed under status cancelled", a.ID)
				}
			})
		}

		t.Run("approved_is_revoked_by_owner", func(t *testing.T) {
			a := w.requestAs("dana-bot", dbURI)
			d, err := w.decide("alice", a.ID, "approve")
			want(t, err, "", "alice approves dana-bot")
			_, err = w.read(w.login(d.AccessToken), dbURI)
			want(t, err, "", "read with the token")
			v, err := w.g.Cancel(ctx, w.as("dana"), a.ID)
			want(t, err, "", "dana cancels an approved request")
			if v.Status != vsecure.StatusRevoked || v.RevokedBy != "dana" {
				t.Fatalf("view %+v, want revoked by dana", v)
			}
			_, err = w.g.Authenticate(ctx, d.AccessToken, gate.Call{})
			want(t, err, vsecure.EUnauthenticated, "the token after the cancel")
			_, err = w.read(w.as("dana-bot"), dbURI)
			want(t, err, vsecure.EApprovalRequired, "the agent's read after the cancel")
			es, _, err := w.st.Store.QueryAudit(ctx, vsecure.AuditFilter{Operation: vsecure.AuditCancel, Actor: "dana", Success: ptr(true)}, "", 100)
			want(t, err, "", "query audit")
			found := false
			for _, e := range es {
				found = found || e.ApprovalID == a.ID && e.Metadata["from"] == "approved" && e.Metadata["status"] == "revoked"
			}
			if !found {
				t.Fatalf("no cancel entry of %s from approved to revoked in %+v", a.ID, es)
			}
		})
	})
}

// Racing cancels of one request: exactly one wins, on both stores.
func TestConcurrentCancels(t *testing.T) {
	stores.Both(t, func(t *testing.T, open stores.Opener) {
		w := newOBO(t, open(t))
		a := w.requestAs("dana-bot", dbURI)
		callers := []gate.Call{w.as("dana"), w.as("dana-bot"), w.as("admin"), w.as("dana"), w.as("dana-bot"), w.as("admin")}
		errs := make([]error, len(callers))
		var wg sync.WaitGroup
		for i, c := range callers {
			wg.Go(func() { _, errs[i] = w.g.Cancel(t.Context(), c, a.ID) })
		}
		wg.Wait()
		won := 0
		for i, err := range errs {
			switch {
			case err == nil:
				won++
			case !vsecure.IsCode(err, vsecure.EAlreadyDecided):
				t.Fatalf("cancel %d: %v, want success or already_decided", i, err)
			}
		}
		s := w.stored(a.ID)
		if won != 1 || s.Status != vsecure.StatusCancelled || s.Version != 2 {
			t.Fatalf("%d cancels won, stored %s at version %d; want 1 winner, cancelled, version 2", won, s.Status, s.Version)
		}
		ok := 0
		for _, by := range []string{"dana", "dana-bot", "admin"} {
			es, _, err := w.st.Store.QueryAudit(t.Context(), vsecure.AuditFilter{Operation: vsecure.AuditCancel, Actor: by, Success: ptr(true)}, "", 100)
			want(t, err, "", "query audit")
			ok += len(es)
		}
		if ok != 1 {
			t.Fatalf("%d successful cancel entries, want 1", ok)
		}
	})
}
