package console_test

import (
	"bytes"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vsecure/vsecure/shared/console"
	"github.com/vsecure/vsecure/shared/crypto/local"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/httpapi"
	"github.com/vsecure/vsecure/shared/store/embedded"
)

// TestHandlersAreTheRouteTable: the console serves exactly the route
// table's console routes, so a page cannot exist locally without its
// Lambda function and route in AWS, nor a route without its page.
func TestHandlersAreTheRouteTable(t *testing.T) {
	var want []string
	for _, rt := range httpapi.Routes() {
		if rt.Mount == httpapi.MountConsole {
			want = append(want, rt.Pattern())
		}
	}
	slices.Sort(want)
	g := embeddedGate(t, nil)
	c, err := console.New(console.Config{Gate: g, SessionKey: bytes.Repeat([]byte("s"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Patterns(); !slices.Equal(got, want) {
		t.Errorf("console patterns\n %v\nroute table's MountConsole routes\n %v", got, want)
	}
}

// embeddedGate is a gate over a fresh bbolt store, for the tests whose
// subject lives above the store (one kind is enough); humans verifies
// people's tokens, or nil.
func embeddedGate(t *testing.T, humans gate.HumanVerifier) *gate.Gate {
	t.Helper()
	sealer, err := local.New(bytes.Repeat([]byte("m"), 32))
	if err != nil {
		t.Fatal(err)
	}
	st, err := embedded.Open(filepath.Join(t.TempDir(), "vsecure.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	g, err := gate.New(gate.Config{Store: st, Sealer: sealer, CursorKey: bytes.Repeat([]byte("k"), 32), Humans: humans})
	if err != nil {
		t.Fatal(err)
	}
	return g
}
