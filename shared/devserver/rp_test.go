package devserver

import "testing"

func TestRelyingParty(t *testing.T) {
	for public, want := range map[string][2]string{
		"http://127.0.0.1:8080":          {"localhost", "http://localhost:8080"},
		"http://[::1]:9000":              {"localhost", "http://localhost:9000"},
		"https://vsecure.example.com":    {"vsecure.example.com", "https://vsecure.example.com"},
		"https://vsecure.example.com:84": {"vsecure.example.com", "https://vsecure.example.com:84"},
		"http://10.0.0.7:8080":           {"", ""},
	} {
		rp, origin, ok := relyingParty(public)
		if rp != want[0] || origin != want[1] || ok != (want[0] != "") {
			t.Errorf("relyingParty(%q) = %q, %q, %v; want %q, %q", public, rp, origin, ok, want[0], want[1])
		}
	}
}
