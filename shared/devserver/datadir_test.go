package devserver_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vsecure/vsecure/shared/crypto/local"
	"github.com/vsecure/vsecure/shared/devserver"
	"github.com/vsecure/vsecure/shared/digest"
	"github.com/vsecure/vsecure/shared/store/embedded"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// TestNoKeyInTheDataDirCanSignDigests is issue 13's "re-sign with any key
// found in the data directory": whoever can read and write the data
// directory of `vsecure dev` takes every key-looking thing in it, re-signs
// the newest digest with each, and verification names each forgery
// bad_signature, and nothing else.
func TestNoKeyInTheDataDirCanSignDigests(t *testing.T) {
	root := t.TempDir()
	data := filepath.Join(root, "data")
	later := func() time.Time { return time.Now().Add(10 * time.Minute) }
	srv, err := devserver.New(t.Context(), devserver.Config{
		Addr: "127.0.0.1:0", DataDir: data, DigestEvery: -1, Now: later,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.SealAudit(t.Context()); err != nil {
		t.Fatal(err)
	}
	srv.Close()

	// Every file in the data dir but the store, read as a key would be:
	// raw bytes, base64, hex, PEM; an Ed25519 private key's seed too.
	var found []string
	seeds := map[string][]byte{}
	err = filepath.WalkDir(data, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "vsecure.db" {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		found = append(found, d.Name())
		for i, c := range candidates(b) {
			if len(c) == 64 { // an Ed25519 private key: seed, then public key
				c = c[:32]
			}
			if len(c) == 32 {
				seeds[d.Name()+"#"+string(rune('0'+i))] = c
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{local.MasterKeyFile, "cursor.key"} {
		if !strings.Contains(strings.Join(found, " "), name) {
			t.Fatalf("data dir holds %v: no %s, so this test is not looking at the layout devserver builds", found, name)
		}
	}
	if len(seeds) < 2 {
		t.Fatalf("only %d 32-byte keys found in %v", len(seeds), found)
	}
	keysDir := data + "-keys"
	trusted, err := local.LoadSigner(keysDir)
	if err != nil {
		t.Fatal(err)
	}
	macKeys, err := local.LoadMACKeys(keysDir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(data, "vsecure.db")
	newest := newestDigest(t, path)
	for name, seed := range seeds {
		forger, err := local.NewSigner(seed)
		if err != nil {
			t.Fatal(err)
		}
		if forger.PublicKeyBase64() == trusted.PublicKeyBase64() {
			t.Fatalf("%s in the data dir is the audit signing key", name)
		}
		for _, keepID := range []bool{true, false} {
			d := newest
			if !keepID {
				d.KeyID = forger.KeyID()
			}
			d.Signature, _ = forger.Sign(t.Context(), d.SignedBytes())
			putDigest(t, path, d)
			st, err := embedded.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			v, _ := digest.NewVerifier(digest.Config{Store: st, Signer: trusted, MACKeys: macKeys, Now: later})
			r, err := v.Verify(t.Context(), time.Time{}, time.Time{})
			st.Close()
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Findings) != 1 || r.Findings[0].Kind != digest.BadSignature || !r.Findings[0].Window.Equal(d.From) {
				t.Fatalf("digest re-signed with %s (key id kept: %v): findings %+v, want one bad_signature @%s", name, keepID, r.Findings, d.From)
			}
		}
	}
	putDigest(t, path, newest)
	t.Logf("data dir %v: %d candidate keys, none signs a digest the verifier accepts", found, len(seeds))
}

// candidates are b's readings as key material.
func candidates(b []byte) [][]byte {
	out := [][]byte{b}
	s := strings.TrimSpace(string(b))
	if k, err := base64.StdEncoding.DecodeString(s); err == nil {
		out = append(out, k)
	}
	if k, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		out = append(out, k)
	}
	if k, err := hex.DecodeString(s); err == nil {
		out = append(out, k)
	}
	for rest := b; ; {
		var p *pem.Block
		if p, rest = pem.Decode(rest); p == nil {
			break
		}
		out = append(out, p.Bytes)
		if n := len(p.Bytes); n >= 32 { // PKCS#8 Ed25519: the seed ends the DER
			out = append(out, p.Bytes[n-32:])
		}
	}
	return out
}

var digestsBucket = []byte("digests")

func newestDigest(t *testing.T, path string) vsecure.Digest {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var d vsecure.Digest
	err = db.View(func(tx *bolt.Tx) error {
		_, v := tx.Bucket(digestsBucket).Cursor().Last()
		if v == nil {
			t.Fatal("no digest sealed")
		}
		return json.Unmarshal(v, &d)
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func putDigest(t *testing.T, path string, d vsecure.Digest) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	b, _ := json.Marshal(d)
	err = db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(digestsBucket)
		k, v := bk.Cursor().Last()
		var old vsecure.Digest
		if err := json.Unmarshal(v, &old); err != nil || !old.From.Equal(d.From) {
			t.Fatalf("newest digest is from %s, not %s", old.From, d.From)
		}
		return bk.Put(bytes.Clone(k), b)
	})
	if err != nil {
		t.Fatal(err)
	}
}
