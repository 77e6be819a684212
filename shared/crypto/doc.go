// Package crypto holds the envelope-encryption helpers shared by the
// key-encryption adapters (local master key, AWS KMS): the data-key AEAD and
// the associated data that binds a ciphertext to its URI and version.
package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"strconv"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// AAD is the associated data binding a sealed value to its place.
func AAD(sc vsecure.SealContext) []byte {
	return []byte("vsecure:v1\x00" + sc.URI + "\x00" + strconv.Itoa(sc.Version))
}

// SealWithDataKey encrypts plaintext under a fresh random nonce with the
// 256-bit data key dk.
func SealWithDataKey(dk, plaintext, aad []byte) (nonce, ct []byte, err error) {
	g, err := gcm(dk)
	if err != nil {
		return nil, nil, err
	}
	nonce = make([]byte, g.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, nil, err
	}
	return nonce, g.Seal(nil, nonce, plaintext, aad), nil
}

// OpenWithDataKey decrypts and authenticates; any tampering is an error.
func OpenWithDataKey(dk, nonce, ct, aad []byte) ([]byte, error) {
	g, err := gcm(dk)
	if err != nil {
		return nil, err
	}
	if len(nonce) != g.NonceSize() {
		return nil, fmt.Errorf("nonce has %d bytes", len(nonce))
	}
	return g.Open(nil, nonce, ct, aad)
}

func gcm(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("key has %d bytes, want 32", len(key))
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// OpenFailed is the one error a tampered or misplaced ciphertext yields.
func OpenFailed(err error) error {
	return vsecure.Wrap(vsecure.EInternal, err, "secret could not be decrypted")
}
