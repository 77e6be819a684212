package devserver_test

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/vsecure/vsecure/shared/crypto/local"
	"github.com/vsecure/vsecure/shared/devserver"
	"github.com/vsecure/vsecure/shared/store/embedded"
	"github.com/vsecure/vsecure/shared/store/storetest"
)

// The dev server seals its entries with a MAC key wrapped under the keys
// directory, and keeps the signing key there, not beside the data.
func TestDevServerSealsEntries(t *testing.T) {
	root := t.TempDir()
	data := filepath.Join(root, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	// A signing key left in the data dir by an older version moves.
	old, err := local.LoadSigner(data)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := devserver.New(t.Context(), devserver.Config{
		Addr: "127.0.0.1:0", DataDir: data, DigestEvery: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if srv.GeneratedAdminKey == "" {
		t.Fatal("no admin key generated: nothing was audited")
	}
	srv.Close()
	keys := data + "-keys"
	if _, err := os.Stat(filepath.Join(data, local.SigningKeyFile)); err == nil {
		t.Fatal("the signing key is still in the data directory")
	}
	moved, err := local.LoadSigner(keys)
	if err != nil || moved.KeyID() != old.KeyID() {
		t.Fatalf("signing key in the keys dir: %v (%v)", moved, err)
	}
	if _, err := os.Stat(filepath.Join(data, local.MACKeyFile)); err == nil {
		t.Fatal("the MAC key is in the data directory")
	}
	mk, err := local.LoadMACKeys(keys)
	if err != nil {
		t.Fatal(err)
	}
	st, err := embedded.Open(filepath.Join(data, "vsecure.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	epochs := storetest.Chains(t, t.Context(), st, mk)
	if len(epochs) != 1 {
		t.Fatalf("%d epochs, want 1", len(epochs))
	}
	for _, ep := range epochs {
		if len(ep.Records) < 2 {
			t.Fatalf("the epoch holds %d records: the admin key's entry is missing", len(ep.Records))
		}
	}
}
