// Package kms is the key-encryption adapter for AWS: every secret version
// gets its own 256-bit data key from KMS GenerateDataKey, the value is sealed
// locally with AES-256-GCM (package crypto), and only the KMS-wrapped data
// key is stored. The URI and version are both the GCM associated data and the
// KMS encryption context, so a ciphertext moved to another secret or version
// cannot be opened, and CloudTrail shows which secret each Decrypt was for.
package kms

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/vsecure/vsecure/shared/crypto"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// Client is the part of the KMS API the sealer uses.
type Client interface {
	GenerateDataKey(ctx context.Context, in *kms.GenerateDataKeyInput, opts ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error)
	Decrypt(ctx context.Context, in *kms.DecryptInput, opts ...func(*kms.Options)) (*kms.DecryptOutput, error)
}

// Sealer seals under one KMS key (id, ARN or alias).
type Sealer struct {
	client Client
	keyID  string
	cache  *keyCache
}

// New returns a sealer that generates data keys under keyID.
func New(client Client, keyID string, opts ...Option) (*Sealer, error) {
	if client == nil || keyID == "" {
		return nil, errors.New("kms: client and key id are required")
	}
	s := &Sealer{client: client, keyID: keyID}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// EncryptionContext is what KMS binds a data key to.
func EncryptionContext(sc vsecure.SealContext) map[string]string {
	return map[string]string{"uri": sc.URI, "version": strconv.Itoa(sc.Version)}
}

// Seal encrypts plaintext under a fresh KMS data key.
func (s *Sealer) Seal(ctx context.Context, plaintext []byte, sc vsecure.SealContext) (vsecure.Sealed, error) {
	out, err := s.client.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId:             aws.String(s.keyID),
		KeySpec:           types.DataKeySpecAes256,
		EncryptionContext: EncryptionContext(sc),
	})
	if err != nil {
		return vsecure.Sealed{}, kmsError(err, "generate data key")
	}
	dk := out.Plaintext
	defer clear(dk)
	if len(dk) != 32 || len(out.CiphertextBlob) == 0 {
		return vsecure.Sealed{}, vsecure.Wrap(vsecure.EInternal, fmt.Errorf("kms returned a %d-byte data key", len(dk)), "secret could not be encrypted")
	}
	nonce, ct, err := crypto.SealWithDataKey(dk, plaintext, aad(sc, out.CiphertextBlob))
	if err != nil {
		return vsecure.Sealed{}, vsecure.Wrap(vsecure.EInternal, err, "secret could not be encrypted")
	}
	return vsecure.Sealed{KeyID: aws.ToString(out.KeyId), WrappedKey: out.CiphertextBlob, Nonce: nonce, Ciphertext: ct}, nil
}

// Open asks KMS to unwrap the data key (KMS checks the encryption context)
// and decrypts locally. The key id recorded at seal time is passed to
// Decrypt, so KMS refuses a blob wrapped under any other key.
func (s *Sealer) Open(ctx context.Context, sd vsecure.Sealed, sc vsecure.SealContext) ([]byte, error) {
	if sd.KeyID == "" || len(sd.WrappedKey) == 0 {
		return nil, crypto.OpenFailed(errors.New("sealed value has no wrapped key"))
	}
	ec := EncryptionContext(sc)
	var (
		dk []byte
		id [32]byte
	)
	if s.cache != nil {
		id = cacheID(sd, ec)
		dk = s.cache.get(id)
	}
	if dk == nil {
		out, err := s.client.Decrypt(ctx, &kms.DecryptInput{
			CiphertextBlob:    sd.WrappedKey,
			KeyId:             aws.String(sd.KeyID),
			EncryptionContext: ec,
		})
		if err != nil {
			return nil, kmsError(err, "decrypt data key")
		}
		dk = out.Plaintext
		if len(dk) != 32 {
			clear(dk)
			return nil, crypto.OpenFailed(fmt.Errorf("data key has %d bytes", len(dk)))
		}
		if s.cache != nil {
			s.cache.put(id, dk)
		}
	}
	defer clear(dk)
	pt, err := crypto.OpenWithDataKey(dk, sd.Nonce, sd.Ciphertext, aad(sc, sd.WrappedKey))
	if err != nil {
		return nil, crypto.OpenFailed(err)
	}
	return pt, nil
}

// aad binds the value's ciphertext to its place and to the exact wrapped
// key. KMS ciphertext blobs carry an unauthenticated key-id header that a
// Decrypt naming its key may ignore (local-kms does); binding the whole blob
// here makes any change to it fail the open regardless of the KMS in use.
func aad(sc vsecure.SealContext, wrapped []byte) []byte {
	sum := sha256.Sum256(wrapped)
	return append(crypto.AAD(sc), sum[:]...)
}

// kmsError maps a KMS failure to a domain error without leaking its text:
// a ciphertext KMS rejects is a failed open; throttling, 5xx and network
// errors mean the key service is unavailable (503); anything else (a
// disabled key, missing permission) is an internal error.
func kmsError(err error, op string) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "InvalidCiphertextException", "IncorrectKeyException":
			return crypto.OpenFailed(fmt.Errorf("%s: %w", op, err))
		case "ThrottlingException", "KMSInternalException", "DependencyTimeoutException",
			"LimitExceededException", "RequestLimitExceeded", "ServiceUnavailable":
			return vsecure.Wrap(vsecure.EUnavailable, fmt.Errorf("%s: %w", op, err), "the key service is unavailable")
		}
		if ae.ErrorFault() == smithy.FaultServer {
			return vsecure.Wrap(vsecure.EUnavailable, fmt.Errorf("%s: %w", op, err), "the key service is unavailable")
		}
		return vsecure.Wrap(vsecure.EInternal, fmt.Errorf("%s: %w", op, err), "the key service refused the request")
	}
	if errors.Is(err, context.Canceled) {
		return vsecure.Wrap(vsecure.EInternal, err, "request cancelled")
	}
	// No API answer at all: connection refused, timeout, retries exhausted.
	return vsecure.Wrap(vsecure.EUnavailable, fmt.Errorf("%s: %w", op, err), "the key service is unavailable")
}
