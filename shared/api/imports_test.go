package api_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const mod = "github.com/vsecure/vsecure/shared/"

// deps lists the packages pkg depends on (go list -deps), so that the
// layering below is checked on what the build really links.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", mod+pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

// The contract's clients speak the contract, not the service: an import
// of gate or httpapi would let a client change with the server's insides.
func TestClientsImportTheContractNotTheService(t *testing.T) {
	for _, pkg := range []string{"client", "mcpserver", "slack"} {
		d := deps(t, pkg)
		if !slices.Contains(d, mod+"api") {
			t.Errorf("%s does not use shared/api", pkg)
		}
		for _, banned := range []string{"gate", "httpapi"} {
			if slices.Contains(d, mod+banned) {
				t.Errorf("%s depends on shared/%s; use shared/api", pkg, banned)
			}
		}
	}
}

// The contract itself imports only the standard library and the domain.
func TestContractImportsOnlyTheDomain(t *testing.T) {
	for _, d := range deps(t, "api") {
		if strings.HasPrefix(d, "github.com/") && d != mod+"api" && d != mod+"vsecure" {
			t.Errorf("shared/api depends on %s", d)
		}
	}
}

// The gate holds no wire facts: no JSON tags (the contract's types are
// here), no HTTP and no URL paths. The one tagged type left is the export
// cursor's private, sealed encoding.
func TestGateHoldsNoWireFacts(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.Dir}}\n{{join .GoFiles \"\\n\"}}\n{{join .Imports \"\\n\"}}", mod+"gate").Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	dir := lines[0]
	fset := token.NewFileSet()
	for _, l := range lines[1:] {
		if l == "net/http" || l == "net/url" {
			t.Errorf("gate imports %s", l)
		}
		if !strings.HasSuffix(l, ".go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, l), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.Field:
				if n.Tag != nil && strings.Contains(n.Tag.Value, "json:") {
					t.Errorf("%s: a JSON tag in the gate (%s); wire types belong in shared/api", fset.Position(n.Pos()), n.Tag.Value)
				}
			case *ast.BasicLit:
				if n.Kind == token.STRING && strings.Contains(n.Value, "/v1/") {
					t.Errorf("%s: a URL path in the gate (%s); paths belong to httpapi", fset.Position(n.Pos()), n.Value)
				}
			}
			return true
		})
	}
}
