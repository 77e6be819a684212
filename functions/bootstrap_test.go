package functions_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vsecure/vsecure/internal/sample"
	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/catalog"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// TestRIEAdminBootstrap runs admin-bootstrap under aws-lambda-rie against
// DynamoDB Local: with no active admin key the first invoke mints one, the
// second is refused, break-glass mints regardless; every attempt is
// audited and a minted key authenticates through the gate.
func TestRIEAdminBootstrap(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	w := newWorld(t, ctx)
	f := w.open(t)
	// The sample world has an admin key: revoke it, leaving a stack as it
	// is right after deploy as far as admins go.
	admin := gate.Call{Principal: vsecure.Principal{ID: "admin", Roles: []vsecure.Role{vsecure.RoleAdmin}, KeyID: sample.AdminKeyID}, RequestID: "test"}
	if _, err := f.Gate.RevokeKey(ctx, admin, sample.AdminKeyID); err != nil {
		t.Fatal(err)
	}
	const caller = "arn:aws:sts::123456789012:assumed-role/Operator/alice"
	r := w.runtime(t, ctx, catalog.Bootstrap)
	call := func(breakGlass bool) (api.CreatedKey, string) {
		t.Helper()
		ev, _ := json.Marshal(api.BootstrapRequest{Principal: "root-admin", BreakGlass: breakGlass, RequestedBy: caller})
		body, err := r.Invoke(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			api.CreatedKey
			ErrorMessage string `json:"errorMessage"`
		}
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatalf("response %s: %v", body, err)
		}
		return out.CreatedKey, out.ErrorMessage
	}

	first, msg := call(false)
	if msg != "" || !strings.HasPrefix(first.Secret, gate.KeyPrefix) || first.Principal != "root-admin" {
		t.Fatalf("first bootstrap: key %+v, error %q", first.Key, msg)
	}
	if _, msg := call(false); !strings.Contains(msg, "an active admin key exists ("+first.ID+")") {
		t.Fatalf("second bootstrap: want a refusal naming %s, got %q", first.ID, msg)
	}
	glass, msg := call(true)
	if msg != "" || glass.Secret == "" || glass.ID == first.ID {
		t.Fatalf("break-glass bootstrap: key %+v, error %q", glass.Key, msg)
	}

	for _, k := range []api.CreatedKey{first, glass} {
		p, err := f.Gate.Authenticate(ctx, k.Secret, gate.Call{RequestID: "test"})
		if err != nil || p.ID != "root-admin" || !p.Has(vsecure.RoleAdmin) {
			t.Fatalf("bootstrapped key %s: principal %+v, %v", k.ID, p, err)
		}
	}
	entries, _, err := f.Gate.Store().QueryAudit(ctx, vsecure.AuditFilter{Operation: vsecure.AuditKeyBootstrap}, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries { // newest first
		if e.Metadata["requestedBy"] != caller || e.Metadata["requestedByClaimed"] != "true" {
			t.Errorf("entry %s does not record the claimed caller: %v", e.ID, e.Metadata)
		}
		got = append(got, e.Metadata["breakGlass"]+"/"+map[bool]string{true: "ok", false: e.Error}[e.Success]+"/"+e.Metadata["keyId"])
	}
	want := []string{"true/ok/" + glass.ID, "false/" + string(vsecure.EAlreadyDecided) + "/", "false/ok/" + first.ID}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("key_bootstrap entries (newest first) = %v, want %v", got, want)
	}
	// Never a key in the function's log.
	if out := r.Output(); strings.Contains(out, first.Secret) || strings.Contains(out, glass.Secret) {
		t.Errorf("a bootstrapped key appears in the function's log:\n%s", out)
	}
}
