package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/digest"
)

// offlineResult is an offline report and the key it trusted.
type offlineResult struct {
	digest.Report
	key api.TrustedKey
}

// offlineVerify checks exp against the PKIX DER public key der: the key's
// own signature checks only, no server, no store.
func offlineVerify(ctx context.Context, exp *digest.Export, der []byte) (offlineResult, error) {
	pub, err := digest.ParsePublicKey(base64.StdEncoding.EncodeToString(der))
	if err != nil {
		return offlineResult{}, err
	}
	// A KMS key's id is its ARN, which its public key does not carry: name
	// it by the hash of its DER instead.
	id := pub.KeyID()
	if id == "" {
		sum := sha256.Sum256(der)
		id = "sha256:" + hex.EncodeToString(sum[:8])
	}
	rep, err := digest.VerifyOffline(ctx, exp, pub)
	if err != nil {
		return offlineResult{}, err
	}
	return offlineResult{Report: rep, key: api.TrustedKey{KeyID: id, Algorithm: pub.Algorithm(), PublicKey: der}}, nil
}
