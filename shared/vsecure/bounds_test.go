package vsecure

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestPolicyBounds: every size limit of a policy holds at its value and
// refuses one past it.
func TestPolicyBounds(t *testing.T) {
	base := func() Policy {
		return Policy{URI: "vsecure://secrets/production/*", Permissions: []Operation{OpRead}, RequiresApproval: true, Approvers: []string{"alice", "bob"}}
	}
	approvers := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = "approver-" + strconv.Itoa(i)
		}
		return out
	}
	cases := []struct {
		name string
		mut  func(p *Policy)
		ok   bool
	}{
		{"name_at_200", func(p *Policy) { p.Name = strings.Repeat("n", 200) }, true},
		{"name_at_201", func(p *Policy) { p.Name = strings.Repeat("n", 201) }, false},
		{"description_at_2000", func(p *Policy) { p.Description = strings.Repeat("d", 2000) }, true},
		{"description_at_2001", func(p *Policy) { p.Description = strings.Repeat("d", 2001) }, false},
		{"50_approvers", func(p *Policy) { p.Approvers = approvers(50) }, true},
		{"51_approvers", func(p *Policy) { p.Approvers = approvers(51) }, false},
		{"quorum_of_all_approvers", func(p *Policy) { p.RequiredApprovals = 2 }, true},
		{"quorum_zero_means_one", func(p *Policy) { p.RequiredApprovals = 0 }, true},
		{"max_ttl_unset", func(p *Policy) { p.MaxTTL = 0 }, true},
		{"max_ttl_30_days", func(p *Policy) { p.MaxTTL = 30 * 86400 }, true},
		{"max_ttl_past_30_days", func(p *Policy) { p.MaxTTL = 30*86400 + 1 }, false},
		{"max_ttl_negative", func(p *Policy) { p.MaxTTL = -1 }, false},
		{"max_uses_at_the_bound", func(p *Policy) { p.MaxUses = MaxMaxUses }, true},
		{"max_uses_past_the_bound", func(p *Policy) { p.MaxUses = MaxMaxUses + 1 }, false},
		{"max_uses_negative", func(p *Policy) { p.MaxUses = -1 }, false},
		{"slack_channel_at_80", func(p *Policy) { p.SlackChannel = strings.Repeat("c", 80) }, true},
		{"slack_channel_at_81", func(p *Policy) { p.SlackChannel = strings.Repeat("c", 81) }, false},
		{"bad_auto_approve_requester", func(p *Policy) {
			p.AutoApprove = &AutoApprove{Enabled: true, Conditions: AutoApproveConditions{Requester: []string{"a b"}}}
		}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := base()
			c.mut(&p)
			err := p.Validate()
			if c.ok && err != nil {
				t.Fatalf("Validate = %v, want ok", err)
			}
			if !c.ok && ErrorCode(err) != EInvalid {
				t.Fatalf("Validate = %v, want invalid_request", err)
			}
		})
	}
	// The message names the bound in seconds.
	p := base()
	p.MaxTTL = -1
	if msg := ErrorMessage(p.Validate()); !strings.Contains(msg, "2592000") {
		t.Fatalf("maxTtl message %q does not name 2592000", msg)
	}
	for req, want := range map[int]int{0: 1, 1: 1, 3: 3} {
		if got := (&Policy{RequiredApprovals: req}).Quorum(); got != want {
			t.Errorf("Quorum of requiredApprovals %d = %d, want %d", req, got, want)
		}
	}
	for ttl, want := range map[int]int{0: DefaultMaxTTL, 1: 1, 600: 600} {
		if got := (&Policy{MaxTTL: ttl}).EffectiveMaxTTL(); got != want {
			t.Errorf("EffectiveMaxTTL of maxTtl %d = %d, want %d", ttl, got, want)
		}
	}
}

// TestURIBounds: a segment is at most 128 of [A-Za-z0-9._-]; each end of
// each range is inside, its neighbour outside.
func TestURIBounds(t *testing.T) {
	const env = "vsecure://secrets/env/"
	ok := []string{env + strings.Repeat("x", 128), env + "a.b"}
	for _, c := range "azAZ09_-" {
		ok = append(ok, env+string(c))
	}
	for _, s := range ok {
		u, err := ParseURI(s)
		if err != nil || u.String() != s {
			t.Errorf("ParseURI(%q) = %v, %v; want it back", s, u, err)
		}
	}
	bad := []string{env + strings.Repeat("x", 129), env + "a\x7fb", env + "a,b"}
	for _, c := range "`{@[:;~ " {
		bad = append(bad, env+"a"+string(c)+"b")
	}
	for _, s := range bad {
		if _, err := ParseURI(s); ErrorCode(err) != EInvalid {
			t.Errorf("ParseURI(%q) = %v, want invalid_request", s, err)
		}
	}
}

// TestApprovalVersions: every transition moves the version up by one, so
// that a store's conditional write has exactly one winner.
func TestApprovalVersions(t *testing.T) {
	now := t0.Add(time.Minute)
	p := pending(1)
	p.Version = 4
	d, err := p.Decide("alice", ActionApprove, "", now)
	if err != nil || d.Version != 5 {
		t.Fatalf("decide: version %d, %v", d.Version, err)
	}
	r, err := d.Revoke("alice", now)
	if err != nil || r.Version != 6 {
		t.Fatalf("revoke: version %d, %v", r.Version, err)
	}
	e, err := p.Expire(t0.Add(time.Hour))
	if err != nil || e.Version != 5 {
		t.Fatalf("expire: version %d, %v", e.Version, err)
	}
}

// TestStaleStepUpNamesTheMethod: the refusal quotes what was presented,
// cut to 32 bytes, or says none.
func TestStaleStepUpNamesTheMethod(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	cases := map[string]string{
		"":                      "needs a passkey step-up, not none",
		"totp":                  `needs a passkey step-up, not "totp"`,
		strings.Repeat("m", 32): `needs a passkey step-up, not "` + strings.Repeat("m", 32) + `"`,
		strings.Repeat("m", 40): `needs a passkey step-up, not "` + strings.Repeat("m", 32) + `"`,
		strings.Repeat("m", 33): `needs a passkey step-up, not "` + strings.Repeat("m", 32) + `"`,
	}
	for m, want := range cases {
		if got := StaleStepUp(&StepUp{Method: m, CredentialID: "c", At: now}, now); got != want {
			t.Errorf("StaleStepUp(method %q) = %q, want %q", m, got, want)
		}
	}
}

// TestRateLimitTake: a bucket gives Burst tokens at once, then one per
// Every; a refusal says how long until the next one and stores nothing.
func TestRateLimitTake(t *testing.T) {
	l := RateLimit{Every: 30 * time.Second, Burst: 3}
	now := t0
	var tat time.Time // a bucket never seen
	for i := range 3 {
		next, ok, wait := l.Take(tat, now)
		if !ok || wait != 0 || !next.Equal(now.Add(time.Duration(i+1)*l.Every)) {
			t.Fatalf("take %d: next %s ok %v wait %s", i, next, ok, wait)
		}
		tat = next
	}
	next, ok, wait := l.Take(tat, now)
	if ok || wait != l.Every || !next.Equal(tat) {
		t.Fatalf("fourth take: next %s ok %v wait %s; want a refusal for %s", next, ok, wait, l.Every)
	}
	if _, ok, wait := l.Take(tat, now.Add(l.Every-time.Second)); ok || wait != time.Second {
		t.Fatalf("a second early: ok %v wait %s", ok, wait)
	}
	if next, ok, _ := l.Take(tat, now.Add(l.Every)); !ok || !next.Equal(tat.Add(l.Every)) {
		t.Fatalf("one Every later: ok %v next %s", ok, next)
	}
	// An idle bucket refills to Burst, never beyond.
	later := now.Add(time.Hour)
	if next, ok, _ := l.Take(tat, later); !ok || !next.Equal(later.Add(l.Every)) {
		t.Fatalf("after an idle hour: ok %v next %s", ok, next)
	}
	if ApprovalRequestLimit.Every != 30*time.Second || ApprovalRequestLimit.Burst != 10 || ApprovalBucket("bot") != "approvals#bot" {
		t.Fatalf("approval limit %+v, bucket %q", ApprovalRequestLimit, ApprovalBucket("bot"))
	}
}

// TestURIStringAllocatesOnce: String sizes its buffer exactly, so the
// read path's URI renderings cost one allocation each.
func TestURIStringAllocatesOnce(t *testing.T) {
	for _, s := range []string{"vsecure://secrets/production/DATABASE_URL", "vsecure://custom/*", "vsecure://api-keys/k1"} {
		u, err := ParseURI(s)
		if err != nil {
			t.Fatal(err)
		}
		var out string
		if n := testing.AllocsPerRun(100, func() { out = u.String() }); n != 1 || out != s {
			t.Errorf("String() of %s = %q in %.0f allocations, want 1", s, out, n)
		}
	}
}

// TestOperationCovers: a grant covers its own operation, and a read grant
// covers use too; nothing else covers anything else.
func TestOperationCovers(t *testing.T) {
	ops := []Operation{OpRead, OpWrite, OpUse}
	for _, o := range ops {
		for _, op := range ops {
			want := o == op || o == OpRead && op == OpUse
			if got := o.Covers(op); got != want {
				t.Errorf("%s.Covers(%s) = %v, want %v", o, op, got, want)
			}
			if got := (&Approval{Operation: o}).Covers(op); got != want {
				t.Errorf("an approval of %s covers %s: %v, want %v", o, op, got, want)
			}
		}
	}
}

// TestSpent: an approval with a cap is spent at no use left; one without
// a cap never is.
func TestSpent(t *testing.T) {
	for _, c := range []struct {
		maxUses, left int
		spent         bool
	}{{0, 0, false}, {3, 3, false}, {3, 1, false}, {3, 0, true}, {1, -1, true}} {
		if got := (&Approval{MaxUses: c.maxUses, UsesLeft: c.left}).Spent(); got != c.spent {
			t.Errorf("maxUses %d, usesLeft %d: spent %v, want %v", c.maxUses, c.left, got, c.spent)
		}
	}
}
