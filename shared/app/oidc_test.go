package app_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/vsecure/vsecure/internal/oidctest"
	"github.com/vsecure/vsecure/shared/app"
	"github.com/vsecure/vsecure/shared/crypto/local"
	"github.com/vsecure/vsecure/shared/store/embedded"
)

// TestOIDCPart assembles the service with an issuer: the JSON API accepts
// its JWTs, and the sign-in is there for the console to mount.
func TestOIDCPart(t *testing.T) {
	iss := oidctest.Start(t, false)
	dir := t.TempDir()
	st, err := embedded.Open(filepath.Join(dir, "vsecure.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sealer, err := local.Load("", dir)
	if err != nil {
		t.Fatal(err)
	}
	oc := iss.Config("https://vsecure.example/console/auth/callback")
	a, err := app.Assemble(app.Parts{Store: st, Sealer: sealer, CursorKey: bytes.Repeat([]byte("k"), 32), OIDC: &oc})
	if err != nil {
		t.Fatal(err)
	}
	if a.OIDC == nil {
		t.Fatal("no sign-in provider assembled")
	}
	srv := httptest.NewServer(a.API.OwnHandler())
	t.Cleanup(srv.Close)
	whoami := func(cred string) (int, map[string]any) {
		req, _ := http.NewRequest("GET", srv.URL+"/v1/security/whoami", nil)
		req.Header.Set("Authorization", "Bearer "+cred)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	status, body := whoami(iss.IDToken(t, oidctest.User("jane@example.com", true, oidctest.Admins)))
	if status != 200 || body["principal"] != "jane@example.com" || body["credential"] != "oidc" {
		t.Fatalf("whoami with a JWT: %d %v", status, body)
	}
	if status, _ := whoami(oidctest.Start(t, true).IDToken(t, oidctest.User("jane@example.com", true, oidctest.Admins))); status != 401 {
		t.Fatalf("a JWT of another issuer: %d, want 401", status)
	}

	bad := oc
	bad.Roles = nil
	if _, err := app.Assemble(app.Parts{Store: st, Sealer: sealer, CursorKey: bytes.Repeat([]byte("k"), 32), OIDC: &bad}); err == nil {
		t.Fatal("an issuer with no role mapping was assembled")
	}
}
