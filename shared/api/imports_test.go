package api_test

import (
	"os/exec"
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
