package catalog_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/vsecure/vsecure/shared/catalog"
	"github.com/vsecure/vsecure/shared/client"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/httpapi"
	"github.com/vsecure/vsecure/shared/vsecure"
)

func TestCatalogNamesAreUniqueAndCoverTheRouteTable(t *testing.T) {
	names := catalog.Names()
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			t.Errorf("%s is in the catalog twice", n)
		}
		seen[n] = true
	}
	for _, r := range httpapi.Routes() {
		f, ok := catalog.Lookup(r.Function)
		if !ok || f.Kind != catalog.KindRoute || !slices.ContainsFunc(f.Routes, func(x httpapi.Route) bool { return x.Pattern() == r.Pattern() }) {
			t.Errorf("route %s: its function %s is not a route function of the catalog serving it", r.Pattern(), r.Function)
		}
	}
	if f, _ := catalog.Lookup("health"); f.Store {
		t.Error("health serves only public routes, so it needs no store")
	}
	if f, _ := catalog.Lookup(catalog.Fallback); !f.Store || f.Kind != catalog.KindFallback {
		t.Errorf("fallback %+v: it audits the unclean paths it refuses", f)
	}
}

// cli builds the vsecure CLI as it is and returns a check that a command
// exists: it answers `<command> --help` with its usage and exit status 0,
// where an unknown command exits 2.
func cli(t *testing.T) func(cmd string) error {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "vsecure")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "../../cmd/vsecure") // as the other tests build it (cmd/vsecure goBuild)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/vsecure: %v\n%s", err, out)
	}
	return func(cmd string) error {
		out, err := exec.Command(bin, cmd, "--help").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "vsecure "+cmd) {
			return fmt.Errorf("`vsecure %s --help`: %v: %s", cmd, err, out)
		}
		return nil
	}
}

// TestEveryRouteHasOneOperationRow: the name table has exactly one row per
// route function, and every gate method, client method, audit operation
// and CLI command it names exists.
func TestEveryRouteHasOneOperationRow(t *testing.T) {
	rows := map[string]int{}
	for _, o := range catalog.Operations() {
		rows[o.Function]++
		if _, ok := catalog.Lookup(o.Function); !ok {
			t.Errorf("row %s: no such function in the catalog", o.Function)
		}
	}
	for _, fn := range catalog.Names(catalog.KindRoute) {
		if rows[fn] != 1 {
			t.Errorf("route function %s has %d rows in catalog.Operations, want 1", fn, rows[fn])
		}
	}
	g, c := reflect.TypeOf(&gate.Gate{}), reflect.TypeOf(&client.Client{})
	command := cli(t)
	for _, o := range catalog.Operations() {
		for _, m := range o.Gate {
			if _, ok := g.MethodByName(m); !ok {
				t.Errorf("%s: gate.Gate has no method %s", o.Function, m)
			}
		}
		for _, m := range o.Client {
			if _, ok := c.MethodByName(m); !ok {
				t.Errorf("%s: client.Client has no method %s", o.Function, m)
			}
		}
		for _, a := range o.Audit {
			if !slices.Contains(vsecure.AuditOperations, a) {
				t.Errorf("%s: %q is not an audit operation (vsecure.AuditOperations)", o.Function, a)
			}
		}
		for _, cmd := range o.CLI {
			if err := command(cmd); err != nil {
				t.Errorf("%s: no CLI command %q: %v", o.Function, cmd, err)
			}
		}
	}
}
