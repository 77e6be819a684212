package gate_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/vsecure/vsecure/shared/crypto/local"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// cursorKey is a CursorKeySource that answers key, or err.
type cursorKey struct {
	key []byte
	err error
}

func (c cursorKey) CursorKey(context.Context) ([]byte, error) { return c.key, c.err }

// TestCursorKeys: a cursor key is at least 32 bytes, whether configured or
// supplied by a source on the call that paginates; a source that fails or
// supplies a shorter key refuses the listing (audited, no data), and a
// cursor opens only under the key that signed it.
func TestCursorKeys(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	sealer, err := local.New(bytes.Repeat([]byte("m"), 32))
	if err != nil {
		t.Fatal(err)
	}
	config := func(key []byte, src gate.CursorKeySource) gate.Config {
		return gate.Config{Store: w.st, Sealer: sealer, CursorKey: key, CursorKeys: src, Now: w.clock.Now}
	}
	for _, n := range []int{0, 31} {
		if _, err := gate.New(config(bytes.Repeat([]byte("k"), n), nil)); err == nil {
			t.Fatalf("a gate with a %d-byte cursor key was built", n)
		}
	}
	if _, err := gate.New(config(bytes.Repeat([]byte("k"), 32), nil)); err != nil {
		t.Fatalf("a 32-byte cursor key: %v", err)
	}

	w.pending(dbURI)
	w.pending(otherURI)
	admin := w.as("admin")
	list := func(g *gate.Gate, cursor string) (string, error) {
		items, page, err := g.ListApprovals(ctx, admin, gate.ApprovalQuery{Limit: 1, Cursor: cursor})
		if err != nil && (items != nil || page.Cursor != "") {
			t.Fatalf("refused listing returned %d items, cursor %q", len(items), page.Cursor)
		}
		return page.Cursor, err
	}
	cases := []struct {
		name string
		src  cursorKey
		code vsecure.Code
	}{
		{"source_key_of_32_bytes", cursorKey{key: bytes.Repeat([]byte("s"), 32)}, ""},
		{"source_key_of_31_bytes", cursorKey{key: bytes.Repeat([]byte("s"), 31)}, vsecure.EInternal},
		{"source_fails", cursorKey{err: errors.New("secrets manager: access denied")}, vsecure.EInternal},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g, err := gate.New(config(nil, tc.src))
			if err != nil {
				t.Fatal(err)
			}
			before := len(w.refusals(vsecure.AuditListApprovals))
			cursor, err := list(g, "")
			want(t, err, tc.code, "first page")
			if tc.code != "" {
				if n := len(w.refusals(vsecure.AuditListApprovals)); n != before+1 {
					t.Fatalf("%d refused listings audited, want %d", n, before+1)
				}
				return
			}
			if cursor == "" {
				t.Fatal("no cursor after the first of two approvals")
			}
			if _, err := list(g, cursor); err != nil {
				t.Fatalf("second page under the key that signed the cursor: %v", err)
			}
			_, err = list(w.g, cursor)
			want(t, err, vsecure.EInvalid, "the cursor under another key")
		})
	}
}

// refusals are the refused calls of op.
func (w *world) refusals(op string) []vsecure.Entry {
	w.t.Helper()
	es, _, err := w.st.Store.QueryAudit(w.t.Context(), vsecure.AuditFilter{Operation: op, Success: ptr(false)}, "", 100)
	if err != nil {
		w.t.Fatal(err)
	}
	return es
}
