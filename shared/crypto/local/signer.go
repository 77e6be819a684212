package local

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
)

// SigningKeyFile is the name of the audit-digest signing key in the data
// dir: base64 of an Ed25519 seed, mode 0600, like the master key.
const SigningKeyFile = "audit-signing.key"

// Signer signs audit digests with Ed25519.
type Signer struct {
	priv  ed25519.PrivateKey
	pub   ed25519.PublicKey
	keyID string
}

// NewSigner returns a signer for a 32-byte Ed25519 seed.
func NewSigner(seed []byte) (*Signer, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("signing key has %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	sum := sha256.Sum256(pub)
	return &Signer{priv: priv, pub: pub, keyID: "local-ed25519:" + hex.EncodeToString(sum[:8])}, nil
}

// LoadSigner returns the signer of dir/audit-signing.key, creating the key
// (0600) on first use. A key readable by others is refused: whoever can
// read it can forge digests.
func LoadSigner(dir string) (*Signer, error) {
	seed, err := KeyFile(filepath.Join(dir, SigningKeyFile), ed25519.SeedSize, "signing key")
	if err != nil {
		return nil, err
	}
	return NewSigner(seed)
}

// KeyID names the key by its public key's hash.
func (s *Signer) KeyID() string { return s.keyID }

// Algorithm is "Ed25519".
func (s *Signer) Algorithm() string { return "Ed25519" }

// PublicKey is the verification key in PKIX DER, what an auditor is given
// to check an export offline.
func (s *Signer) PublicKey(context.Context) ([]byte, error) { return x509.MarshalPKIXPublicKey(s.pub) }

// Sign signs msg.
func (s *Signer) Sign(_ context.Context, msg []byte) ([]byte, error) {
	return ed25519.Sign(s.priv, msg), nil
}

// Verify checks sig over msg.
func (s *Signer) Verify(_ context.Context, msg, sig []byte) error {
	if !ed25519.Verify(s.pub, msg, sig) {
		return errors.New("signature does not verify")
	}
	return nil
}

// PublicKeyBase64 is the raw public key in base64: what audit:verify
// prints as the key it trusts and --public-key accepts.
func (s *Signer) PublicKeyBase64() string { return base64.StdEncoding.EncodeToString(s.pub) }
