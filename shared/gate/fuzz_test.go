package gate

import (
	"bytes"
	"testing"
)

// FuzzOpenCursor: a cursor either verifies to exactly what was signed for
// that scope, or is refused; no input panics or reaches another scope.
func FuzzOpenCursor(f *testing.F) {
	g := cursorSigner{bytes.Repeat([]byte{7}, 32)}
	good := g.sign("approvals\x00alice", "appr_123")
	f.Add(good, "approvals\x00alice")
	f.Add(good, "approvals\x00bob")
	f.Add("eyJpZCI6ImFwcHJfYWJjMTIzIn0", "audit\x00x")
	f.Add("a.b", "")
	f.Fuzz(func(t *testing.T, cursor, scope string) {
		raw, err := g.open(scope, cursor)
		if err != nil {
			return
		}
		if cursor != "" && g.sign(scope, raw) != cursor {
			t.Fatalf("accepted a cursor that was not signed for scope %q", scope)
		}
	})
}
