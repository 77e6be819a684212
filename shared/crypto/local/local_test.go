package local

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vsecure/vsecure/shared/crypto/cryptotest"
	"github.com/vsecure/vsecure/shared/vsecure"
)

func TestConformance(t *testing.T) {
	s, err := Load("", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cryptotest.Run(t, s)
}

func TestLoad(t *testing.T) {
	t.Run("generated_key_file_is_0600_and_reused", func(t *testing.T) {
		dir := t.TempDir()
		a, err := Load("", dir)
		if err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(filepath.Join(dir, MasterKeyFile))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("stat = %v, %v; want mode 0600", st, err)
		}
		b, err := Load("", dir)
		if err != nil || a.keyID != b.keyID {
			t.Fatalf("second Load: %v, key %s vs %s", err, a.keyID, b.keyID)
		}
	})
	t.Run("world_readable_key_refused", func(t *testing.T) {
		dir := t.TempDir()
		if _, err := Load("", dir); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(dir, MasterKeyFile), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Load("", dir); err == nil {
			t.Fatal("loaded a 0644 master key")
		}
	})
	t.Run("env_key_must_be_32_bytes", func(t *testing.T) {
		if _, err := Load("c2hvcnQ=", t.TempDir()); err == nil {
			t.Fatal("accepted a short key")
		}
		if _, err := Load("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", t.TempDir()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("other_master_key_cannot_open", func(t *testing.T) {
		a, _ := Load("", t.TempDir())
		b, _ := Load("", t.TempDir())
		sd, err := a.Seal(t.Context(), []byte("x"), sc())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Open(t.Context(), sd, sc()); err == nil {
			t.Fatal("opened with another master key")
		}
	})
}

func sc() vsecure.SealContext { return vsecure.SealContext{URI: "vsecure://secrets/dev/X", Version: 1} }

func TestSignerConformance(t *testing.T) {
	a, err := LoadSigner(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadSigner(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cryptotest.RunSigner(t, a, b)
}

func TestSigningKeyFile(t *testing.T) {
	dir := t.TempDir()
	a, err := LoadSigner(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, SigningKeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v; want 0600", st.Mode().Perm(), err)
	}
	b, err := LoadSigner(dir)
	if err != nil || b.KeyID() != a.KeyID() {
		t.Fatalf("reload: %v, key %q want %q", err, b.KeyID(), a.KeyID())
	}
	if err := os.Chmod(filepath.Join(dir, SigningKeyFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSigner(dir); err == nil {
		t.Fatal("a world-readable signing key was accepted")
	}
}

func TestMACKeysConformance(t *testing.T) {
	m, err := LoadMACKeys(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cryptotest.RunMACKeys(t, m)
}

func TestMACKeyFile(t *testing.T) {
	dir := t.TempDir()
	a, err := LoadMACKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, MACKeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v; want 0600", st.Mode().Perm(), err)
	}
	_, w, id, err := a.NewMACKey(t.Context(), "ep_x")
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadMACKeys(dir)
	if err != nil || b.KeyID() != a.KeyID() {
		t.Fatalf("reload: %v, key %q want %q", err, b.KeyID(), a.KeyID())
	}
	if _, err := b.OpenMACKey(t.Context(), "ep_x", w, id); err != nil {
		t.Fatalf("reloaded key cannot open: %v", err)
	}
	other, _ := LoadMACKeys(t.TempDir())
	if _, err := other.OpenMACKey(t.Context(), "ep_x", w, id); err == nil {
		t.Fatal("another wrapping key opened the MAC key")
	}
}
