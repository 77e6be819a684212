package vsecure

import (
	"context"
	"time"
)

// Secret is the head record of a secret: descriptive fields, the number of
// its latest version and access statistics. Values live sealed in each
// SecretVersion.
type Secret struct {
	URI         string            `json:"uri"`
	Name        string            `json:"name,omitempty"`
	Description string            `json:"description,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	Version     int               `json:"version"`
	CreatedAt   time.Time         `json:"createdAt"`
	UpdatedAt   time.Time         `json:"updatedAt"`
	UpdatedBy   string            `json:"updatedBy,omitempty"`
	AccessCount int64             `json:"accessCount"`
	AccessedAt  *time.Time        `json:"accessedAt,omitempty"`
}

// SecretVersion is one immutable sealed value of a secret.
type SecretVersion struct {
	URI       string    `json:"uri"`
	Version   int       `json:"version"`
	Sealed    Sealed    `json:"sealed"`
	CreatedAt time.Time `json:"createdAt"`
	CreatedBy string    `json:"createdBy,omitempty"`
}

// MaxSecretBytes bounds a secret value.
const MaxSecretBytes = 32 << 10

// Sealed is an envelope-encrypted value: a per-version data key wrapped by
// the key-encryption key (KMS or local master key) and the AES-256-GCM
// ciphertext of the value under that data key.
type Sealed struct {
	KeyID      string `json:"keyId"`
	WrappedKey []byte `json:"wrappedKey"`
	Nonce      []byte `json:"nonce"`
	Ciphertext []byte `json:"ciphertext"`
}

// SealContext binds a ciphertext to where it belongs: moving it to another
// URI or version makes it fail to open.
type SealContext struct {
	URI     string
	Version int
}

// Sealer envelope-encrypts secret values. Open never returns a wrong value:
// any tampering or a mismatched context is an error.
type Sealer interface {
	Seal(ctx context.Context, plaintext []byte, sc SealContext) (Sealed, error)
	Open(ctx context.Context, s Sealed, sc SealContext) ([]byte, error)
}
