package kms_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/vsecure/vsecure/internal/testclock"
	"github.com/vsecure/vsecure/shared/crypto/cryptotest"
	"github.com/vsecure/vsecure/shared/crypto/kms"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// countingClient counts the Decrypt calls that reach local-kms.
type countingClient struct {
	*awskms.Client
	decrypts atomic.Int64
}

func (c *countingClient) Decrypt(ctx context.Context, in *awskms.DecryptInput, opts ...func(*awskms.Options)) (*awskms.DecryptOutput, error) {
	c.decrypts.Add(1)
	return c.Client.Decrypt(ctx, in, opts...)
}

func TestDataKeyCache(t *testing.T) {
	c, key := client(t)
	cc := &countingClient{Client: c}
	clk := testclock.New(time.Unix(1_700_000_000, 0))
	s, err := kms.New(cc, key, kms.WithDataKeyCache(5*time.Minute, 2, clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("conformance_with_the_cache_on", func(t *testing.T) { cryptotest.Run(t, s) })

	sc := vsecure.SealContext{URI: "vsecure://secrets/prod/DB", Version: 1}
	sd, err := s.Seal(t.Context(), []byte("value"), sc)
	if err != nil {
		t.Fatal(err)
	}
	open := func() {
		t.Helper()
		pt, err := s.Open(t.Context(), sd, sc)
		if err != nil || string(pt) != "value" {
			t.Fatalf("Open = %q, %v", pt, err)
		}
	}
	cc.decrypts.Store(0)
	t.Run("warm_reads_skip_kms", func(t *testing.T) {
		for range 5 {
			open()
		}
		if n := cc.decrypts.Load(); n != 1 {
			t.Fatalf("%d Decrypt calls for 5 opens, want 1", n)
		}
	})
	t.Run("entries_expire", func(t *testing.T) {
		clk.Advance(5 * time.Minute)
		open()
		if n := cc.decrypts.Load(); n != 2 {
			t.Fatalf("%d Decrypt calls after the ttl, want 2", n)
		}
	})
	t.Run("another_context_misses_and_is_refused", func(t *testing.T) {
		if _, err := s.Open(t.Context(), sd, vsecure.SealContext{URI: sc.URI, Version: 2}); err == nil {
			t.Fatal("opened under another version with a warm cache")
		}
		if n := cc.decrypts.Load(); n != 3 {
			t.Fatalf("%d Decrypt calls, want the moved envelope to go to KMS (3)", n)
		}
	})
	t.Run("tampered_ciphertext_fails_with_a_cached_key", func(t *testing.T) {
		m := sd
		m.Ciphertext = append([]byte(nil), sd.Ciphertext...)
		m.Ciphertext[0] ^= 1
		if _, err := s.Open(t.Context(), m, sc); err == nil {
			t.Fatal("tampered ciphertext opened")
		}
	})
	t.Run("bounded", func(t *testing.T) {
		for v := 10; v < 14; v++ {
			other := vsecure.SealContext{URI: sc.URI, Version: v}
			o, err := s.Seal(t.Context(), []byte("x"), other)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Open(t.Context(), o, other); err != nil {
				t.Fatal(err)
			}
		}
		before := cc.decrypts.Load()
		open() // evicted by the four newer keys (max 2)
		if cc.decrypts.Load() != before+1 {
			t.Fatal("the oldest entry survived beyond the cache bound")
		}
	})
}
