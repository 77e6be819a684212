package cryptotest

import (
	"context"
	"testing"
)

// Signer is what an audit-digest signer offers (digest.Signer).
type Signer interface {
	KeyID() string
	Algorithm() string
	Sign(ctx context.Context, msg []byte) ([]byte, error)
	Verify(ctx context.Context, msg, sig []byte) error
}

// RunSigner is the conformance suite of digest signers: signatures verify,
// and any change to the message or the signature, or a signature by
// another key, does not.
func RunSigner(t *testing.T, s, other Signer) {
	ctx := t.Context()
	msg := []byte(`{"version":1,"from":"2026-03-02T09:00:00Z","count":2}`)
	big := make([]byte, 300<<10) // a full digest is far above KMS's raw-message limit
	for i := range big {
		big[i] = byte(i)
	}
	sign := func(t *testing.T, m []byte) []byte {
		t.Helper()
		sig, err := s.Sign(ctx, m)
		if err != nil || len(sig) == 0 {
			t.Fatalf("Sign = %x, %v", sig, err)
		}
		return sig
	}
	t.Run("names_key_and_algorithm", func(t *testing.T) {
		if s.KeyID() == "" || s.Algorithm() == "" || s.KeyID() == other.KeyID() {
			t.Fatalf("KeyID %q Algorithm %q (other key %q)", s.KeyID(), s.Algorithm(), other.KeyID())
		}
	})
	t.Run("signature_verifies", func(t *testing.T) {
		for _, m := range [][]byte{msg, big, {}} {
			if err := s.Verify(ctx, m, sign(t, m)); err != nil {
				t.Fatalf("Verify of a %d-byte message: %v", len(m), err)
			}
		}
	})
	t.Run("changed_message_fails", func(t *testing.T) {
		sig := sign(t, msg)
		for i := range msg {
			m := append([]byte(nil), msg...)
			m[i] ^= 1
			if s.Verify(ctx, m, sig) == nil {
				t.Fatalf("signature verified with byte %d flipped", i)
			}
		}
	})
	t.Run("changed_signature_fails", func(t *testing.T) {
		sig := sign(t, msg)
		for _, i := range []int{0, len(sig) / 2, len(sig) - 1} {
			bad := append([]byte(nil), sig...)
			bad[i] ^= 0x40
			if s.Verify(ctx, msg, bad) == nil {
				t.Fatalf("signature verified with its byte %d flipped", i)
			}
		}
		if s.Verify(ctx, msg, nil) == nil {
			t.Fatal("empty signature verified")
		}
	})
	t.Run("other_keys_signature_fails", func(t *testing.T) {
		sig, err := other.Sign(ctx, msg)
		if err != nil {
			t.Fatal(err)
		}
		if s.Verify(ctx, msg, sig) == nil {
			t.Fatal("another key's signature verified")
		}
	})
}
