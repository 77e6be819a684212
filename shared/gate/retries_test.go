package gate_test

import (
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// TestLostRacesAreBounded: a conditional write that loses to a concurrent
// writer is tried again on a fresh read, a bounded number of times (one
// try and 8 retries; 32 for a capped read's spend, 5 for a secret write),
// and then refused as conflict, audited (a call's refusal). A write that loses once and then
// wins succeeds.
func TestLostRacesAreBounded(t *testing.T) {
	cases := []struct {
		name, op, actor string
		tries           int32
		// prepare sets the world up and returns the call that races.
		prepare func(w *world) func() error
	}{
		{"decide", vsecure.AuditApprove, "alice", 9, func(w *world) func() error {
			id := w.pending(dbURI)
			return func() error { _, err := w.decide("alice", id, "approve"); return err }
		}},
		{"revoke", vsecure.AuditRevoke, "alice", 9, func(w *world) func() error {
			id, _ := w.approved()
			return func() error { _, err := w.g.Revoke(w.t.Context(), w.as("alice"), id); return err }
		}},
		{"cancel", vsecure.AuditCancel, "ai-agent-123", 9, func(w *world) func() error {
			id := w.pending(dbURI)
			return func() error { _, err := w.g.Cancel(w.t.Context(), w.as("ai-agent-123"), id); return err }
		}},
		// The workflow's expiry audits what it changed, not a lost race.
		{"expire", "", "", 9, func(w *world) func() error {
			id := w.pending(dbURI)
			w.clock.Advance(time.Duration(vsecure.DefaultTTL) * time.Second)
			return func() error { _, err := w.g.Expire(w.t.Context(), id); return err }
		}},
		{"key_revoke", vsecure.AuditKeyRevoke, "admin", 9, func(w *world) func() error {
			return func() error { _, err := w.g.RevokeKey(w.t.Context(), w.as("admin"), w.keys["carol"].ID); return err }
		}},
		{"key_update", vsecure.AuditKeyUpdate, "admin", 9, func(w *world) func() error {
			return func() error {
				_, err := w.g.UpdateKey(w.t.Context(), w.as("admin"), w.keys["carol"].ID, api.KeyUpdateRequest{SlackUserID: ptr("U012AB3CD")})
				return err
			}
		}},
		{"key_rotate", vsecure.AuditKeyRotate, "admin", 9, func(w *world) func() error {
			return func() error {
				_, err := w.g.RotateKey(w.t.Context(), w.as("admin"), w.keys["carol"].ID, api.RotateRequest{})
				return err
			}
		}},
		{"capped_read", vsecure.AuditRead, "ai-agent-123", 33, func(w *world) func() error {
			if a, err := w.request("ai-agent-123", onceURI, "read", nil); err != nil || a.Status != vsecure.StatusApproved {
				w.t.Fatalf("request: %v (status %q)", err, a.Status)
			}
			return func() error { _, err := w.read(w.as("ai-agent-123"), onceURI); return err }
		}},
		{"capped_use", vsecure.AuditUse, "ai-agent-123", 33, func(w *world) func() error {
			if a, err := w.request("ai-agent-123", onceURI, "read", nil); err != nil || a.Status != vsecure.StatusApproved {
				w.t.Fatalf("request: %v (status %q)", err, a.Status)
			}
			return func() error { _, err := w.use(w.as("ai-agent-123"), onceURI); return err }
		}},
		{"secret_write", vsecure.AuditWrite, "admin", 6, func(w *world) func() error {
			return func() error { _, err := w.write(w.as("admin"), stagingURI, "next"); return err }
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := useWorld(t)
			call := tc.prepare(w)
			w.st.lose.Store(1000)
			want(t, call(), vsecure.EConflict, tc.name+" losing every race")
			if n := w.st.lost.Load(); n != tc.tries {
				t.Fatalf("%s tried its write %d times, want %d", tc.name, n, tc.tries)
			}
			if tc.op == "" {
				return
			}
			if e := w.refusal(tc.op, tc.actor); e.Error != string(vsecure.EConflict) {
				t.Fatalf("refusal entry %+v, want error conflict", e)
			}
		})
		t.Run(tc.name+"/lost_once", func(t *testing.T) {
			w := useWorld(t)
			call := tc.prepare(w)
			w.st.lose.Store(1)
			want(t, call(), "", tc.name+" after losing one race")
			if n := w.st.lost.Load(); n != 1 {
				t.Fatalf("%s lost %d races, want 1", tc.name, n)
			}
		})
	}
}
