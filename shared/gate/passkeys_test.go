package gate_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/vsecure"
)

func (f *faults) CreatePasskey(ctx context.Context, p vsecure.Passkey, e vsecure.Entry) error {
	if err := f.write(); err != nil {
		return err
	}
	return f.Store.CreatePasskey(ctx, p, e)
}

func (f *faults) DeletePasskey(ctx context.Context, principal, id string, e vsecure.Entry) error {
	if err := f.write(); err != nil {
		return err
	}
	return f.Store.DeletePasskey(ctx, principal, id, e)
}

// verified is a passkey as shared/passkey hands it over after a
// registration ceremony.
func verified(id, name string) vsecure.Passkey {
	return vsecure.Passkey{ID: id, Name: name, PublicKey: []byte("cose"), SignCount: 1, AttestationType: "none"}
}

// human is principal signed in as a person (OIDC): the roles its key
// has, no key. Only such a call may add a passkey.
func (w *world) human(principal string) vsecure.Call {
	c := w.as(principal)
	c.Principal.KeyID, c.Principal.Human = "", true
	return c
}

func (w *world) passkeys(principal string) []vsecure.Passkey {
	w.t.Helper()
	ps, err := w.st.Store.ListPasskeys(w.t.Context(), principal)
	if err != nil {
		w.t.Fatal(err)
	}
	return ps
}

func TestRegisterPasskey(t *testing.T) {
	cases := []struct {
		name, as string
		p        vsecure.Passkey
		code     vsecure.Code
	}{
		{"approver_registers", "alice", verified("cred-1", "laptop"), ""},
		{"admin_registers", "admin", verified("cred-1", "laptop"), ""},
		{"agent_is_refused", "ai-agent-123", verified("cred-1", "laptop"), vsecure.EForbidden},
		{"auditor_is_refused", "auditor-1", verified("cred-1", "laptop"), vsecure.EForbidden},
		{"empty_name", "alice", verified("cred-1", ""), vsecure.EInvalid},
		{"longest_name", "alice", verified("cred-1", strings.Repeat("ñ", 64)), ""}, // 64 characters, 128 bytes
		{"long_name", "alice", verified("cred-1", strings.Repeat("n", 65)), vsecure.EInvalid},
		{"control_character_in_name", "alice", verified("cred-1", "lap\ntop"), vsecure.EInvalid},
		{"no_public_key", "alice", vsecure.Passkey{ID: "cred-1", Name: "laptop"}, vsecure.EInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			got, err := w.g.RegisterPasskey(t.Context(), w.human(tc.as), tc.p)
			want(t, err, tc.code, "RegisterPasskey")
			if tc.code != "" {
				if n := len(w.passkeys(tc.as)); n != 0 {
					t.Fatalf("refused registration stored %d passkeys", n)
				}
				if e := w.refusal(vsecure.AuditPasskeyRegister, tc.as); e.Error != string(tc.code) {
					t.Fatalf("refusal audited with error %q, want %q", e.Error, tc.code)
				}
				return
			}
			if ps := w.passkeys(tc.as); len(ps) != 1 || ps[0].ID != "cred-1" || ps[0].Principal != tc.as || !ps[0].CreatedAt.Equal(w.clock.Now().Truncate(1e9)) {
				t.Fatalf("stored %+v, want cred-1 of %s created now", ps, tc.as)
			}
			if got.Principal != tc.as {
				t.Fatalf("returned principal %q", got.Principal)
			}
			e := w.entry(vsecure.AuditPasskeyRegister, tc.as)
			if !e.Success || e.Metadata["passkeyId"] != "cred-1" || e.Metadata["principal"] != tc.as {
				t.Fatalf("audit entry %+v", e)
			}
		})
	}
}

// The passkey belongs to the caller: a principal named in the passkey
// (a body) is ignored.
func TestRegisterPasskeyIsTheCallers(t *testing.T) {
	w := newWorld(t)
	p := verified("cred-1", "laptop")
	p.Principal = "bob"
	if _, err := w.g.RegisterPasskey(t.Context(), w.human("alice"), p); err != nil {
		t.Fatal(err)
	}
	if n := len(w.passkeys("bob")); n != 0 {
		t.Fatalf("alice registered a passkey for bob")
	}
	if n := len(w.passkeys("alice")); n != 1 {
		t.Fatalf("alice has %d passkeys, want 1", n)
	}
}

func TestRegisterPasskeyTwiceIsAuditedRefusal(t *testing.T) {
	w := newWorld(t)
	if _, err := w.g.RegisterPasskey(t.Context(), w.human("alice"), verified("cred-1", "laptop")); err != nil {
		t.Fatal(err)
	}
	_, err := w.g.RegisterPasskey(t.Context(), w.human("bob"), verified("cred-1", "laptop"))
	want(t, err, vsecure.EConflict, "registering alice's credential id as bob")
	w.refusal(vsecure.AuditPasskeyRegister, "bob")
}

func TestDeletePasskey(t *testing.T) {
	cases := []struct {
		name, as, owner string
		id              string
		code            vsecure.Code
	}{
		{"owner_deletes", "alice", "alice", "cred-alice", ""},
		{"admin_deletes_anyones", "admin", "alice", "cred-alice", ""},
		{"another_approver_is_refused", "bob", "alice", "cred-alice", vsecure.EForbidden},
		{"agent_is_refused", "ai-agent-123", "alice", "cred-alice", vsecure.EForbidden},
		{"missing_passkey", "alice", "alice", "cred-none", vsecure.ENotFound},
		{"own_name_anothers_id", "bob", "bob", "cred-alice", vsecure.ENotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			if _, err := w.g.RegisterPasskey(t.Context(), w.human("alice"), verified("cred-alice", "laptop")); err != nil {
				t.Fatal(err)
			}
			err := w.g.DeletePasskey(t.Context(), w.as(tc.as), tc.owner, tc.id)
			want(t, err, tc.code, "DeletePasskey")
			left := len(w.passkeys("alice"))
			if tc.code != "" {
				if left != 1 {
					t.Fatalf("refused delete left alice %d passkeys", left)
				}
				w.refusal(vsecure.AuditPasskeyDelete, tc.as)
				return
			}
			if left != 0 {
				t.Fatalf("alice still has %d passkeys", left)
			}
			if e := w.entry(vsecure.AuditPasskeyDelete, tc.as); !e.Success || e.Metadata["passkeyId"] != tc.id || e.Metadata["principal"] != tc.owner {
				t.Fatalf("audit entry %+v", e)
			}
		})
	}
}

// Audited or not done: a registration or deletion whose write (carrying
// its entry) fails leaves nothing behind and says audit_unavailable.
func TestPasskeyChangesFailClosed(t *testing.T) {
	w := newWorld(t)
	if _, err := w.g.RegisterPasskey(t.Context(), w.human("alice"), verified("cred-1", "laptop")); err != nil {
		t.Fatal(err)
	}
	w.st.writes.Store(true)
	stepped := w.human("alice")
	stepped.StepUp = &vsecure.StepUp{Method: vsecure.StepUpPasskey, CredentialID: "cred-1", At: w.clock.Now()}
	_, err := w.g.RegisterPasskey(t.Context(), stepped, verified("cred-2", "phone"))
	want(t, err, vsecure.EAuditUnavailable, "RegisterPasskey with the store down")
	want(t, w.g.DeletePasskey(t.Context(), w.as("alice"), "alice", "cred-1"), vsecure.EAuditUnavailable, "DeletePasskey with the store down")
	w.st.writes.Store(false)
	if ps := w.passkeys("alice"); len(ps) != 1 || ps[0].ID != "cred-1" {
		t.Fatalf("after the outage alice has %+v, want only cred-1", ps)
	}
}

// A stolen API key must not be able to add its own authenticator, and a
// stolen session must not add a second one without the first.
func TestRegisterPasskeyNeedsAPersonAndTheirPasskey(t *testing.T) {
	w := newWorld(t)
	_, err := w.g.RegisterPasskey(t.Context(), w.as("alice"), verified("cred-1", "laptop"))
	want(t, err, vsecure.EForbidden, "RegisterPasskey with an API key")
	if _, err := w.g.RegisterPasskey(t.Context(), w.human("alice"), verified("cred-1", "laptop")); err != nil {
		t.Fatalf("first passkey, signed in: %v", err)
	}
	_, err = w.g.RegisterPasskey(t.Context(), w.human("alice"), verified("cred-2", "phone"))
	want(t, err, vsecure.EStepUpRequired, "second passkey without a step-up")
	stale := w.human("alice")
	stale.StepUp = &vsecure.StepUp{Method: vsecure.StepUpPasskey, CredentialID: "cred-1", At: w.clock.Now().Add(-vsecure.StepUpMaxAge - time.Second)}
	_, err = w.g.RegisterPasskey(t.Context(), stale, verified("cred-2", "phone"))
	want(t, err, vsecure.EStepUpRequired, "second passkey with a stale step-up")
	fresh := w.human("alice")
	fresh.StepUp = &vsecure.StepUp{Method: vsecure.StepUpPasskey, CredentialID: "cred-1", At: w.clock.Now()}
	if _, err := w.g.RegisterPasskey(t.Context(), fresh, verified("cred-2", "phone")); err != nil {
		t.Fatalf("second passkey with a fresh step-up: %v", err)
	}
	if n := len(w.passkeys("alice")); n != 2 {
		t.Fatalf("alice holds %d passkeys, want 2", n)
	}
}
