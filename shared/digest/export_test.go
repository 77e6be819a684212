package digest_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/digest"
)

func TestExportRoundTrip(t *testing.T) {
	f := newFixture(t)
	f.t = t
	f.w.append(30, 5*time.Second)
	f.seal()
	exp := f.export()
	var b bytes.Buffer
	if err := digest.WriteExport(&b, exp); err != nil {
		t.Fatal(err)
	}
	if first, _, _ := strings.Cut(b.String(), "\n"); !strings.HasPrefix(first, `{"export":{`) {
		t.Fatalf("first line %s", first)
	}
	got, err := digest.ReadExport(&b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Records, exp.Records) || len(got.Digests) != len(exp.Digests) || !got.Header.ExportedAt.Equal(exp.Header.ExportedAt) {
		t.Fatalf("round trip changed the export: %d records, %d digests", len(got.Records), len(got.Digests))
	}
	pub, _ := digest.ParsePublicKey(f.signer.PublicKeyBase64())
	r, err := digest.VerifyOffline(t.Context(), got, pub)
	if err != nil || !r.OK() || r.Entries != 31 || r.Digests == 0 {
		t.Fatalf("offline verify of the read export: %+v %v", r, err)
	}
	// Another key refuses every digest.
	other, _ := digest.ParsePublicKey(base64.StdEncoding.EncodeToString(make([]byte, 32)))
	r, _ = digest.VerifyOffline(t.Context(), got, other)
	bad := 0
	for _, x := range r.Findings {
		if x.Kind == digest.BadSignature {
			bad++
		}
	}
	if bad != r.Digests || bad == 0 {
		t.Fatalf("another key: %d bad signatures of %d digests: %+v", bad, r.Digests, r.Findings)
	}
}

func TestReadExportRefusesMalformed(t *testing.T) {
	for name, in := range map[string]string{
		"empty":             "",
		"no header":         `{"record":{"key":"a","entry":{"id":"a"}}}` + "\n",
		"header not first":  `{"digest":{"version":2}}` + "\n" + `{"export":{}}` + "\n",
		"neither":           `{"export":{"exportedAt":"2026-03-02T09:00:00Z"}}` + "\n" + `{"other":1}` + "\n",
		"not JSON":          `{"export":{"exportedAt":"2026-03-02T09:00:00Z"}}` + "\n" + "garbage\n",
		"truncated record":  `{"export":{"exportedAt":"2026-03-02T09:00:00Z"}}` + "\n" + `{"record":{"key":"a"`,
		"empty header only": `{"export":{}}` + "\n",
	} {
		if _, err := digest.ReadExport(strings.NewReader(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := digest.VerifyOffline(t.Context(), nil, nil); err == nil {
		t.Error("VerifyOffline without an export or key: accepted")
	}
}

// ecSigner signs as KMS does: ECDSA P-256, ASN.1, over SHA-256.
type ecSigner struct{ k *ecdsa.PrivateKey }

func (s ecSigner) KeyID() string     { return "arn:aws:kms:us-east-1:111122223333:key/test" }
func (s ecSigner) Algorithm() string { return "ECDSA_SHA_256" }
func (s ecSigner) Sign(_ context.Context, msg []byte) ([]byte, error) {
	sum := sha256.Sum256(msg)
	return ecdsa.SignASN1(rand.Reader, s.k, sum[:])
}
func (s ecSigner) Verify(_ context.Context, msg, sig []byte) error { return nil } // the sealer only signs

func pemOf(t *testing.T, pub any) (pemText, b64 string) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), base64.StdEncoding.EncodeToString(der)
}

func TestParsePublicKey(t *testing.T) {
	f := newFixture(t)
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	edPEM, edB64 := pemOf(t, edPub)
	msg := []byte("digest bytes")
	edSig := ed25519.Sign(edPriv, msg)
	raw := base64.StdEncoding.EncodeToString(edPub)
	for name, s := range map[string]string{"raw base64": raw, "PEM": edPEM, "PKIX base64": edB64, "PEM with spaces": "\n  " + edPEM + "\n"} {
		k, err := digest.ParsePublicKey(s)
		if err != nil {
			t.Fatalf("Ed25519 %s: %v", name, err)
		}
		if k.Algorithm() != "Ed25519" || k.Verify(t.Context(), msg, edSig) != nil || k.Verify(t.Context(), []byte("other"), edSig) == nil {
			t.Fatalf("Ed25519 %s: does not verify exactly its signatures", name)
		}
	}
	// The id of an Ed25519 key is the one the local signer records.
	if k, _ := digest.ParsePublicKey(f.signer.PublicKeyBase64()); k.KeyID() != f.signer.KeyID() {
		t.Fatalf("key id %s, the signer's is %s", k.KeyID(), f.signer.KeyID())
	}

	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecPEM, ecB64 := pemOf(t, &ec.PublicKey)
	sum := sha256.Sum256(msg)
	ecSig, _ := ecdsa.SignASN1(rand.Reader, ec, sum[:])
	for name, s := range map[string]string{"PEM": ecPEM, "PKIX base64": ecB64} {
		k, err := digest.ParsePublicKey(s)
		if err != nil {
			t.Fatalf("ECDSA %s: %v", name, err)
		}
		if k.Algorithm() != "ECDSA_SHA_256" || k.KeyID() != "" || k.Verify(t.Context(), msg, ecSig) != nil || k.Verify(t.Context(), []byte("other"), ecSig) == nil {
			t.Fatalf("ECDSA %s: does not verify exactly its signatures", name)
		}
	}

	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384PEM, _ := pemOf(t, &p384.PublicKey)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsaPEM, _ := pemOf(t, &rsaKey.PublicKey)
	for name, s := range map[string]string{"P-384": p384PEM, "RSA": rsaPEM, "not a key": "hello", "short raw": base64.StdEncoding.EncodeToString(make([]byte, 16)), "empty": ""} {
		if _, err := digest.ParsePublicKey(s); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}

	// Digests signed by a KMS-style ECDSA key verify offline with its
	// public key, and not with another's.
	f.t = t
	f.w.append(20, 5*time.Second)
	cfg := f.cfg()
	cfg.Signer = ecSigner{ec}
	s, _ := digest.NewSealer(cfg)
	if _, err := s.Seal(t.Context()); err != nil {
		t.Fatal(err)
	}
	k, _ := digest.ParsePublicKey(ecPEM)
	exp := f.export()
	if r, err := digest.VerifyOffline(t.Context(), exp, k); err != nil || !r.OK() || r.Digests == 0 {
		t.Fatalf("ECDSA offline: %+v %v", r.Findings, err)
	}
	ec2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := pemOf(t, &ec2.PublicKey)
	k2, _ := digest.ParsePublicKey(other)
	if r, _ := digest.VerifyOffline(t.Context(), exp, k2); r.OK() || r.Findings[0].Kind != digest.BadSignature {
		t.Fatalf("another ECDSA key: %+v", r.Findings)
	}
}
