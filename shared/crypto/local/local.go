// Package local is the key-encryption adapter for the local server: data
// keys are wrapped with AES-256-GCM under a master key taken from
// VSECURE_MASTER_KEY or a 0600 file in the data directory.
package local

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/vsecure/vsecure/shared/crypto"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// Sealer wraps per-version data keys with a master key.
type Sealer struct {
	master []byte
	keyID  string
}

// New returns a sealer for a 32-byte master key.
func New(master []byte) (*Sealer, error) {
	if len(master) != 32 {
		return nil, fmt.Errorf("master key has %d bytes, want 32", len(master))
	}
	sum := sha256.Sum256(master)
	return &Sealer{master: append([]byte(nil), master...), keyID: "local:" + hex.EncodeToString(sum[:6])}, nil
}

// MasterKeyFile is the name of the generated key file in the data dir.
const MasterKeyFile = "master.key"

// Load returns the master key from env (base64 of 32 bytes) if non-empty,
// else from dir/master.key, creating it with mode 0600 on first use.
func Load(env, dir string) (*Sealer, error) {
	if env != "" {
		k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(env))
		if err != nil || len(k) != 32 {
			return nil, errors.New("VSECURE_MASTER_KEY must be base64 of 32 bytes")
		}
		return New(k)
	}
	k, err := KeyFile(filepath.Join(dir, MasterKeyFile), 32, "master key")
	if err != nil {
		return nil, err
	}
	return New(k)
}

// Seal encrypts plaintext under a fresh data key and wraps the data key.
func (s *Sealer) Seal(_ context.Context, plaintext []byte, sc vsecure.SealContext) (vsecure.Sealed, error) {
	dk := make([]byte, 32)
	if _, err := rand.Read(dk); err != nil {
		return vsecure.Sealed{}, err
	}
	defer clear(dk)
	aad := crypto.AAD(sc)
	nonce, ct, err := crypto.SealWithDataKey(dk, plaintext, aad)
	if err != nil {
		return vsecure.Sealed{}, err
	}
	wnonce, wct, err := crypto.SealWithDataKey(s.master, dk, aad)
	if err != nil {
		return vsecure.Sealed{}, err
	}
	return vsecure.Sealed{KeyID: s.keyID, WrappedKey: append(wnonce, wct...), Nonce: nonce, Ciphertext: ct}, nil
}

// Open unwraps the data key and decrypts; tampering or a moved ciphertext
// fails.
func (s *Sealer) Open(_ context.Context, sd vsecure.Sealed, sc vsecure.SealContext) ([]byte, error) {
	if sd.KeyID != s.keyID {
		return nil, crypto.OpenFailed(fmt.Errorf("sealed under key %q, have %q", sd.KeyID, s.keyID))
	}
	if len(sd.WrappedKey) < 12 {
		return nil, crypto.OpenFailed(errors.New("wrapped key too short"))
	}
	aad := crypto.AAD(sc)
	dk, err := crypto.OpenWithDataKey(s.master, sd.WrappedKey[:12], sd.WrappedKey[12:], aad)
	if err != nil {
		return nil, crypto.OpenFailed(err)
	}
	defer clear(dk)
	pt, err := crypto.OpenWithDataKey(dk, sd.Nonce, sd.Ciphertext, aad)
	if err != nil {
		return nil, crypto.OpenFailed(err)
	}
	return pt, nil
}
