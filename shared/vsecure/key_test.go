package vsecure

import (
	"strings"
	"testing"
	"time"
)

// TestValidatePrincipal: a principal id is 1 to 128 of [A-Za-z0-9._@:-];
// each end of each range is inside, the byte beside it outside.
func TestValidatePrincipal(t *testing.T) {
	ok := []string{
		"a", "z", "A", "Z", "0", "9", "_", "-", ".", "@", ":",
		"ai-agent-123", "alice@example.com", "svc:ci.deploy_1",
		strings.Repeat("x", 128),
	}
	for _, id := range ok {
		if err := ValidatePrincipal(id); err != nil {
			t.Errorf("ValidatePrincipal(%q) = %v, want ok", id, err)
		}
	}
	bad := []string{
		"", strings.Repeat("x", 129),
		Anonymous, AutoApprover,
		"`", "{", "[", "/", ";", "?", "a b", "a/b", "a\x00", "é", "a\n", "a,b", "a#b", "a+b", "a*",
		"ok-then-" + string(rune(0x60)), "ok-then-{",
	}
	for _, id := range bad {
		if err := ValidatePrincipal(id); ErrorCode(err) != EInvalid {
			t.Errorf("ValidatePrincipal(%q) = %v, want invalid_request", id, err)
		}
	}
}

// TestKeyActive: a key authenticates until its expiresAt (exclusive) and
// never once revoked.
func TestKeyActive(t *testing.T) {
	now := time.Date(2024, 3, 15, 10, 30, 0, 0, time.UTC)
	later, earlier := now.Add(time.Second), now.Add(-time.Second)
	cases := []struct {
		name string
		k    Key
		want bool
	}{
		{"no_end", Key{}, true},
		{"before_expiresAt", Key{ExpiresAt: &later}, true},
		{"at_expiresAt", Key{ExpiresAt: &now}, false},
		{"after_expiresAt", Key{ExpiresAt: &earlier}, false},
		{"revoked", Key{RevokedAt: &earlier}, false},
		{"revoked_before_its_end", Key{RevokedAt: &earlier, ExpiresAt: &later}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.k.Active(now); got != c.want {
				t.Fatalf("Active = %v, want %v", got, c.want)
			}
		})
	}
}

// TestPrincipalRoles: a key principal holds its roles; a token principal
// holds none, whatever roles it carries.
func TestPrincipalRoles(t *testing.T) {
	agent := Principal{ID: "a", Roles: []Role{RoleAgent, RoleApprover}}
	token := Principal{ID: "a", Roles: []Role{RoleAdmin, RoleAgent}, Scope: &Scope{ApprovalID: "appr_1"}}
	cases := []struct {
		name  string
		p     Principal
		roles []Role
		want  bool
	}{
		{"holds_its_first_role", agent, []Role{RoleAgent}, true},
		{"holds_its_second_role", agent, []Role{RoleApprover}, true},
		{"any_of_several", agent, []Role{RoleAdmin, RoleApprover}, true},
		{"none_of_several", agent, []Role{RoleAdmin, RoleAuditor}, false},
		{"no_roles_asked", agent, nil, false},
		{"token_holds_no_role", token, []Role{RoleAdmin}, false},
		{"token_holds_none_of_several", token, []Role{RoleAuditor, RoleAgent}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.p.HasAny(c.roles...); got != c.want {
				t.Fatalf("HasAny(%v) = %v, want %v", c.roles, got, c.want)
			}
		})
	}
	for _, s := range []string{"admin", "approver", "auditor", "agent"} {
		if r, err := ParseRole(s); err != nil || string(r) != s {
			t.Errorf("ParseRole(%q) = %q, %v", s, r, err)
		}
	}
	for _, s := range []string{"", "root", "Admin", "admins"} {
		if _, err := ParseRole(s); ErrorCode(err) != EInvalid {
			t.Errorf("ParseRole(%q) = %v, want invalid_request", s, err)
		}
	}
}
