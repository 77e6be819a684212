package gate_test

import (
	"context"
	"strings"
	"testing"

	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// TestValidIdempotencyKey: 1 to 255 visible ASCII characters (0x21 to
// 0x7e), each end of each bound.
func TestValidIdempotencyKey(t *testing.T) {
	for k, ok := range map[string]bool{
		"":                                     false,
		"a":                                    true,
		strings.Repeat("a", 255):               true,
		strings.Repeat("a", 256):               false,
		"!":                                    true,  // 0x21
		"~":                                    true,  // 0x7e
		" ":                                    false, // 0x20
		"\x7f":                                 false,
		"a b":                                  false,
		"ab\x00":                               false,
		"6ba7b810-9dad-11d1-80b4-00c04fd430c8": true,
	} {
		if err := gate.ValidIdempotencyKey(k); (err == nil) != ok || err != nil && !vsecure.IsCode(err, vsecure.EInvalid) {
			t.Errorf("ValidIdempotencyKey(%q) = %v, want valid %v", k, err, ok)
		}
	}
}

// humans is a HumanVerifier that counts the tokens it is shown and maps
// each to jane, an approver.
type humans struct{ seen int }

func (h *humans) VerifyHuman(context.Context, string) (vsecure.Principal, error) {
	h.seen++
	return vsecure.Principal{ID: "jane@example.com", Roles: []vsecure.Role{vsecure.RoleApprover}}, nil
}

// TestJWTSizeBound: a bearer JWT of up to 8 KiB reaches the verifier; a
// larger one is refused before it.
func TestJWTSizeBound(t *testing.T) {
	w := newWorld(t)
	h := &humans{}
	g := w.gateWith(func(c *gate.Config) { c.Humans = h })
	jwt := func(n int) string { return "a." + strings.Repeat("b", n-4) + ".c" }
	p, err := g.Authenticate(t.Context(), jwt(8<<10), gate.Call{})
	if err != nil || h.seen != 1 || p.ID != "jane@example.com" || !p.Human {
		t.Fatalf("an 8 KiB JWT: %+v, %v (verifier saw %d)", p, err, h.seen)
	}
	_, err = g.Authenticate(t.Context(), jwt(8<<10+1), gate.Call{})
	want(t, err, vsecure.EUnauthenticated, "a JWT a byte past 8 KiB")
	if h.seen != 1 {
		t.Fatalf("the verifier saw the oversized JWT")
	}
}
