package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"

	"github.com/vsecure/vsecure/shared/auditindex"
	"github.com/vsecure/vsecure/shared/auditlog"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// The commands that call AWS (admin:bootstrap, and dev --store dynamodb)
// are compiled in only with the build tag aws. The AWS SDK's packages cost
// every process that links them about 12 ms of initialisation and page
// faults before main, which `vsecure run` and `vsecure mcp serve` pay on
// every start; so the plain build leaves them out and runs those commands
// in its companion, vsecure-aws: the same command built with -tags aws,
// found next to the running binary or on PATH. Release archives hold
// both; `go install -tags aws` gives one binary that does everything.
const companionName = "vsecure-aws"

// backend is what `vsecure dev --store` runs on: nil fields are the
// devserver's own defaults.
type backend struct {
	store   vsecure.Store
	sealer  vsecure.Sealer
	macKeys auditlog.MACKeys
	// indexer is the DynamoDB store's audit indexer, run by the server.
	indexer auditindex.Indexer
}

// embeddedBackend answers the store kinds every build serves: done is
// false for dynamodb, which only the AWS build opens.
func embeddedBackend(kind string) (b backend, done bool, err error) {
	switch kind {
	case "", "embedded":
		return backend{}, true, nil
	case "dynamodb":
		return backend{}, false, nil
	default:
		return backend{}, true, fmt.Errorf("unknown store %q (want embedded or dynamodb)", kind)
	}
}

// bootstrapOutput is the stack output naming the admin-bootstrap function
// (infra/bootstrap.go).
const bootstrapOutput = "AdminBootstrapFunctionName"

// admin:bootstrap invokes a deployed stack's admin-bootstrap function
// with the operator's own AWS credentials and prints the key it mints. No
// server and no vsecure key are involved: IAM lambda:InvokeFunction is the
// whole authorization, and CloudTrail records the Invoke.
func setupAdminBootstrap(fs *flag.FlagSet, env func(string) string, std stdio) action {
	stack := fs.String("stack", "", "CloudFormation stack (vsecure-<env>); the function name is its "+bootstrapOutput+" output")
	function := fs.String("function", "", "the function's name or ARN, instead of --stack")
	principal := fs.String("principal", "admin", "principal of the new admin key")
	breakGlass := fs.Bool("break-glass", false, "mint even if an active admin key exists (audited as such)")
	return func(ctx context.Context, _ []string) int {
		if (*stack == "") == (*function == "") {
			fmt.Fprintln(std.Err, "vsecure admin:bootstrap: give exactly one of --stack and --function")
			return exitUsage
		}
		return adminBootstrap(ctx, stack, function, principal, breakGlass, env, std)
	}
}

// runCompanion runs this process's command line in vsecure-aws, with the
// same environment and standard streams (companion_unix.go replaces this
// process with it, so signals and the exit code are its own).
func runCompanion(ctx context.Context, what string, std stdio) int {
	path, err := findCompanion()
	if err != nil {
		fmt.Fprintf(std.Err, "vsecure %s: this build of vsecure leaves out the AWS SDK; the command runs in %s, "+
			"which is not next to vsecure nor on PATH (%v). Install it from the release archive, or build it: "+
			"go build -tags aws -o %s ./cmd/vsecure (or go install -tags aws for one vsecure that does everything)\n",
			what, companionName, err, companionName)
		return exitError
	}
	if err := execCompanion(ctx, path, std); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() >= 0 {
			return exit.ExitCode()
		}
		fmt.Fprintf(std.Err, "vsecure %s: %s: %v\n", what, path, err)
		return exitError
	}
	return exitOK
}

// findCompanion looks next to the running binary first, then on PATH.
func findCompanion() (string, error) {
	name := companionName
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return exec.LookPath(name)
}
