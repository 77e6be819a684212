package vsecure

import (
	"testing"
	"time"
)

func mustPolicy(t *testing.T, p Policy) Policy {
	t.Helper()
	if err := p.Validate(); err != nil {
		t.Fatalf("Validate(%+v) = %v", p, err)
	}
	return p
}

func TestGoverning(t *testing.T) {
	ps := []Policy{
		{URI: "vsecure://secrets/*", Permissions: []Operation{OpRead}},
		{URI: "vsecure://secrets/production/*", Permissions: []Operation{OpRead}, RequiresApproval: true, Approvers: []string{"a"}},
		{URI: "vsecure://secrets/production/PUBLIC_URL", Permissions: []Operation{OpRead, OpWrite}},
	}
	cases := map[string]string{
		"vsecure://secrets/production/PUBLIC_URL":   "vsecure://secrets/production/PUBLIC_URL",
		"vsecure://secrets/production/DATABASE_URL": "vsecure://secrets/production/*",
		"vsecure://secrets/staging/X":               "vsecure://secrets/*",
		"vsecure://api-keys/k":                      "",
	}
	for uri, want := range cases {
		t.Run(uri, func(t *testing.T) {
			u, _ := ParseURI(uri)
			got := Governing(ps, u)
			switch {
			case want == "" && got != nil:
				t.Fatalf("got %s, want no policy", got.URI)
			case want != "" && (got == nil || got.URI != want):
				t.Fatalf("got %v, want %s", got, want)
			}
		})
	}
}

func TestPolicyValidate(t *testing.T) {
	base := func() Policy {
		return Policy{URI: "vsecure://secrets/production/*", Permissions: []Operation{OpRead}, RequiresApproval: true, Approvers: []string{"alice", "bob"}}
	}
	bad := map[string]func(p *Policy){
		"unknown_permission":     func(p *Policy) { p.Permissions = []Operation{"delete"} },
		"no_permissions":         func(p *Policy) { p.Permissions = nil },
		"duplicate_permission":   func(p *Policy) { p.Permissions = []Operation{OpRead, OpRead} },
		"approval_no_approvers":  func(p *Policy) { p.Approvers = nil },
		"quorum_above_approvers": func(p *Policy) { p.RequiredApprovals = 3 },
		"negative_quorum":        func(p *Policy) { p.RequiredApprovals = -1 },
		"bad_uri":                func(p *Policy) { p.URI = "vsecure://secrets/*/x" },
		"bad_time_window": func(p *Policy) {
			p.AutoApprove = &AutoApprove{Enabled: true, Conditions: AutoApproveConditions{TimeWindow: "9-5"}}
		},
		"unknown_zone": func(p *Policy) {
			p.AutoApprove = &AutoApprove{Enabled: true, Conditions: AutoApproveConditions{TimeWindow: "09:00-17:00 Mars/Olympus"}}
		},
		"max_ttl_too_large":        func(p *Policy) { p.MaxTTL = 90 * 86400 },
		"duplicate_approver":       func(p *Policy) { p.Approvers = []string{"a", "a"} },
		"reserved_approver":        func(p *Policy) { p.Approvers = []string{"auto"} },
		"approver_bad_characters":  func(p *Policy) { p.Approvers = []string{"a b"} },
		"step_up_without_approval": func(p *Policy) { p.RequiresApproval, p.StepUp = false, true },
	}
	for name, mut := range bad {
		t.Run("refuses/"+name, func(t *testing.T) {
			p := base()
			mut(&p)
			if err := p.Validate(); ErrorCode(err) != EInvalid {
				t.Fatalf("Validate = %v, want invalid_request", err)
			}
		})
	}
	t.Run("accepts_seed_example", func(t *testing.T) {
		p := base()
		p.AutoApprove = &AutoApprove{Enabled: true, Conditions: AutoApproveConditions{TimeWindow: "09:00-17:00 PST", Requester: []string{"trusted-agent-1"}}}
		mustPolicy(t, p)
	})
	t.Run("accepts_step_up_with_approval", func(t *testing.T) {
		p := base()
		p.StepUp = true
		mustPolicy(t, p)
	})
}

func TestTimeWindow(t *testing.T) {
	la, _ := time.LoadLocation("America/Los_Angeles")
	cases := []struct {
		window string
		at     time.Time
		want   bool
	}{
		{"09:00-17:00 PST", time.Date(2024, 3, 15, 10, 0, 0, 0, la), true},
		{"09:00-17:00 PST", time.Date(2024, 3, 15, 17, 0, 0, 0, la), false},                   // end exclusive
		{"09:00-17:00 PST", time.Date(2024, 3, 15, 9, 0, 0, 0, la), true},                     // start inclusive
		{"09:00-17:00 PST", time.Date(2024, 7, 15, 16, 30, 0, 0, la), true},                   // PST means Pacific time, DST too
		{"09:00-17:00 PST", time.Date(2024, 3, 15, 2, 0, 0, 0, time.UTC), false},              // 19:00 PDT the day before
		{"09:00-17:00 America/New_York", time.Date(2024, 1, 10, 14, 0, 0, 0, time.UTC), true}, // 09:00 EST
		{"22:00-06:00 UTC", time.Date(2024, 1, 10, 23, 0, 0, 0, time.UTC), true},              // across midnight
		{"22:00-06:00 UTC", time.Date(2024, 1, 10, 5, 59, 0, 0, time.UTC), true},
		{"22:00-06:00 UTC", time.Date(2024, 1, 10, 6, 0, 0, 0, time.UTC), false},
		{"22:00-06:00 UTC", time.Date(2024, 1, 10, 12, 0, 0, 0, time.UTC), false},
		{"00:00-24:00 Europe/Berlin", time.Date(2024, 1, 10, 12, 0, 0, 0, time.UTC), true},
		// Minutes count: a window is minute-exact at both ends.
		{"09:30-17:45 UTC", time.Date(2024, 1, 10, 9, 29, 59, 0, time.UTC), false},
		{"09:30-17:45 UTC", time.Date(2024, 1, 10, 9, 30, 0, 0, time.UTC), true},
		{"09:30-17:45 UTC", time.Date(2024, 1, 10, 17, 44, 59, 0, time.UTC), true},
		{"09:30-17:45 UTC", time.Date(2024, 1, 10, 17, 45, 0, 0, time.UTC), false},
		{"09:59-10:01 UTC", time.Date(2024, 1, 10, 10, 0, 0, 0, time.UTC), true},
		{"09:59-10:01 UTC", time.Date(2024, 1, 10, 10, 1, 0, 0, time.UTC), false},
		// 24:00 is the end of the day, the last minute of which is inside.
		{"00:00-24:00 UTC", time.Date(2024, 1, 10, 23, 59, 59, 0, time.UTC), true},
		{"00:00-24:00 UTC", time.Date(2024, 1, 10, 0, 0, 0, 0, time.UTC), true},
		{"12:00-24:00 UTC", time.Date(2024, 1, 10, 11, 59, 0, 0, time.UTC), false},
		// An overnight window starts at its start minute, not the hour.
		{"22:30-06:15 UTC", time.Date(2024, 1, 10, 22, 29, 59, 0, time.UTC), false},
		{"22:30-06:15 UTC", time.Date(2024, 1, 10, 22, 30, 0, 0, time.UTC), true},
		{"22:30-06:15 UTC", time.Date(2024, 1, 10, 6, 14, 59, 0, time.UTC), true},
		{"22:30-06:15 UTC", time.Date(2024, 1, 10, 6, 15, 0, 0, time.UTC), false},
		{"23:59-00:01 UTC", time.Date(2024, 1, 10, 0, 0, 0, 0, time.UTC), true},
		{"23:59-00:01 UTC", time.Date(2024, 1, 10, 23, 58, 0, 0, time.UTC), false},
	}
	for _, c := range cases {
		t.Run(c.window+"@"+c.at.Format(time.RFC3339), func(t *testing.T) {
			w, err := ParseTimeWindow(c.window)
			if err != nil {
				t.Fatal(err)
			}
			if got := w.Contains(c.at); got != c.want {
				t.Fatalf("Contains = %v, want %v", got, c.want)
			}
		})
	}
	for _, s := range []string{
		"", "09:00-17:00", "9:00-17:00 UTC", "09:00-09:00 UTC", "25:00-26:00 UTC", "09:60-10:00 UTC", "09:00_17:00 UTC", "09:00-17:00 Local", "09:00-17:00 ../etc/passwd",
		"24:01-02:00 UTC", "00:00-24:30 UTC", "09:00-10:60 UTC", "09:0-10:00 UTC", "09:000-10:00 UTC", "0900-1000 UTC", // out of range or misshapen
		"0a:00-10:00 UTC", "09:xx-10:00 UTC", "09:00-1O:00 UTC", "09:00-10:0x UTC", // non-numeric parts
		"09:00-17:00  ", "09:00-17:00 Nowhere/Zone",
	} {
		if _, err := ParseTimeWindow(s); ErrorCode(err) != EInvalid {
			t.Errorf("ParseTimeWindow(%q) = %v, want invalid_request", s, err)
		}
	}
	// The extremes of each part parse, to the minute they name.
	for s, want := range map[string][2]int{
		"00:00-24:00 UTC": {0, 1440}, "00:59-23:59 UTC": {59, 23*60 + 59}, "23:00-00:01 UTC": {23 * 60, 1},
		"09:30-17:45 UTC": {9*60 + 30, 17*60 + 45}, " 10:00-11:00 UTC ": {600, 660},
	} {
		w, err := ParseTimeWindow(s)
		if err != nil || w.Start != want[0] || w.End != want[1] || w.Loc != time.UTC {
			t.Errorf("ParseTimeWindow(%q) = %+v, %v; want minutes %v in UTC", s, w, err, want)
		}
	}
}

func TestAutoApproves(t *testing.T) {
	utcNoon := time.Date(2024, 1, 10, 12, 0, 0, 0, time.UTC)
	p := Policy{AutoApprove: &AutoApprove{Enabled: true, Conditions: AutoApproveConditions{TimeWindow: "09:00-17:00 UTC", Requester: []string{"trusted"}}}}
	cases := []struct {
		name      string
		pol       Policy
		requester string
		at        time.Time
		want      bool
	}{
		{"all_conditions_hold", p, "trusted", utcNoon, true},
		{"requester_not_listed", p, "other", utcNoon, false},
		{"outside_window", p, "trusted", utcNoon.Add(8 * time.Hour), false},
		{"disabled", Policy{AutoApprove: &AutoApprove{Enabled: false}}, "trusted", utcNoon, false},
		{"no_conditions_approves_all", Policy{AutoApprove: &AutoApprove{Enabled: true}}, "x", utcNoon, true},
		{"no_block", Policy{}, "trusted", utcNoon, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.pol.AutoApproves(c.requester, c.at); got != c.want {
				t.Fatalf("AutoApproves = %v, want %v", got, c.want)
			}
		})
	}
}
