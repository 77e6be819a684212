package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vsecure/vsecure/internal/oidctest"
)

// TestDevAcceptsOIDCJWTs runs `vsecure dev --oidc-issuer` against a real
// provider: a person's JWT is a credential on the JSON API next to the
// admin key.
func TestDevAcceptsOIDCJWTs(t *testing.T) {
	bin := buildVsecure(t)
	iss := oidctest.Start(t, false)
	addr := freeAddr(t)
	d := startDevArgs(t, bin, []string{"dev", "--addr", addr, "--data", filepath.Join(t.TempDir(), "data"), "--oidc-issuer", iss.Issuer()},
		"VSECURE_OIDC_CLIENT_ID="+iss.ClientID, "VSECURE_OIDC_ROLE_MAP="+oidctest.Approvers+"=approver",
		"VSECURE_ADMIN_KEY=vsk_dev-oidc-admin-0123456789abcdefghijklmnopqrstuv")
	base := "http://" + d.addr
	status, body := call(t, "GET", base+"/v1/security/whoami", iss.IDToken(t, oidctest.User("jane@example.com", true, oidctest.Approvers)), nil)
	if status != 200 || body["principal"] != "jane@example.com" || body["credential"] != "oidc" {
		t.Fatalf("whoami with a JWT: %d %v", status, body)
	}
	if status, body := call(t, "GET", base+"/v1/security/whoami", "vsk_dev-oidc-admin-0123456789abcdefghijklmnopqrstuv", nil); status != 200 || body["credential"] != "api_key" {
		t.Fatalf("whoami with the admin key: %d %v", status, body)
	}
	d.stop(t)
}

func TestDevRefusesAnIncompleteOIDCConfig(t *testing.T) {
	bin := buildVsecure(t)
	cmd := exec.Command(bin, "dev", "--addr", freeAddr(t), "--data", t.TempDir(), "--oidc-issuer", "https://id.example.com")
	cmd.Env = append(cmd.Environ(), "VSECURE_OIDC_CLIENT_ID=vsecure")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "role") {
		t.Fatalf("exit %v, output %s; want exit 2 naming the missing role map", err, out)
	}
}
