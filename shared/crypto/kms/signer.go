package kms

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// SignerClient is the part of the KMS API the digest signer uses.
type SignerClient interface {
	Sign(ctx context.Context, in *kms.SignInput, opts ...func(*kms.Options)) (*kms.SignOutput, error)
	GetPublicKey(ctx context.Context, in *kms.GetPublicKeyInput, opts ...func(*kms.Options)) (*kms.GetPublicKeyOutput, error)
}

// Signer signs audit digests with a KMS asymmetric key (key spec
// ECC_NIST_P256, usage SIGN_VERIFY): the private key never leaves KMS, so
// not even the account's administrators can forge a digest without a
// CloudTrail record of the kms:Sign. Digests are larger than KMS's 4 KB
// raw-message limit, so their SHA-256 is sent (MessageType DIGEST).
// Signatures are checked locally against the public key, fetched once:
// verifying needs only kms:GetPublicKey.
type Signer struct {
	client SignerClient
	keyID  string

	mu  sync.Mutex
	pub *ecdsa.PublicKey
}

// NewSigner returns a signer for keyID (id, ARN or alias).
func NewSigner(client SignerClient, keyID string) (*Signer, error) {
	if client == nil || keyID == "" {
		return nil, errors.New("kms: client and signing key id are required")
	}
	return &Signer{client: client, keyID: keyID}, nil
}

// KeyID is the configured key.
func (s *Signer) KeyID() string { return s.keyID }

// Algorithm is KMS's name for ECDSA P-256 over SHA-256.
func (s *Signer) Algorithm() string { return string(types.SigningAlgorithmSpecEcdsaSha256) }

// Sign asks KMS to sign the SHA-256 of msg.
func (s *Signer) Sign(ctx context.Context, msg []byte) ([]byte, error) {
	sum := sha256.Sum256(msg)
	out, err := s.client.Sign(ctx, &kms.SignInput{
		KeyId:            aws.String(s.keyID),
		Message:          sum[:],
		MessageType:      types.MessageTypeDigest,
		SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256,
	})
	if err != nil {
		return nil, kmsError(err, "sign digest")
	}
	return out.Signature, nil
}

// Verify checks sig (ASN.1 DER, as KMS returns it) over msg.
func (s *Signer) Verify(ctx context.Context, msg, sig []byte) error {
	pub, err := s.publicKey(ctx)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(msg)
	if !ecdsa.VerifyASN1(pub, sum[:], sig) {
		return errors.New("signature does not verify")
	}
	return nil
}

// PublicKey is the key's public half in PKIX DER (fetched once).
func (s *Signer) PublicKey(ctx context.Context) ([]byte, error) {
	pub, err := s.publicKey(ctx)
	if err != nil {
		return nil, err
	}
	return x509.MarshalPKIXPublicKey(pub)
}

func (s *Signer) publicKey(ctx context.Context) (*ecdsa.PublicKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pub != nil {
		return s.pub, nil
	}
	out, err := s.client.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(s.keyID)})
	if err != nil {
		return nil, kmsError(err, "get public key")
	}
	k, err := x509.ParsePKIXPublicKey(out.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("kms: parse public key: %w", err)
	}
	pub, ok := k.(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("kms: signing key %s is %T, want ECDSA P-256", s.keyID, k)
	}
	s.pub = pub
	return pub, nil
}
