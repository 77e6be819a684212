package gate_test

import (
	"maps"
	"testing"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// TestSecretFields: a write that leaves out the name, description or
// metadata keeps the stored ones, a write that gives them replaces them,
// and reads and writes show the metadata as stored (an empty map, never
// null, for none).
func TestSecretFields(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	admin := w.as("admin")
	const u = "vsecure://secrets/staging/FIELDS"
	check := func(what string, info api.SecretInfo, name, desc string, md map[string]string) {
		t.Helper()
		r, err := w.read(admin, u)
		if err != nil {
			t.Fatal(err)
		}
		for _, got := range []struct {
			name, desc string
			md         map[string]string
		}{{info.Name, info.Description, info.Metadata}, {r.Name, r.Description, r.Metadata}} {
			if got.name != name || got.desc != desc || got.md == nil || !maps.Equal(got.md, md) {
				t.Fatalf("%s: name %q description %q metadata %v; want %q, %q, %v", what, got.name, got.desc, got.md, name, desc, md)
			}
		}
	}
	write := func(sw api.SecretWrite) api.SecretInfo {
		t.Helper()
		v := "v"
		sw.Value = &v
		info, err := w.g.WriteSecret(ctx, admin, uri(t, u), sw)
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	check("a bare write", write(api.SecretWrite{}), "", "", map[string]string{})
	md := map[string]string{"owner": "payments"}
	check("a full write", write(api.SecretWrite{Name: "n", Description: "d", Metadata: md}), "n", "d", md)
	check("a value-only write", write(api.SecretWrite{}), "n", "d", md)
	check("a new name", write(api.SecretWrite{Name: "m"}), "m", "d", md)
	check("a new description", write(api.SecretWrite{Description: "e"}), "m", "e", md)
	check("new metadata", write(api.SecretWrite{Metadata: map[string]string{"team": "x"}}), "m", "e", map[string]string{"team": "x"})
}

// TestTornLatestRead: a read of the latest version that sees a head and
// value from either side of a concurrent write looks once more and reads
// the value; a read of a named version takes the view as it is.
func TestTornLatestRead(t *testing.T) {
	w := newWorld(t)
	admin := w.as("admin")
	if _, err := w.write(admin, stagingURI, "second"); err != nil {
		t.Fatal(err)
	}
	w.st.loads.Store(0)
	w.st.tornOnce.Store(true)
	r, err := w.read(admin, stagingURI)
	if err != nil || r.Value != "second" || r.Version != 2 {
		t.Fatalf("torn read: %+v, %v; want version 2", r, err)
	}
	if n := w.st.loads.Load(); n != 2 {
		t.Fatalf("%d loads for a torn read, want 2", n)
	}
	w.st.loads.Store(0)
	if r, err := w.g.ReadSecret(t.Context(), admin, uri(t, stagingURI), 1); err != nil || r.Version != 1 || w.st.loads.Load() != 1 {
		t.Fatalf("version 1: %+v, %v, %d loads", r, err, w.st.loads.Load())
	}
	w.st.loads.Store(0)
	if _, err := w.read(admin, stagingURI); err != nil || w.st.loads.Load() != 1 {
		t.Fatalf("a consistent read: %v, %d loads, want 1", err, w.st.loads.Load())
	}

	// The second look failing fails the read, audited, with no value.
	w.st.loads.Store(0)
	w.st.tornOnce.Store(true)
	w.st.failLoad.Store(2)
	r, err = w.read(admin, stagingURI)
	want(t, err, vsecure.EUnavailable, "a torn read whose second look fails")
	if r.Value != "" {
		t.Fatalf("returned %q with the error", r.Value)
	}
}
