package vsecure

import (
	"strings"
	"testing"
	"time"
)

// FuzzParseURI: parsing never panics, accepted URIs round-trip to the same
// string, and accepted URIs never contain traversal or empty segments.
func FuzzParseURI(f *testing.F) {
	for _, s := range []string{
		"vsecure://secrets/production/DATABASE_URL", "vsecure://secrets/production/*", "vsecure://secrets/*",
		"vsecure://api-keys/k1", "vsecure://custom/db/main", "vsecure://secrets/../x", "vsecure://secrets//x",
		"https://secrets/a/b", "vsecure://secrets/*/x", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseURI(s)
		if err != nil {
			if ErrorCode(err) != EInvalid {
				t.Fatalf("error code %s", ErrorCode(err))
			}
			return
		}
		if u.String() != s {
			t.Fatalf("accepted %q renders as %q", s, u.String())
		}
		rest := strings.TrimPrefix(s, Scheme)
		for _, seg := range strings.Split(rest, "/") {
			if seg == "" || seg == "." || seg == ".." {
				t.Fatalf("accepted %q with segment %q", s, seg)
			}
		}
		for _, c := range u.Candidates() {
			if !c.Covers(u) {
				t.Fatalf("candidate %s does not cover %s", c, u)
			}
		}
	})
}

// FuzzGoverning: the governing policy always covers the URI and no other
// covering policy is more specific.
func FuzzGoverning(f *testing.F) {
	f.Add("vsecure://secrets/production/X", "vsecure://secrets/production/*", "vsecure://secrets/*")
	f.Add("vsecure://custom/a/b", "vsecure://custom/*", "vsecure://custom/a/b")
	f.Fuzz(func(t *testing.T, uri, p1, p2 string) {
		u, err := ParseURI(uri)
		if err != nil {
			return
		}
		ps := []Policy{{URI: p1}, {URI: p2}}
		g := Governing(ps, u)
		if g == nil {
			for _, p := range ps {
				if pu, err := ParseURI(p.URI); err == nil && pu.Covers(u) {
					t.Fatalf("%s covers %s but nothing governs", p.URI, u)
				}
			}
			return
		}
		gu, err := ParseURI(g.URI)
		if err != nil || !gu.Covers(u) {
			t.Fatalf("governing %s does not cover %s", g.URI, u)
		}
		for _, p := range ps {
			if pu, err := ParseURI(p.URI); err == nil && pu.Covers(u) && pu.Specificity() > gu.Specificity() {
				t.Fatalf("%s is more specific than governing %s", p.URI, g.URI)
			}
		}
	})
}

// FuzzParseTimeWindow: never panics; accepted windows answer Contains for
// any instant without panicking, and a window and its complement never
// both contain the same instant.
func FuzzParseTimeWindow(f *testing.F) {
	for _, s := range []string{"09:00-17:00 PST", "22:00-06:00 UTC", "00:00-24:00 Europe/Berlin", "9-5", "09:00-17:00 ../../etc/passwd", "24:00-01:00 UTC"} {
		f.Add(s, int64(1710498600))
	}
	f.Fuzz(func(t *testing.T, s string, unix int64) {
		w, err := ParseTimeWindow(s)
		if err != nil {
			if ErrorCode(err) != EInvalid {
				t.Fatalf("error code %s", ErrorCode(err))
			}
			return
		}
		at := time.Unix(unix%(1<<40), 0)
		inv := TimeWindow{Start: w.End, End: w.Start, Loc: w.Loc}
		if w.End == 24*60 || w.Start == 24*60 {
			return // 24:00 has no complement with the same bounds
		}
		if w.Contains(at) == inv.Contains(at) {
			t.Fatalf("%q and its complement agree at %v", s, at)
		}
	})
}
