package gate

import "testing"

func TestLooksLikeJWT(t *testing.T) {
	for cred, want := range map[string]bool{
		"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln": true,
		"a.b.c":                      true,
		"vsk_abc.def.ghi":            false,
		"mcp_at_abc.def.ghi":         false,
		"a.b":                        false,
		"a.b.c.d":                    false,
		"a..c":                       false,
		"a.b.":                       false, // alg "none": no signature
		"a.b+/.c":                    false,
		"+a.b.c":                     false,
		"AZ.az.09-_":                 true,
		"@.b.c":                      false, // the neighbours of each range
		"[.b.c":                      false,
		"`.b.c":                      false,
		"{.b.c":                      false,
		"/.b.c":                      false,
		":.b.c":                      false,
		"vsk_0123456789abcdefghijkl": false,
		"":                           false,
	} {
		if got := LooksLikeJWT(cred); got != want {
			t.Errorf("LooksLikeJWT(%q) = %v, want %v", cred, got, want)
		}
	}
}
