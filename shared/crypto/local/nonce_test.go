package local

import (
	"testing"

	"github.com/vsecure/vsecure/shared/crypto"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// TestNoncesAndDataKeysNeverRepeat seals 10^6 values with one master key
// and checks that no AES-GCM nonce repeats under the master key (it wraps
// every data key, so it is the key that sees the most encryptions) and
// that no data key repeats (each version gets its own, so its value nonce
// is used once). Random 96-bit nonces collide with probability about
// n²/2⁹⁷ ≈ 6·10⁻¹⁸ at n = 10⁶; a repeat here means a broken random source
// or a nonce counter bug, both of which GCM does not survive.
//
// Under -race or -short it seals 10^5 (TestOneKeyMillionNonces still does
// 10^6 under one key).
func TestNoncesAndDataKeysNeverRepeat(t *testing.T) {
	n := 1_000_000
	if testing.Short() || raceEnabled {
		n = 100_000
	}
	s, err := New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	sc := vsecure.SealContext{URI: "vsecure://secrets/production/X", Version: 1}
	wrapNonces := make(map[[12]byte]struct{}, n)
	dataKeys := make(map[[32]byte]struct{}, n)
	valueNonces := make(map[[12]byte]struct{}, n)
	for i := range n {
		sd, err := s.Seal(ctx, []byte("v"), sc)
		if err != nil {
			t.Fatal(err)
		}
		wn := [12]byte(sd.WrappedKey[:12])
		if _, dup := wrapNonces[wn]; dup {
			t.Fatalf("seal %d: nonce repeated under the master key", i)
		}
		wrapNonces[wn] = struct{}{}
		dk, err := crypto.OpenWithDataKey(s.master, sd.WrappedKey[:12], sd.WrappedKey[12:], crypto.AAD(sc))
		if err != nil {
			t.Fatal(err)
		}
		k := [32]byte(dk)
		if _, dup := dataKeys[k]; dup {
			t.Fatalf("seal %d: data key repeated", i)
		}
		dataKeys[k] = struct{}{}
		vn := [12]byte(sd.Nonce)
		if _, dup := valueNonces[vn]; dup {
			t.Fatalf("seal %d: value nonce repeated", i)
		}
		valueNonces[vn] = struct{}{}
	}
	t.Logf("%d seals: %d distinct master-key nonces, %d distinct data keys, %d distinct value nonces", n, len(wrapNonces), len(dataKeys), len(valueNonces))
}

// TestOneKeyMillionNonces is the plain AEAD helper under one data key:
// 10^6 encryptions, no repeated nonce.
func TestOneKeyMillionNonces(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	dk := make([]byte, 32)
	seen := make(map[[12]byte]struct{}, n)
	for i := range n {
		nonce, _, err := crypto.SealWithDataKey(dk, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := seen[[12]byte(nonce)]; dup {
			t.Fatalf("encryption %d repeated a nonce", i)
		}
		seen[[12]byte(nonce)] = struct{}{}
	}
}
