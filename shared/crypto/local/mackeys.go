package local

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/vsecure/vsecure/shared/crypto"
)

// MACKeyFile is the name of the wrapping key of the audit MAC keys in the
// keys directory (outside the data directory).
const MACKeyFile = "audit-mac.key"

// MACKeys wraps each audit epoch's MAC key with AES-256-GCM under a
// wrapping key, the epoch bound in as associated data so that a wrapped
// key moved to another epoch's opening entry does not open.
type MACKeys struct {
	wrap  []byte
	keyID string
}

// NewMACKeys returns MACKeys for a 32-byte wrapping key.
func NewMACKeys(wrap []byte) (*MACKeys, error) {
	if len(wrap) != 32 {
		return nil, fmt.Errorf("audit MAC wrapping key has %d bytes, want 32", len(wrap))
	}
	sum := sha256.Sum256(wrap)
	return &MACKeys{wrap: append([]byte(nil), wrap...), keyID: "local-aes:" + hex.EncodeToString(sum[:6])}, nil
}

// LoadMACKeys returns the MACKeys of dir/audit-mac.key, creating the key
// (0600) on first use.
func LoadMACKeys(dir string) (*MACKeys, error) {
	k, err := KeyFile(filepath.Join(dir, MACKeyFile), 32, "audit MAC key")
	if err != nil {
		return nil, err
	}
	return NewMACKeys(k)
}

// KeyID names the wrapping key by a prefix of its hash.
func (m *MACKeys) KeyID() string { return m.keyID }

func macAAD(epoch string) []byte { return []byte("vsecure-audit-epoch\n" + epoch) }

// NewMACKey returns a fresh key for epoch and the key wrapped (nonce ‖
// ciphertext).
func (m *MACKeys) NewMACKey(_ context.Context, epoch string) ([]byte, []byte, string, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, nil, "", err
	}
	nonce, ct, err := crypto.SealWithDataKey(m.wrap, key, macAAD(epoch))
	if err != nil {
		return nil, nil, "", err
	}
	return key, append(nonce, ct...), m.keyID, nil
}

// OpenMACKey unwraps a key NewMACKey wrapped for epoch.
func (m *MACKeys) OpenMACKey(_ context.Context, epoch string, wrapped []byte, keyID string) ([]byte, error) {
	if keyID != m.keyID {
		return nil, crypto.OpenFailed(fmt.Errorf("audit MAC key wrapped under %q, have %q", keyID, m.keyID))
	}
	if len(wrapped) < 12 {
		return nil, crypto.OpenFailed(errors.New("wrapped audit MAC key too short"))
	}
	key, err := crypto.OpenWithDataKey(m.wrap, wrapped[:12], wrapped[12:], macAAD(epoch))
	if err != nil {
		return nil, crypto.OpenFailed(err)
	}
	return key, nil
}
