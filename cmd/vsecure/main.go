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
	"strings"
	"syscall"
)

// stdio is a command's standard streams. For `mcp serve`, In and Out are
// the MCP protocol: nothing else may write to Out.
type stdio struct {
	In       io.Reader
	Out, Err io.Writer
}

// commandTable is commands by name.
func commandTable() map[string]command {
	t := map[string]command{}
	for _, c := range commands() {
		t[c.name] = c
	}
	return t
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, stdio{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, env func(string) string, std stdio) int {
	if len(args) == 0 || isHelp(args[0]) {
		usage(std.Out, "<command>", "")
		return exitOK
	}
	name, args := args[0], args[1:]
	if name == "--version" || name == "-version" {
		name = "version"
	}
	if name == "mcp" {
		// `vsecure mcp` alone is a group: its help lists mcp serve and the
		// mcp:* commands.
		if len(args) == 0 {
			usage(std.Err, mcpSynopsis, "mcp")
			return exitUsage
		}
		if isHelp(args[0]) {
			usage(std.Out, mcpSynopsis, "mcp")
			return exitOK
		}
		name, args = "mcp "+args[0], args[1:]
	}
	c, ok := commandTable()[name]
	if !ok {
		fmt.Fprintf(std.Err, "vsecure: unknown command %q (run `vsecure help`)\n", name)
		return exitUsage
	}
	return c.run(ctx, args, env, std)
}

func isHelp(arg string) bool {
	return arg == "help" || arg == "--help" || arg == "-help" || arg == "-h"
}

const mcpSynopsis = "mcp serve | vsecure mcp:<command>"

// usage lists the commands whose names start with prefix, in the table's
// order.
func usage(w io.Writer, synopsis, prefix string) {
	fmt.Fprintln(w, "vsecure — a secrets gate for AI agents")
	fmt.Fprintf(w, "\nUsage: vsecure %s [flags]   (vsecure <command> --help for flags)\n", synopsis)
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range commands() {
		if strings.HasPrefix(c.name, prefix) {
			fmt.Fprintf(w, "  %-18s %s\n", c.name, c.summary)
		}
	}
}
