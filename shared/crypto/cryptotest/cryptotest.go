// Package cryptotest is the conformance suite every vsecure.Sealer passes:
// round trips, and every kind of tampering or misplacement failing loudly.
package cryptotest

import (
	"bytes"
	"testing"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// Run exercises s.
func Run(t *testing.T, s vsecure.Sealer) {
	ctx := t.Context()
	sc := vsecure.SealContext{URI: "vsecure://secrets/production/DATABASE_URL", Version: 3}
	value := []byte("postgresql://app:s3cret@db:5432/app")

	seal := func(t *testing.T) vsecure.Sealed {
		t.Helper()
		sd, err := s.Seal(ctx, value, sc)
		if err != nil {
			t.Fatalf("Seal: %v", err)
		}
		return sd
	}

	t.Run("round_trip", func(t *testing.T) {
		sd := seal(t)
		got, err := s.Open(ctx, sd, sc)
		if err != nil || !bytes.Equal(got, value) {
			t.Fatalf("Open = %q, %v; want the value", got, err)
		}
		if bytes.Contains(sd.Ciphertext, value) || bytes.Contains(sd.WrappedKey, value) {
			t.Fatal("plaintext visible in sealed form")
		}
	})
	t.Run("empty_value_round_trips", func(t *testing.T) {
		sd, err := s.Seal(ctx, nil, sc)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Open(ctx, sd, sc)
		if err != nil || len(got) != 0 {
			t.Fatalf("Open = %q, %v", got, err)
		}
	})
	t.Run("fresh_data_key_and_nonce_per_seal", func(t *testing.T) {
		a, b := seal(t), seal(t)
		if bytes.Equal(a.WrappedKey, b.WrappedKey) || bytes.Equal(a.Nonce, b.Nonce) || bytes.Equal(a.Ciphertext, b.Ciphertext) {
			t.Fatal("two seals of one value share key, nonce or ciphertext")
		}
	})
	t.Run("moved_to_other_uri_fails", func(t *testing.T) {
		sd := seal(t)
		if _, err := s.Open(ctx, sd, vsecure.SealContext{URI: "vsecure://secrets/staging/DATABASE_URL", Version: 3}); err == nil {
			t.Fatal("opened under another URI")
		}
	})
	t.Run("moved_to_other_version_fails", func(t *testing.T) {
		sd := seal(t)
		if _, err := s.Open(ctx, sd, vsecure.SealContext{URI: sc.URI, Version: 4}); err == nil {
			t.Fatal("opened under another version")
		}
	})
	flip := func(b []byte, i int) []byte {
		c := append([]byte(nil), b...)
		c[i] ^= 0x01
		return c
	}
	t.Run("any_flipped_byte_fails", func(t *testing.T) {
		sd := seal(t)
		for i := range sd.Ciphertext {
			m := sd
			m.Ciphertext = flip(sd.Ciphertext, i)
			if _, err := s.Open(ctx, m, sc); err == nil {
				t.Fatalf("ciphertext byte %d flipped: opened", i)
			}
		}
		for i := range sd.Nonce {
			m := sd
			m.Nonce = flip(sd.Nonce, i)
			if _, err := s.Open(ctx, m, sc); err == nil {
				t.Fatalf("nonce byte %d flipped: opened", i)
			}
		}
		for i := range sd.WrappedKey {
			m := sd
			m.WrappedKey = flip(sd.WrappedKey, i)
			if _, err := s.Open(ctx, m, sc); err == nil {
				t.Fatalf("wrapped key byte %d flipped: opened", i)
			}
		}
	})
	t.Run("truncated_fails", func(t *testing.T) {
		sd := seal(t)
		m := sd
		m.Ciphertext = sd.Ciphertext[:len(sd.Ciphertext)-1]
		if _, err := s.Open(ctx, m, sc); err == nil {
			t.Fatal("truncated ciphertext opened")
		}
		m = sd
		m.WrappedKey = nil
		if _, err := s.Open(ctx, m, sc); err == nil {
			t.Fatal("missing wrapped key opened")
		}
	})
	t.Run("error_never_contains_value", func(t *testing.T) {
		sd := seal(t)
		sd.Ciphertext = flip(sd.Ciphertext, 0)
		_, err := s.Open(ctx, sd, sc)
		if err == nil || bytes.Contains([]byte(err.Error()), value) {
			t.Fatalf("err = %v", err)
		}
	})
}
