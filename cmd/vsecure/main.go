// Command vsecure is the secrets gate's command line: the local server
// (`vsecure dev`), the MCP stdio server (`vsecure mcp serve`) and the
// client commands people run against a server.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one subcommand. run returns the process exit code.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, env func(string) string, stdio stdio) int
}

// stdio is a command's standard streams. For `mcp serve`, In and Out are
// the MCP protocol: nothing else may write to Out.
type stdio struct {
	In       io.Reader
	Out, Err io.Writer
}

// commandTable lists every subcommand. "mcp serve" style names are
// dispatched from their first two words.
func commandTable() map[string]command {
	return map[string]command{
		"dev":             {"run the local server on its embedded store", runDev},
		"admin:bootstrap": {"mint a deployed stack's first admin key with your AWS credentials", runAdminBootstrap},
		"mcp serve":       {"MCP server on stdio for Claude Desktop and other agents", runMCPServe},
		"mcp:resources":   {"list resource policies", runResources},
		"mcp:configure":   {"create or replace resource policies from a JSON file", runConfigure},
		"mcp:approve":     {"request approval for an operation on a resource", runApprove},
		"mcp:approvals":   {"list approval requests", runApprovals},
		"mcp:respond":     {"approve or deny an approval request", runRespond},
		"mcp:revoke":      {"end access granted by an approval", runRevoke},
		"mcp:audit":       {"query the audit log", runAudit},
		"audit:verify":    {"check the audit log (or an export, offline) against its signed digests; names tampered entries", runAuditVerify},
		"audit:export":    {"write the audit log and its digests as JSON lines, for offline verification", runAuditExport},
		"secrets:put":     {"write a new version of a secret (value from stdin or --value)", runSecretPut},
		"secrets:get":     {"print a secret's value", runSecretGet},
		"secrets:list":    {"list secrets you may use (never values)", runSecretList},
		"keys:create":     {"create an API key for a principal", runKeyCreate},
		"keys:list":       {"list API keys (never their secrets)", runKeyList},
		"keys:revoke":     {"revoke an API key", runKeyRevoke},
		"keys:rotate":     {"replace an API key, keeping the old one for an overlap", runKeyRotate},
		"keys:slack":      {"map a key's principal to a Slack user for Slack approvals", runKeySlack},
		"whoami":          {"show who your API key makes you (principal, roles, key)", runWhoami},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, stdio{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, env func(string) string, std stdio) int {
	stdout, stderr := std.Out, std.Err
	if len(args) == 0 || args[0] == "help" || args[0] == "--help" || args[0] == "-h" {
		usage(stdout)
		return 0
	}
	name := args[0]
	if name == "mcp" && len(args) > 1 {
		name, args = "mcp "+args[1], args[1:]
	}
	commands := commandTable()
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "vsecure: unknown command %q (run `vsecure help`)\n", args[0])
		return 2
	}
	return c.run(ctx, args[1:], env, std)
}

func usage(w io.Writer) {
	commands := commandTable()
	fmt.Fprintln(w, "vsecure — a secrets gate for AI agents")
	fmt.Fprintln(w, "\nUsage: vsecure <command> [flags]   (vsecure <command> --help for flags)")
	fmt.Fprintln(w, "\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-18s %s\n", n, commands[n].summary)
	}
}
