package cryptotest

import (
	"bytes"
	"encoding/base64"
	"maps"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/auditlog"
)

// RunMACKeys exercises an auditlog.MACKeys implementation: fresh keys per
// epoch, round trips, and wrapped keys that do not open anywhere else.
func RunMACKeys(t *testing.T, m auditlog.MACKeys) {
	ctx := t.Context()
	newKey := func(t *testing.T, epoch string) ([]byte, []byte, string) {
		t.Helper()
		k, w, id, err := m.NewMACKey(ctx, epoch)
		if err != nil {
			t.Fatalf("NewMACKey: %v", err)
		}
		if len(k) != 32 || len(w) == 0 || id == "" {
			t.Fatalf("NewMACKey = %d-byte key, %d-byte wrapped, id %q", len(k), len(w), id)
		}
		return k, w, id
	}
	t.Run("fresh_keys_differ", func(t *testing.T) {
		a, wa, _ := newKey(t, "ep_a")
		b, wb, _ := newKey(t, "ep_a")
		if bytes.Equal(a, b) || bytes.Equal(wa, wb) {
			t.Fatal("two new keys are equal")
		}
		if bytes.Contains(wa, a) {
			t.Fatal("the key is visible in its wrapped form")
		}
	})
	t.Run("round_trip", func(t *testing.T) {
		k, w, id := newKey(t, "ep_round")
		got, err := m.OpenMACKey(ctx, "ep_round", w, id)
		if err != nil || !bytes.Equal(got, k) {
			t.Fatalf("OpenMACKey = %x, %v; want the key", got, err)
		}
	})
	t.Run("wrong_epoch_refused", func(t *testing.T) {
		_, w, id := newKey(t, "ep_one")
		if _, err := m.OpenMACKey(ctx, "ep_two", w, id); err == nil {
			t.Fatal("opened under another epoch")
		}
	})
	// A changed wrapped key must not open to a key: except that a KMS blob
	// carries an unauthenticated key-id header that a Decrypt naming its
	// key may ignore (local-kms does), so a flip there may give back the
	// same key. That is harmless: the opening entry is sealed with the
	// key it carries, so its changed metadata fails its own MAC.
	t.Run("tampered_wrapped_key_refused", func(t *testing.T) {
		k, w, id := newKey(t, "ep_tamper")
		for i := range w {
			c := bytes.Clone(w)
			c[i] ^= 1
			got, err := m.OpenMACKey(ctx, "ep_tamper", c, id)
			if err == nil && !bytes.Equal(got, k) {
				t.Fatalf("byte %d of the wrapped key flipped: opened to another key", i)
			}
		}
		if _, err := m.OpenMACKey(ctx, "ep_tamper", w[:len(w)-1], id); err == nil {
			t.Fatal("opened a truncated wrapped key")
		}
		if _, err := m.OpenMACKey(ctx, "ep_tamper", nil, id); err == nil {
			t.Fatal("opened a missing wrapped key")
		}
	})
	t.Run("usable_by_auditlog", func(t *testing.T) {
		k, e, err := auditlog.Open(ctx, m, "ep_use", "log_x", "test", timeZero, nil)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := k.Seal(auditlog.Head{Epoch: "ep_use"}, e)
		v, err := auditlog.OpenFromEntry(ctx, m, e)
		if err != nil || !v.Check(e, s) {
			t.Fatalf("verifier key from the opening entry: %v", err)
		}
		// The opening entry's MAC covers its wrapped key.
		w, _ := base64.StdEncoding.DecodeString(e.Metadata[auditlog.MetaWrappedKey])
		w[len(w)-1] ^= 1
		changed := e
		changed.Metadata = maps.Clone(e.Metadata)
		changed.Metadata[auditlog.MetaWrappedKey] = base64.StdEncoding.EncodeToString(w)
		if v.Check(changed, s) {
			t.Fatal("an opening entry with a changed wrapped key still checks")
		}
	})
}

var timeZero = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
