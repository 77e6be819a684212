package vsecure

import (
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // time windows name IANA zones; Lambda images may lack zoneinfo
)

// Operation is what a caller does to a resource.
type Operation string

// Operations a policy can permit.
const (
	OpRead  Operation = "read"
	OpWrite Operation = "write"
	// OpUse lets the value be injected into a process (vsecure run, the
	// MCP tool run_with_secrets) but never returned to the caller.
	OpUse Operation = "use"
)

// MaxMaxUses bounds maxUses: past it a cap is not "one-time access" but a
// counter nobody audits by hand.
const MaxMaxUses = 1000

// Covers reports whether a grant of o allows op: read implies use.
func (o Operation) Covers(op Operation) bool { return o == op || (o == OpRead && op == OpUse) }

// ParseOperation validates a policy operation.
func ParseOperation(s string) (Operation, error) {
	switch Operation(s) {
	case OpRead, OpWrite, OpUse:
		return Operation(s), nil
	}
	return "", Errorf(EInvalid, "unknown operation %q (want read, write or use)", s)
}

// Policy bounds access to every resource its URI covers. StepUp: deciding
// or revoking an approval under it needs a fresh passkey step-up (the
// console). Auto-approve still applies on such a policy: skipping humans
// altogether is the policy author's choice, and step-up guards humans'
// decisions, not the rule.
type Policy struct {
	URI               string      `json:"uri"`
	Name              string      `json:"name,omitempty"`
	Description       string      `json:"description,omitempty"`
	Permissions       []Operation `json:"permissions"`
	RequiresApproval  bool        `json:"requiresApproval"`
	StepUp            bool        `json:"stepUp,omitempty"`
	Approvers         []string    `json:"approvers,omitempty"`
	RequiredApprovals int         `json:"requiredApprovals,omitempty"`
	MaxTTL            int         `json:"maxTtl,omitempty"`
	// MaxUses caps the reads and uses one approval under this policy
	// allows (0: no cap); a request may ask for fewer.
	MaxUses      int               `json:"maxUses,omitempty"`
	AutoApprove  *AutoApprove      `json:"autoApprove,omitempty"`
	SlackChannel string            `json:"slackChannel,omitempty"`
	Metadata     map[string]string `json:"metadata,omitempty"`
	UpdatedBy    string            `json:"updatedBy,omitempty"`
	UpdatedAt    time.Time         `json:"updatedAt"`
}

// AutoApprove grants requests at once when every set condition holds.
type AutoApprove struct {
	Enabled    bool                  `json:"enabled"`
	Conditions AutoApproveConditions `json:"conditions"`
}

// AutoApproveConditions are ANDed; an empty condition does not restrict.
type AutoApproveConditions struct {
	TimeWindow string   `json:"timeWindow,omitempty"`
	Requester  []string `json:"requester,omitempty"`
}

// TTL bounds in seconds.
const (
	DefaultTTL    = 3600
	DefaultMaxTTL = 86400
	maxApprovers  = 50
)

// EffectiveMaxTTL is the policy's ttl bound.
func (p *Policy) EffectiveMaxTTL() int {
	if p.MaxTTL > 0 {
		return p.MaxTTL
	}
	return DefaultMaxTTL
}

// Quorum is the number of distinct approvers a request needs.
func (p *Policy) Quorum() int {
	if p.RequiredApprovals > 0 {
		return p.RequiredApprovals
	}
	return 1
}

// Permits reports whether the policy's permissions allow op: listed, or
// use under read (a caller allowed to see a value may as well inject it).
func (p *Policy) Permits(op Operation) bool {
	return slices.Contains(p.Permissions, op) || (op == OpUse && slices.Contains(p.Permissions, OpRead))
}

// Validate checks a policy as configured by an admin and normalises it.
func (p *Policy) Validate() error {
	u, err := ParseURI(p.URI)
	if err != nil {
		return err
	}
	p.URI = u.String()
	if len(p.Name) > 200 || len(p.Description) > 2000 {
		return Errorf(EInvalid, "name or description too long")
	}
	if len(p.Permissions) == 0 {
		return Errorf(EInvalid, "permissions must list at least one of read, write, use")
	}
	seen := map[Operation]bool{}
	for _, op := range p.Permissions {
		if _, err := ParseOperation(string(op)); err != nil {
			return Errorf(EInvalid, "unknown permission %q (want read, write or use)", op)
		}
		if seen[op] {
			return Errorf(EInvalid, "permission %q listed twice", op)
		}
		seen[op] = true
	}
	if len(p.Approvers) > maxApprovers {
		return Errorf(EInvalid, "at most %d approvers", maxApprovers)
	}
	ap := map[string]bool{}
	for _, a := range p.Approvers {
		if err := ValidatePrincipal(a); err != nil {
			return Errorf(EInvalid, "approver %q: %s", a, ErrorMessage(err))
		}
		if ap[a] {
			return Errorf(EInvalid, "approver %q listed twice", a)
		}
		ap[a] = true
	}
	if p.RequiredApprovals < 0 {
		return Errorf(EInvalid, "requiredApprovals must be positive")
	}
	if p.RequiresApproval {
		if len(p.Approvers) == 0 {
			return Errorf(EInvalid, "requiresApproval needs at least one approver")
		}
		if p.Quorum() > len(p.Approvers) {
			return Errorf(EInvalid, "requiredApprovals %d exceeds the %d approvers listed", p.Quorum(), len(p.Approvers))
		}
	}
	if p.StepUp && !p.RequiresApproval {
		return Errorf(EInvalid, "stepUp guards the approvers' decisions, so it needs requiresApproval: true")
	}
	if p.MaxTTL < 0 || p.MaxTTL > 30*86400 {
		return Errorf(EInvalid, "maxTtl must be between 1 and %d seconds", 30*86400)
	}
	if p.MaxUses < 0 || p.MaxUses > MaxMaxUses {
		return Errorf(EInvalid, "maxUses must be between 1 and %d", MaxMaxUses)
	}
	if p.AutoApprove != nil {
		if tw := p.AutoApprove.Conditions.TimeWindow; tw != "" {
			if _, err := ParseTimeWindow(tw); err != nil {
				return err
			}
		}
		for _, r := range p.AutoApprove.Conditions.Requester {
			if err := ValidatePrincipal(r); err != nil {
				return Errorf(EInvalid, "autoApprove requester %q: %s", r, ErrorMessage(err))
			}
		}
	}
	if len(p.SlackChannel) > 80 {
		return Errorf(EInvalid, "slackChannel too long")
	}
	return nil
}

// AutoApproves reports whether a request by requester at now is granted
// without a human. Conditions are ANDed; a disabled block never approves.
func (p *Policy) AutoApproves(requester string, now time.Time) bool {
	a := p.AutoApprove
	if a == nil || !a.Enabled {
		return false
	}
	c := a.Conditions
	if len(c.Requester) > 0 && !slices.Contains(c.Requester, requester) {
		return false
	}
	if c.TimeWindow != "" {
		w, err := ParseTimeWindow(c.TimeWindow)
		if err != nil || !w.Contains(now) {
			return false
		}
	}
	return true
}

// Governing returns the most specific policy covering u, or nil: exact
// beats pattern, longer literal prefix beats shorter.
func Governing(policies []Policy, u URI) *Policy {
	var best *Policy
	bestSpec := -1
	for i := range policies {
		pu, err := ParseURI(policies[i].URI)
		if err != nil || !pu.Covers(u) {
			continue
		}
		if s := pu.Specificity(); s > bestSpec {
			best, bestSpec = &policies[i], s
		}
	}
	return best
}

// TimeWindow is a daily window of wall-clock time in a zone. Start > End
// means the window crosses midnight.
type TimeWindow struct {
	Start, End int // minutes after midnight
	Loc        *time.Location
}

// Common zone abbreviations mapped to the IANA zone people mean by them
// ("PST" in a policy means Pacific time all year, DST included).
var zoneAbbrev = map[string]string{
	"UTC": "UTC", "GMT": "UTC", "Z": "UTC",
	"PST": "America/Los_Angeles", "PDT": "America/Los_Angeles", "PT": "America/Los_Angeles",
	"MST": "America/Denver", "MDT": "America/Denver", "MT": "America/Denver",
	"CST": "America/Chicago", "CDT": "America/Chicago", "CT": "America/Chicago",
	"EST": "America/New_York", "EDT": "America/New_York", "ET": "America/New_York",
	"BST": "Europe/London", "CET": "Europe/Paris", "CEST": "Europe/Paris",
	"EET": "Europe/Athens", "IST": "Asia/Kolkata", "JST": "Asia/Tokyo",
	"AEST": "Australia/Sydney", "AEDT": "Australia/Sydney",
}

// ParseTimeWindow parses "HH:MM-HH:MM <zone>" with an IANA zone name or a
// common abbreviation.
func ParseTimeWindow(s string) (TimeWindow, error) {
	bad := func(why string) (TimeWindow, error) {
		return TimeWindow{}, Errorf(EInvalid, "timeWindow %q: %s (want \"HH:MM-HH:MM <zone>\")", s, why)
	}
	span, zone, ok := strings.Cut(strings.TrimSpace(s), " ")
	if !ok || strings.TrimSpace(zone) == "" {
		return bad("missing zone")
	}
	zone = strings.TrimSpace(zone)
	from, to, ok := strings.Cut(span, "-")
	if !ok {
		return bad("missing '-'")
	}
	start, err1 := parseClock(from)
	end, err2 := parseClock(to)
	if err1 != nil || err2 != nil {
		return bad("bad clock time")
	}
	if start == end {
		return bad("empty window")
	}
	name := zone
	if iana, ok := zoneAbbrev[strings.ToUpper(zone)]; ok {
		name = iana
	}
	if name == "Local" || strings.Contains(name, "..") {
		return bad("unknown zone")
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return bad("unknown zone")
	}
	return TimeWindow{Start: start, End: end, Loc: loc}, nil
}

func parseClock(s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) != 2 || len(m) != 2 {
		return 0, Errorf(EInvalid, "bad clock")
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || hh > 24 || mm < 0 || mm > 59 || (hh == 24 && mm != 0) {
		return 0, Errorf(EInvalid, "bad clock")
	}
	return hh*60 + mm, nil
}

// Contains reports whether t falls inside the window (start inclusive, end
// exclusive), evaluated in the window's zone.
func (w TimeWindow) Contains(t time.Time) bool {
	lt := t.In(w.Loc)
	m := lt.Hour()*60 + lt.Minute()
	if w.Start < w.End {
		return m >= w.Start && m < w.End
	}
	return m >= w.Start || m < w.End
}
