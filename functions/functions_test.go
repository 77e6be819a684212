// Package functions_test checks that functions/ and the function catalog
// (shared/catalog) agree: the CDK stack creates one Lambda per catalog
// entry and builds it from functions/<name>, so an entry without a
// directory would deploy nothing and a directory without an entry would be
// dead code.
package functions_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vsecure/vsecure/shared/catalog"
)

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

func TestEveryCatalogFunctionHasADirectoryAndNoOther(t *testing.T) {
	dirs, want := functionDirs(t), catalog.Names()
	for _, name := range want {
		if !slices.Contains(dirs, name) {
			t.Errorf("function %q of the catalog has no functions/%s/main.go", name, name)
		}
	}
	for _, d := range dirs {
		if !slices.Contains(want, d) {
			t.Errorf("functions/%s is not in the function catalog (shared/catalog)", d)
		}
	}
}

// Each main.go must run its catalog entry under its own name: a copied
// main.go that still says another function's name would deploy the wrong
// handler under this one.
func TestEveryMainServesItsOwnName(t *testing.T) {
	for _, f := range catalog.Functions() {
		src, err := os.ReadFile(filepath.Join(f.Name, "main.go"))
		if err != nil {
			t.Errorf("functions/%s: %v", f.Name, err)
			continue
		}
		calls := []string{"lambdafn." + f.Entry + "("}
		switch f.Entry {
		case "Serve":
			calls = []string{`lambdafn.Serve("` + f.Name + `")`, `lambdafn.ServeWith("` + f.Name + `"`}
		case "ServeTaskWith":
			calls = []string{`lambdafn.ServeTaskWith("` + f.Name + `"`}
		}
		if !slices.ContainsFunc(calls, func(c string) bool { return strings.Contains(string(src), c) }) {
			t.Errorf("functions/%s/main.go does not call %s", f.Name, strings.Join(calls, " or "))
		}
	}
}
