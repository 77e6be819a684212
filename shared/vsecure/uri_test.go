package vsecure

import (
	"strings"
	"testing"
)

func TestParseURI(t *testing.T) {
	valid := []string{
		"vsecure://secrets/production/DATABASE_URL",
		"vsecure://secrets/production/*",
		"vsecure://secrets/*",
		"vsecure://api-keys/key-1",
		"vsecure://api-keys/*",
		"vsecure://custom/db/main.v2",
		"vsecure://custom/db/*",
		"vsecure://custom/*",
	}
	for _, s := range valid {
		t.Run("valid/"+s, func(t *testing.T) {
			u, err := ParseURI(s)
			if err != nil {
				t.Fatalf("ParseURI(%q) = %v", s, err)
			}
			if u.String() != s {
				t.Fatalf("round trip %q → %q", s, u.String())
			}
		})
	}
	invalid := map[string]string{
		"wrong_scheme":         "https://secrets/production/X",
		"no_scheme":            "secrets/production/X",
		"unknown_kind":         "vsecure://tokens/production/X",
		"star_not_last":        "vsecure://secrets/*/X",
		"empty_segment":        "vsecure://secrets//X",
		"trailing_slash":       "vsecure://secrets/production/",
		"dotdot":               "vsecure://secrets/../X",
		"dot":                  "vsecure://secrets/./X",
		"too_deep":             "vsecure://secrets/production/a/b",
		"too_shallow":          "vsecure://secrets/production",
		"pattern_too_deep":     "vsecure://secrets/production/X/*",
		"partial_glob":         "vsecure://secrets/prod*",
		"space":                "vsecure://secrets/production/A B",
		"encoded_slash":        "vsecure://secrets/production/A%2FB",
		"empty":                "",
		"kind_only":            "vsecure://secrets",
		"api_key_too_deep":     "vsecure://api-keys/a/b",
		"overlong":             "vsecure://secrets/production/" + strings.Repeat("a", 600),
		"double_star":          "vsecure://secrets/**",
		"unicode":              "vsecure://secrets/production/ü",
		"custom_missing_id":    "vsecure://custom/db",
		"scheme_case":          "VSECURE://secrets/production/X",
		"backslash_traversal":  `vsecure://secrets/production/..\X`,
		"null_byte":            "vsecure://secrets/production/X\x00",
		"query_string":         "vsecure://secrets/production/X?v=1",
		"leading_slash_in_uri": "vsecure:///secrets/production/X",
	}
	for name, s := range invalid {
		t.Run("invalid/"+name, func(t *testing.T) {
			if _, err := ParseURI(s); ErrorCode(err) != EInvalid {
				t.Fatalf("ParseURI(%q) error = %v, want invalid_request", s, err)
			}
		})
	}
}

func TestParseResourcePath(t *testing.T) {
	for _, s := range []string{"secrets/production/DATABASE_URL", "vsecure://secrets/production/DATABASE_URL"} {
		u, err := ParseResourcePath(s)
		if err != nil || u.String() != "vsecure://secrets/production/DATABASE_URL" {
			t.Fatalf("ParseResourcePath(%q) = %v, %v", s, u, err)
		}
	}
}

func TestCovers(t *testing.T) {
	cases := []struct {
		p, u string
		want bool
	}{
		{"vsecure://secrets/*", "vsecure://secrets/production/X", true},
		{"vsecure://secrets/production/*", "vsecure://secrets/production/X", true},
		{"vsecure://secrets/production/*", "vsecure://secrets/staging/X", false},
		{"vsecure://secrets/production/X", "vsecure://secrets/production/X", true},
		{"vsecure://secrets/production/X", "vsecure://secrets/production/Y", false},
		{"vsecure://secrets/*", "vsecure://secrets/production/*", true},
		{"vsecure://secrets/production/*", "vsecure://secrets/production/*", true}, // a pattern covers itself
		{"vsecure://secrets/*", "vsecure://api-keys/k", false},
		{"vsecure://secrets/prod/*", "vsecure://secrets/production/X", false},
	}
	for _, c := range cases {
		p, _ := ParseURI(c.p)
		u, _ := ParseURI(c.u)
		if got := p.Covers(u); got != c.want {
			t.Errorf("%s covers %s = %v, want %v", c.p, c.u, got, c.want)
		}
	}
}

func TestCandidates(t *testing.T) {
	u, _ := ParseURI("vsecure://secrets/production/DATABASE_URL")
	var got []string
	for _, c := range u.Candidates() {
		got = append(got, c.String())
	}
	want := "vsecure://secrets/production/DATABASE_URL vsecure://secrets/production/* vsecure://secrets/*"
	if strings.Join(got, " ") != want {
		t.Fatalf("Candidates = %v", got)
	}
	p, _ := ParseURI("vsecure://secrets/production/*")
	got = got[:0]
	for _, c := range p.Candidates() {
		got = append(got, c.String())
	}
	if strings.Join(got, " ") != "vsecure://secrets/production/* vsecure://secrets/*" {
		t.Fatalf("pattern Candidates = %v", got)
	}
}

func TestExpandShort(t *testing.T) {
	cases := map[string]string{
		"production/*":          "vsecure://secrets/production/*",
		"production/DB":         "vsecure://secrets/production/DB",
		"secrets/staging/*":     "vsecure://secrets/staging/*",
		"vsecure://custom/db/x": "vsecure://custom/db/x",
		"api-keys/*":            "vsecure://api-keys/*",
	}
	for in, want := range cases {
		if got := ExpandShort(in); got != want {
			t.Errorf("ExpandShort(%q) = %q, want %q", in, got, want)
		}
	}
}
