package gate_test

import (
	"testing"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// TestBootstrap: the admin bootstrap mints an admin key only while no
// active admin key exists (revoked admins and other roles' keys do not
// count), names the admin it found when it refuses, and with breakGlass
// mints regardless. Every call is audited with the claimed caller.
func TestBootstrap(t *testing.T) {
	const arn = "arn:aws:iam::123456789012:role/operator"
	w := newWorld(t)
	ctx := t.Context()
	rulesAdmin := w.as("admin").Principal.KeyID

	seen := map[string]bool{}
	bootstrap := func(r api.BootstrapRequest, code vsecure.Code, what string) (api.CreatedKey, vsecure.Entry) {
		t.Helper()
		k, err := w.g.Bootstrap(ctx, r)
		want(t, err, code, what)
		es, _, err := w.st.Store.QueryAudit(ctx, vsecure.AuditFilter{Operation: vsecure.AuditKeyBootstrap}, "", 100)
		if err != nil || len(es) == 0 {
			t.Fatalf("%s: no %s entry (%v)", what, vsecure.AuditKeyBootstrap, err)
		}
		var e *vsecure.Entry // the one entry this call wrote
		for i := range es {
			if !seen[es[i].ID] {
				if e != nil {
					t.Fatalf("%s: two new entries, %+v and %+v", what, e, es[i])
				}
				e, seen[es[i].ID] = &es[i], true
			}
		}
		if e == nil {
			t.Fatalf("%s: no new %s entry", what, vsecure.AuditKeyBootstrap)
		}
		if e.Success != (code == "") || e.Error != string(code) || e.Actor != "bootstrap" ||
			e.Metadata["requestedBy"] != r.RequestedBy || e.Metadata["requestedByClaimed"] != "true" {
			t.Fatalf("%s: entry %+v", what, e)
		}
		if code == "" && (k.Secret == "" || e.Metadata["keyId"] != k.ID) {
			t.Fatalf("%s: minted %+v, entry %+v", what, k.Key, e)
		}
		if code != "" && (k.ID != "" || k.Secret != "" || e.Metadata["keyId"] != "") {
			t.Fatalf("%s: refused but minted %+v, entry %+v", what, k.Key, e)
		}
		return k, *e
	}

	_, e := bootstrap(api.BootstrapRequest{RequestedBy: arn}, vsecure.EAlreadyDecided, "bootstrap beside an active admin")
	if e.Metadata["existingKeyId"] != rulesAdmin || e.Metadata["breakGlass"] != "false" {
		t.Fatalf("refusal names %q (breakGlass %q), want the admin key %s", e.Metadata["existingKeyId"], e.Metadata["breakGlass"], rulesAdmin)
	}
	bootstrap(api.BootstrapRequest{}, vsecure.EInvalid, "bootstrap without requestedBy")
	bootstrap(api.BootstrapRequest{Principal: "no spaces", RequestedBy: arn}, vsecure.EInvalid, "bootstrap of an invalid principal")

	// With the only admin key revoked, the agents', approvers' and
	// auditor's keys are no admin: a bootstrap mints one, named admin.
	if _, err := w.g.RevokeKey(ctx, w.as("admin"), rulesAdmin); err != nil {
		t.Fatal(err)
	}
	k, _ := bootstrap(api.BootstrapRequest{RequestedBy: arn}, "", "bootstrap with no active admin")
	c := w.login(k.Secret)
	if c.Principal.ID != "admin" || !c.Principal.Has(vsecure.RoleAdmin) {
		t.Fatalf("bootstrapped key authenticates as %+v, want admin with the admin role", c.Principal)
	}

	_, e = bootstrap(api.BootstrapRequest{RequestedBy: arn}, vsecure.EAlreadyDecided, "second bootstrap")
	if e.Metadata["existingKeyId"] != k.ID {
		t.Fatalf("refusal names %q, want the bootstrapped key %s", e.Metadata["existingKeyId"], k.ID)
	}

	g, e := bootstrap(api.BootstrapRequest{Principal: "ops-admin", BreakGlass: true, RequestedBy: arn}, "", "break-glass bootstrap")
	if c := w.login(g.Secret); c.Principal.ID != "ops-admin" || !c.Principal.Has(vsecure.RoleAdmin) || e.Metadata["breakGlass"] != "true" {
		t.Fatalf("break-glass key authenticates as %+v, entry %+v", c.Principal, e)
	}
}
