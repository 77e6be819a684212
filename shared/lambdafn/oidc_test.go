package lambdafn

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/vsecure/vsecure/internal/oidctest"
	"github.com/vsecure/vsecure/shared/crypto/local"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// humanFunction is a function whose configuration names iss, with a clock
// the test moves.
func humanFunction(t testing.TB, iss *oidctest.Issuer) (*Function, *fakeStore, func(time.Duration)) {
	t.Helper()
	st := &fakeStore{keys: map[string]vsecure.Key{
		"hash-agent": {ID: "key_2", Principal: "agent-1", Roles: []vsecure.Role{vsecure.RoleAgent}},
	}}
	sealer, err := local.Load(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	now := time.Now()
	oc := iss.Config("")
	oc.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	cfg := Config{CursorKey: bytes.Repeat([]byte{1}, 32), PublicURL: "https://api.example.com", OIDC: &oc}
	f, err := New(cfg, st, sealer, NewLogger(&bytes.Buffer{}, "DEBUG"))
	if err != nil {
		t.Fatal(err)
	}
	return f, st, func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
}

func TestAuthorizerAcceptsJWTs(t *testing.T) {
	iss := oidctest.Start(t, false)
	f, _, _ := humanFunction(t, iss)
	ctx := context.Background()
	jane := iss.IDToken(t, oidctest.User("jane@example.com", true, oidctest.Approvers))
	resp, err := f.Authorizer().Handle(ctx, authEvent(map[string]string{"authorization": "Bearer " + jane}))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"principal": "jane@example.com", "roles": "approver", "human": "true"}
	if !resp.IsAuthorized || mustJSON(resp.Context) != mustJSON(want) {
		t.Fatalf("authorized %v with context %s, want %s", resp.IsAuthorized, mustJSON(resp.Context), mustJSON(want))
	}
	other := oidctest.Start(t, true)
	resp, err = f.Authorizer().Handle(ctx, authEvent(map[string]string{"authorization": "Bearer " + other.IDToken(t, oidctest.User("jane@example.com", true, oidctest.Approvers))}))
	if err != nil || resp.IsAuthorized {
		t.Fatalf("a JWT of another issuer: authorized %v, err %v", resp.IsAuthorized, err)
	}
}

// TestEndpointReverifiesHumans hands the endpoint a human identity as API
// Gateway's cache would: the endpoint verifies the token again, so the
// answer ends with the token.
func TestEndpointReverifiesHumans(t *testing.T) {
	iss := oidctest.Start(t, false)
	f, st, advance := humanFunction(t, iss)
	e, err := f.Endpoint("whoami")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	jane := iss.IDToken(t, oidctest.User("jane@example.com", true, oidctest.Approvers))
	bob := iss.IDToken(t, oidctest.User("bob@example.com", true, oidctest.Approvers))
	cached := EncodePrincipal(vsecure.Principal{ID: "jane@example.com", Roles: []vsecure.Role{vsecure.RoleApprover}, Human: true})
	call := func(token string) (int, map[string]any) {
		ev := endpointEvent("GET", "/v1/security/whoami", cached)
		ev.Headers = map[string]string{"authorization": "Bearer " + token}
		resp, err := e.Handle(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		_ = json.Unmarshal([]byte(resp.Body), &body)
		return resp.StatusCode, body
	}
	if status, body := call(jane); status != 200 || body["principal"] != "jane@example.com" || body["credential"] != "oidc" {
		t.Fatalf("whoami: %d %v", status, body)
	}
	if st.audit[len(st.audit)-1].Metadata["credential"] != "oidc" {
		t.Fatalf("audit entry %+v lacks credential oidc", st.audit[len(st.audit)-1])
	}
	if status, _ := call(bob); status != 401 {
		t.Fatalf("another person's token under jane's cached identity: %d, want 401", status)
	}
	advance(time.Hour)
	if status, _ := call(jane); status != 401 {
		t.Fatalf("an expired token under a cached identity: %d, want 401", status)
	}
}

func TestHumanPrincipalRoundTrip(t *testing.T) {
	p := vsecure.Principal{ID: "jane@example.com", Roles: []vsecure.Role{vsecure.RoleApprover}, Human: true}
	b, _ := json.Marshal(EncodePrincipal(p))
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	got, err := DecodePrincipal(m)
	if err != nil || !got.Human || got.ID != p.ID || len(got.Roles) != 1 {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	if _, err := DecodePrincipal(map[string]any{"principal": "a", "roles": "admin", "human": "true", "keyId": "key_1"}); err == nil {
		t.Fatal("a human context with a key was accepted")
	}
}
