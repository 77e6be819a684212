package httpapi

import (
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// The list routes' query strings, parsed into the gate's typed queries.
// A parse error is refused (and audited) before the gate is called.

// maxActor bounds the actor filter (principal ids are shorter).
const maxActor = 128

// parseAuditFilter reads the filters of GET /v1/security/mcp/audit.
func parseAuditFilter(q url.Values) (vsecure.AuditFilter, error) {
	var f vsecure.AuditFilter
	if s := q.Get("resource"); s != "" {
		u, err := vsecure.ParseURI(s)
		if err != nil {
			return f, err
		}
		f.Resource = u.String()
	}
	if s := q.Get("actor"); s != "" {
		if len(s) > maxActor {
			return f, vsecure.Errorf(vsecure.EInvalid, "actor too long")
		}
		f.Actor = s
	}
	if s := q.Get("operation"); s != "" {
		if !slices.Contains(vsecure.AuditOperations, s) {
			return f, vsecure.Errorf(vsecure.EInvalid, "unknown operation %q", s)
		}
		f.Operation = s
	}
	if s := q.Get("success"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return f, vsecure.Errorf(vsecure.EInvalid, "success must be true or false")
		}
		f.Success = &b
	}
	var err error
	f.From, f.To, err = parseRange(q)
	return f, err
}

// parseRange reads the from and to of the audit routes (RFC 3339; absent:
// unbounded).
func parseRange(q url.Values) (from, to time.Time, err error) {
	if from, err = parseTime("from", q.Get("from")); err != nil {
		return
	}
	to, err = parseTime("to", q.Get("to"))
	return
}

func parseTime(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, vsecure.Errorf(vsecure.EInvalid, "%s must be an RFC 3339 time such as 2024-03-15T10:30:00Z", name)
	}
	return t.UTC(), nil
}

// parseOptionalURI reads a URI query parameter ("" is nil).
func parseOptionalURI(s string) (*vsecure.URI, error) {
	if s == "" {
		return nil, nil
	}
	u, err := vsecure.ParseURI(s)
	if err != nil {
		return nil, err
	}
	return &u, nil
}
