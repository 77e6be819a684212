package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/vsecure/vsecure/shared/client"
	"github.com/vsecure/vsecure/shared/mcpserver"
)

// mcpEnv is the --help environment paragraph of `vsecure mcp serve`.
const mcpEnv = `Environment:
  VSECURE_API_KEY    API key of the agent (required)
  VSECURE_API_URL    API base URL (default ` + client.DefaultBaseURL + `)
  VSECURE_LOG_LEVEL  debug, info, warn (default) or error; logs go to stderr`

func setupMCPServe(_ *flag.FlagSet, env func(string) string, std stdio) action {
	return func(ctx context.Context, _ []string) int { return runMCPServe(ctx, env, std) }
}

// runMCPServe serves MCP on stdin/stdout for a local agent (Claude
// Desktop spawns it). stdout carries only the protocol; diagnostics go to
// stderr, which MCP clients collect as the server's log.
func runMCPServe(ctx context.Context, env func(string) string, std stdio) int {
	key := env("VSECURE_API_KEY")
	if key == "" {
		fmt.Fprintln(std.Err, "vsecure mcp serve: VSECURE_API_KEY is not set; set it to the agent's API key (vsecure keys:create --principal NAME --role agent)")
		return 1
	}
	c, err := client.New(client.Config{BaseURL: orDefault(env("VSECURE_API_URL"), client.DefaultBaseURL), Key: key, UserAgent: "vsecure-mcp/" + version()})
	if err != nil {
		fmt.Fprintf(std.Err, "vsecure mcp serve: VSECURE_API_URL: %v\n", err)
		return 1
	}
	level := slog.LevelWarn
	if s := env("VSECURE_LOG_LEVEL"); s != "" {
		level = logLevel(s)
	}
	logger := slog.New(slog.NewTextHandler(std.Err, &slog.HandlerOptions{Level: level}))
	srv := mcpserver.New(c, mcpserver.Options{Version: version(), Logger: logger})
	t := &mcp.IOTransport{Reader: io.NopCloser(std.In), Writer: nopWriteCloser{std.Out}}
	if err := srv.Run(ctx, t); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, io.EOF) {
		fmt.Fprintf(std.Err, "vsecure mcp serve: %v\n", err)
		return 1
	}
	return 0
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
