package kms_test

import (
	"context"
	"crypto/sha256"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/vsecure/vsecure/shared/crypto/cryptotest"
	"github.com/vsecure/vsecure/shared/crypto/kms"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// client talks to local-kms; .ci/emulators.sh exports its endpoint.
func client(t *testing.T) (*awskms.Client, string) {
	t.Helper()
	ep := os.Getenv("VSECURE_TEST_KMS_ENDPOINT")
	key := os.Getenv("VSECURE_TEST_KMS_KEY_ID")
	if ep == "" || key == "" {
		t.Fatal("VSECURE_TEST_KMS_ENDPOINT and VSECURE_TEST_KMS_KEY_ID are not set: run the tests with `make test` " +
			"or `.ci/emulators.sh run go test ./...`, which start local-kms")
	}
	c := awskms.New(awskms.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(ep),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	return c, key
}

func TestConformance(t *testing.T) {
	c, key := client(t)
	s, err := kms.New(c, key)
	if err != nil {
		t.Fatal(err)
	}
	cryptotest.Run(t, s)
}

func TestEncryptionContext(t *testing.T) {
	c, key := client(t)
	s, _ := kms.New(c, key)
	sc := vsecure.SealContext{URI: "vsecure://secrets/dev/X", Version: 2}
	sd, err := s.Seal(t.Context(), []byte("v"), sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("kms_refuses_the_data_key_under_another_context", func(t *testing.T) {
		// Ask KMS directly, bypassing the local AAD check: the wrapped key
		// itself is bound to the URI and version.
		_, err := c.Decrypt(t.Context(), &awskms.DecryptInput{
			CiphertextBlob:    sd.WrappedKey,
			EncryptionContext: kms.EncryptionContext(vsecure.SealContext{URI: sc.URI, Version: 3}),
		})
		if err == nil {
			t.Fatal("KMS unwrapped the data key under another version's context")
		}
	})
	t.Run("unreachable_kms_is_unavailable", func(t *testing.T) {
		dead := awskms.New(awskms.Options{
			Region: "us-east-1", BaseEndpoint: aws.String("http://127.0.0.1:1"),
			Credentials:      credentials.NewStaticCredentialsProvider("test", "test", ""),
			RetryMaxAttempts: 1,
		})
		s, _ := kms.New(dead, key)
		_, err := s.Open(context.Background(), sd, sc)
		if !vsecure.IsCode(err, vsecure.EUnavailable) {
			t.Fatalf("err = %v, want unavailable", err)
		}
	})
}

// signingKey creates an ECC_NIST_P256 SIGN_VERIFY key in local-kms.
func signingKey(t *testing.T, c *awskms.Client) string {
	t.Helper()
	out, err := c.CreateKey(t.Context(), &awskms.CreateKeyInput{
		KeySpec:  kmstypes.KeySpecEccNistP256,
		KeyUsage: kmstypes.KeyUsageTypeSignVerify,
	})
	if err != nil {
		t.Fatalf("CreateKey ECC_NIST_P256: %v", err)
	}
	return aws.ToString(out.KeyMetadata.Arn)
}

func TestSignerConformance(t *testing.T) {
	c, _ := client(t)
	a, err := kms.NewSigner(c, signingKey(t, c))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := kms.NewSigner(c, signingKey(t, c))
	cryptotest.RunSigner(t, a, b)
}

// TestSignerMatchesKMSVerify checks the local verification against KMS's
// own Verify, so a signature this package accepts is one KMS accepts.
func TestSignerMatchesKMSVerify(t *testing.T) {
	c, _ := client(t)
	key := signingKey(t, c)
	s, _ := kms.NewSigner(c, key)
	msg := []byte("digest bytes")
	sig, err := s.Sign(t.Context(), msg)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(msg)
	out, err := c.Verify(t.Context(), &awskms.VerifyInput{
		KeyId: aws.String(key), Message: sum[:], MessageType: kmstypes.MessageTypeDigest,
		Signature: sig, SigningAlgorithm: kmstypes.SigningAlgorithmSpecEcdsaSha256,
	})
	if err != nil || !out.SignatureValid {
		t.Fatalf("KMS Verify = %v, %v", out, err)
	}
}

func TestMACKeysConformance(t *testing.T) {
	c, key := client(t)
	m, err := kms.NewMACKeys(c, key)
	if err != nil {
		t.Fatal(err)
	}
	cryptotest.RunMACKeys(t, m)
}
