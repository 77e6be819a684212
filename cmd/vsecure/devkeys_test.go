package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vsecure/vsecure/internal/syncbuf"
	"github.com/vsecure/vsecure/shared/crypto/local"
	"github.com/vsecure/vsecure/shared/digest/witnessfile"
)

// The keys directory is <data>-keys unless --keys or VSECURE_KEYS_DIR
// (the flag winning) names another; it holds the signing key, the MAC
// wrapping key and the witness file, and the data directory none of them.
func TestDevKeysDir(t *testing.T) {
	root := t.TempDir()
	cases := []struct {
		name      string
		args, env []string
		want      string
	}{
		{"default", nil, nil, filepath.Join(root, "default-keys")},
		{"env", nil, []string{"VSECURE_KEYS_DIR", filepath.Join(root, "env-k")}, filepath.Join(root, "env-k")},
		{"flag", []string{"--keys", filepath.Join(root, "flag-k")}, []string{"VSECURE_KEYS_DIR", filepath.Join(root, "ignored")}, filepath.Join(root, "flag-k")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := filepath.Join(root, c.name)
			env := map[string]string{"VSECURE_LOG_LEVEL": "error"}
			for i := 0; i < len(c.env); i += 2 {
				env[c.env[i]] = c.env[i+1]
			}
			runDevUntilReady(t, append([]string{"--addr", "127.0.0.1:0", "--data", data}, c.args...), env)
			for _, f := range []string{local.SigningKeyFile, local.MACKeyFile, witnessfile.Name} {
				if _, err := os.Stat(filepath.Join(c.want, f)); err != nil {
					t.Errorf("%s not in the keys dir: %v", f, err)
				}
				if _, err := os.Stat(filepath.Join(data, f)); err == nil {
					t.Errorf("%s is in the data dir", f)
				}
			}
			if _, err := os.Stat(filepath.Join(root, "ignored")); err == nil {
				t.Error("VSECURE_KEYS_DIR was used although --keys was given")
			}
		})
	}
}

// runDevUntilReady runs `vsecure dev` in process until its banner is out,
// then stops it as SIGTERM would.
func runDevUntilReady(t *testing.T, args []string, env map[string]string) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out, errs syncbuf.Buffer
	done := make(chan int, 1)
	go func() {
		done <- runDev(ctx, args, func(k string) string { return env[k] }, stdio{Out: &out, Err: &errs})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "listening on") {
		select {
		case rc := <-done:
			t.Fatalf("vsecure dev exited %d:\n%s%s", rc, out.String(), errs.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("vsecure dev did not start:\n%s%s", out.String(), errs.String())
		}
	}
	cancel()
	if rc := <-done; rc != 0 {
		t.Fatalf("vsecure dev exited %d:\n%s", rc, errs.String())
	}
}
