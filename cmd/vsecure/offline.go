package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"

	"github.com/vsecure/vsecure/shared/digest"
	"github.com/vsecure/vsecure/shared/gate"
)

// offlineResult is an offline report and the key it trusted.
type offlineResult struct {
	digest.Report
	key gate.TrustedKey
}

// offlineVerify checks the export in r against the PKIX DER public key
// der: the key's own signature checks only, no server, no store.
func offlineVerify(ctx context.Context, r io.Reader, der []byte) (offlineResult, error) {
	key, err := trustedKeyOf(der)
	if err != nil {
		return offlineResult{}, err
	}
	pub, err := digest.ParsePublicKey(base64.StdEncoding.EncodeToString(der))
	if err != nil {
		return offlineResult{}, err
	}
	exp, err := digest.ReadExport(r)
	if err != nil {
		return offlineResult{}, err
	}
	rep, err := digest.VerifyOffline(ctx, exp, pub)
	if err != nil {
		return offlineResult{}, err
	}
	return offlineResult{Report: rep, key: key}, nil
}

// trustedKeyOf names a public key as the signers do: a local Ed25519 key
// by the hash of its raw bytes (crypto/local), any other by the hash of
// its DER, since a KMS key's ARN cannot be derived from it.
func trustedKeyOf(der []byte) (gate.TrustedKey, error) {
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return gate.TrustedKey{}, fmt.Errorf("not a PKIX public key: %w", err)
	}
	switch k := pub.(type) {
	case ed25519.PublicKey:
		sum := sha256.Sum256(k)
		return gate.TrustedKey{KeyID: "local-ed25519:" + hex.EncodeToString(sum[:8]), Algorithm: "Ed25519", PublicKey: der}, nil
	case *ecdsa.PublicKey:
		sum := sha256.Sum256(der)
		return gate.TrustedKey{KeyID: "sha256:" + hex.EncodeToString(sum[:8]), Algorithm: "ECDSA_SHA_256", PublicKey: der}, nil
	}
	return gate.TrustedKey{}, fmt.Errorf("a %T key cannot sign audit digests (Ed25519 or ECDSA P-256)", pub)
}

func emitJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
