package kms

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/vsecure/vsecure/shared/crypto"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// EpochContext is the encryption context an audit epoch's MAC key is
// bound to, so that KMS (and CloudTrail) tie each Decrypt to one epoch.
const EpochContext = "vsecure:audit-epoch"

// MACKeys makes audit MAC keys with GenerateDataKey on a dedicated key.
// The store's writers are granted only kms:GenerateDataKey on it: they get
// the key in clear once, at the start of their epoch, and cannot unwrap any
// other; only the verifying functions may Decrypt.
type MACKeys struct {
	client Client
	keyID  string
}

// NewMACKeys returns MACKeys generating data keys under keyID.
func NewMACKeys(client Client, keyID string) (*MACKeys, error) {
	if client == nil || keyID == "" {
		return nil, errors.New("kms: client and audit key id are required")
	}
	return &MACKeys{client: client, keyID: keyID}, nil
}

// NewMACKey returns a fresh AES-256 data key for epoch, its KMS ciphertext
// blob and the ARN of the key that wrapped it.
func (m *MACKeys) NewMACKey(ctx context.Context, epoch string) ([]byte, []byte, string, error) {
	out, err := m.client.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId:             aws.String(m.keyID),
		KeySpec:           types.DataKeySpecAes256,
		EncryptionContext: map[string]string{EpochContext: epoch},
	})
	if err != nil {
		return nil, nil, "", kmsError(err, "generate audit MAC key")
	}
	if len(out.Plaintext) != 32 || len(out.CiphertextBlob) == 0 {
		clear(out.Plaintext)
		return nil, nil, "", vsecure.Wrap(vsecure.EInternal, fmt.Errorf("kms returned a %d-byte data key", len(out.Plaintext)), "audit MAC key")
	}
	return out.Plaintext, out.CiphertextBlob, aws.ToString(out.KeyId), nil
}

// OpenMACKey asks KMS to unwrap a key of epoch; KMS refuses another
// epoch's context, another key, or a changed blob.
func (m *MACKeys) OpenMACKey(ctx context.Context, epoch string, wrapped []byte, keyID string) ([]byte, error) {
	if keyID == "" || len(wrapped) == 0 {
		return nil, crypto.OpenFailed(errors.New("audit MAC key has no wrapped key"))
	}
	out, err := m.client.Decrypt(ctx, &kms.DecryptInput{
		CiphertextBlob:    wrapped,
		KeyId:             aws.String(keyID),
		EncryptionContext: map[string]string{EpochContext: epoch},
	})
	if err != nil {
		return nil, kmsError(err, "decrypt audit MAC key")
	}
	if len(out.Plaintext) != 32 {
		clear(out.Plaintext)
		return nil, crypto.OpenFailed(fmt.Errorf("audit MAC key has %d bytes", len(out.Plaintext)))
	}
	return out.Plaintext, nil
}
