// Package functions_test checks that functions/ and the route table agree:
// the CDK stack creates one Lambda per route function from the table and
// builds it from functions/<name>, so a route without a directory would
// deploy nothing and a directory without a route would be dead code.
package functions_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vsecure/vsecure/shared/httpapi"
	"github.com/vsecure/vsecure/shared/lambdafn"
)

// The functions that serve no route: the authorizer in front of the API,
// the fallback behind its $default route, the approval workflow's tasks
// and the scheduled audit digest step and workflow reconciler behind it.
const (
	authorizer = "authorizer"
	digest     = lambdafn.DigestFunction
	reconcile  = lambdafn.ReconcileFunction
	index      = lambdafn.IndexFunction
)

func nonRouteFunctions() []string {
	return append([]string{authorizer, httpapi.FallbackFunction, digest, reconcile, index, lambdafn.BootstrapFunction}, lambdafn.TaskFunctions()...)
}

func routeFunctions() []string {
	var names []string
	for _, r := range httpapi.Routes() {
		if !slices.Contains(names, r.Function) {
			names = append(names, r.Function)
		}
	}
	return names
}

func functionDirs(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range ents {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") && e.Name() != "testdata" {
			dirs = append(dirs, e.Name())
		}
	}
	return dirs
}

func TestEveryRouteHasAFunctionAndEveryFunctionARoute(t *testing.T) {
	dirs := functionDirs(t)
	want := append(routeFunctions(), nonRouteFunctions()...)
	for _, name := range want {
		if !slices.Contains(dirs, name) {
			t.Errorf("function %q has no functions/%s/main.go", name, name)
		}
	}
	for _, d := range dirs {
		if !slices.Contains(want, d) {
			t.Errorf("functions/%s serves no route of httpapi.Routes() and is neither the authorizer, the fallback, a workflow task, the digest step, the reconciler, the audit indexer nor admin-bootstrap", d)
		}
	}
}

// Each main.go must serve its own name: a copied main.go that still says
// another function's name would deploy the wrong handler under this one.
func TestEveryMainServesItsOwnName(t *testing.T) {
	for _, d := range functionDirs(t) {
		src, err := os.ReadFile(filepath.Join(d, "main.go"))
		if err != nil {
			t.Errorf("functions/%s: %v", d, err)
			continue
		}
		want := `lambdafn.Serve("` + d + `")`
		ok := strings.Contains(string(src), want) || strings.Contains(string(src), `lambdafn.ServeWith("`+d+`"`)
		switch {
		case d == authorizer:
			want = "lambdafn.ServeAuthorizer()"
			ok = strings.Contains(string(src), want)
		case d == digest:
			want = "lambdafn.ServeDigest()"
			ok = strings.Contains(string(src), want)
		case d == reconcile:
			want = "lambdafn.ServeReconcile("
			ok = strings.Contains(string(src), want)
		case d == index:
			want = "lambdafn.ServeIndex()"
			ok = strings.Contains(string(src), want)
		case d == lambdafn.BootstrapFunction:
			want = "lambdafn.ServeBootstrap()"
			ok = strings.Contains(string(src), want)
		case slices.Contains(lambdafn.TaskFunctions(), d):
			want = `lambdafn.ServeTaskWith("` + d + `"`
			ok = strings.Contains(string(src), want)
		}
		if !ok {
			t.Errorf("functions/%s/main.go does not call %s", d, want)
		}
	}
}
