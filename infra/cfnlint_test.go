package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestTemplatesPassCfnLint: AWS's CloudFormation linter (cfn-lint, which
// checks every resource's properties against the service's own schemas)
// accepts the stack in each configuration: dev and prod with API keys
// only, and prod with each kind of issuer (the console edge, the JWT
// authorizer and the user pool).
func TestTemplatesPassCfnLint(t *testing.T) {
	lint, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Fatal("cfn-lint is not on PATH: it comes with the machine's Python (pip cfn-lint); `pip install cfn-lint`")
	}
	dir := t.TempDir()
	var files []string
	for name, cfg := range map[string]Config{
		"dev":      {Env: "dev", AuthCacheSeconds: 30},
		"prod":     {Env: "prod", AuthCacheSeconds: 30},
		"cognito":  {Env: "prod", AuthCacheSeconds: 30, OIDC: cognitoOIDC},
		"external": {Env: "dev", AuthCacheSeconds: 30, OIDC: externalOIDC},
	} {
		f := filepath.Join(dir, name+".template.json")
		if err := os.WriteFile(f, []byte(mustJSON(t, synthConfig(t, cfg).raw)), 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	// W3005 ("dependency already enforced by a GetAtt") is the CDK's own
	// doing: every function DependsOn the role its Role property already
	// names, which CloudFormation orders the same either way.
	args := []string{"--format", "parseable", "--regions", "us-east-1", "--ignore-checks", "W3005", "--"}
	out, err := exec.Command(lint, append(args, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("cfn-lint: %v\n%s", err, strings.TrimSpace(string(out)))
	}
}
