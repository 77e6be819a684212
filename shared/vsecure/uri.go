package vsecure

import (
	"strings"
)

// Scheme is the URI scheme of every resource.
const Scheme = "vsecure://"

// Resource kinds and the number of literal segments a concrete URI of that
// kind has after the kind itself.
var kindDepth = map[string]int{
	"secrets":  2, // {environment}/{name}
	"api-keys": 1, // {id}
	"custom":   2, // {type}/{id}
}

const (
	maxURILen     = 512
	maxSegmentLen = 128
)

// URI is a parsed resource URI or pattern. A pattern ends in "/*" and
// covers every URI (and narrower pattern) below its literal prefix.
type URI struct {
	Kind     string
	Segments []string // literal segments after the kind
	Wildcard bool
}

// ParseURI parses a full resource URI or pattern. Anything outside the
// grammar is an invalid_request error.
func ParseURI(s string) (URI, error) {
	if len(s) > maxURILen {
		return URI{}, Errorf(EInvalid, "resource URI longer than %d bytes", maxURILen)
	}
	rest, ok := strings.CutPrefix(s, Scheme)
	if !ok {
		return URI{}, Errorf(EInvalid, "resource URI must start with %q", Scheme)
	}
	parts := strings.Split(rest, "/")
	kind := parts[0]
	depth, ok := kindDepth[kind]
	if !ok {
		return URI{}, Errorf(EInvalid, "unknown resource kind %q (want secrets, api-keys or custom)", kind)
	}
	u := URI{Kind: kind}
	segs := parts[1:]
	if n := len(segs); n > 0 && segs[n-1] == "*" {
		u.Wildcard = true
		segs = segs[:n-1]
	}
	for _, seg := range segs {
		if err := checkSegment(seg); err != nil {
			return URI{}, err
		}
	}
	switch {
	case u.Wildcard && len(segs) >= depth:
		return URI{}, Errorf(EInvalid, "pattern %q is deeper than a %s URI", s, kind)
	case !u.Wildcard && len(segs) != depth:
		return URI{}, Errorf(EInvalid, "a %s URI has %d segments after the kind", kind, depth)
	}
	u.Segments = segs
	return u, nil
}

// ParseResourcePath parses the form used in request paths: either the full
// URI or the URI without its scheme ("secrets/production/DATABASE_URL").
func ParseResourcePath(s string) (URI, error) {
	if !strings.HasPrefix(s, Scheme) {
		s = Scheme + s
	}
	return ParseURI(s)
}

func checkSegment(seg string) error {
	switch {
	case seg == "":
		return Errorf(EInvalid, "resource URI has an empty segment")
	case seg == "*":
		return Errorf(EInvalid, "a wildcard may only be the last segment")
	case seg == "." || seg == "..":
		return Errorf(EInvalid, "resource URI may not contain %q", seg)
	case len(seg) > maxSegmentLen:
		return Errorf(EInvalid, "resource URI segment longer than %d bytes", maxSegmentLen)
	}
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return Errorf(EInvalid, "resource URI segment %q has a character outside [A-Za-z0-9._-]", seg)
		}
	}
	return nil
}

// String renders the canonical form.
func (u URI) String() string {
	n := len(Scheme) + len(u.Kind)
	for _, s := range u.Segments {
		n += 1 + len(s)
	}
	if u.Wildcard {
		n += 2
	}
	var b strings.Builder
	b.Grow(n) // one allocation: the read path renders several URIs per request
	b.WriteString(Scheme)
	b.WriteString(u.Kind)
	for _, s := range u.Segments {
		b.WriteByte('/')
		b.WriteString(s)
	}
	if u.Wildcard {
		b.WriteString("/*")
	}
	return b.String()
}

// IsPattern reports whether u ends in a wildcard.
func (u URI) IsPattern() bool { return u.Wildcard }

// Type is the resource type shown in API responses.
func (u URI) Type() string {
	switch u.Kind {
	case "secrets":
		return "secret"
	case "api-keys":
		return "api-key"
	default:
		return "custom"
	}
}

// Covers reports whether pattern (or exact URI) p covers u: the same URI, or
// a pattern whose literal prefix is a prefix of u's segments.
func (p URI) Covers(u URI) bool {
	if p.Kind != u.Kind {
		return false
	}
	if !p.Wildcard {
		return !u.Wildcard && equalSegments(p.Segments, u.Segments)
	}
	if len(p.Segments) > len(u.Segments) {
		return false
	}
	if len(p.Segments) == len(u.Segments) && !u.Wildcard {
		return false
	}
	return equalSegments(p.Segments, u.Segments[:len(p.Segments)])
}

// Specificity orders policies: exact URIs beat patterns, longer literal
// prefixes beat shorter ones.
func (u URI) Specificity() int {
	n := 2 * (len(u.Segments) + 1)
	if !u.Wildcard {
		n++
	}
	return n
}

// Candidates lists every URI whose policy could govern u, most specific
// first: u itself and each pattern above it. Stores fetch exactly these keys
// (one BatchGetItem in DynamoDB) instead of scanning policies.
func (u URI) Candidates() []URI {
	out := make([]URI, 0, len(u.Segments)+1)
	out = append(out, u)
	n := len(u.Segments)
	if !u.Wildcard {
		n--
	}
	for i := n; i >= 0; i-- {
		if u.Wildcard && i == len(u.Segments) {
			continue
		}
		out = append(out, URI{Kind: u.Kind, Segments: u.Segments[:i], Wildcard: true})
	}
	return out
}

func equalSegments(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// ExpandShort turns the CLI short form of the seed ("production/*",
// "production/DB") into a full URI string; full URIs pass through.
func ExpandShort(s string) string {
	switch {
	case strings.HasPrefix(s, Scheme):
		return s
	case strings.HasPrefix(s, "secrets/"), strings.HasPrefix(s, "api-keys/"), strings.HasPrefix(s, "custom/"):
		return Scheme + s
	default:
		return Scheme + "secrets/" + s
	}
}
