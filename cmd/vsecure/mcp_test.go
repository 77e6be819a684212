package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/vsecure/vsecure/shared/devserver/devtest"
	"github.com/vsecure/vsecure/shared/mcpserver"
)

func buildBinary(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "vsecure")
	goBuild(tb, bin)
	return bin
}

func serveCmd(bin string, env *devtest.Env, key string) *exec.Cmd {
	cmd := exec.Command(bin, "mcp", "serve")
	cmd.Env = append(os.Environ(), "VSECURE_API_URL="+env.URL, "VSECURE_API_KEY="+key)
	return cmd
}

func TestMCPServeStdio(t *testing.T) {
	env := devtest.Start(t)
	bin := buildBinary(t)
	ctx := context.Background()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "stdio-test", Version: "1"}, nil).
		Connect(ctx, &mcp.CommandTransport{Command: serveCmd(bin, env, env.AgentKey)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if got := cs.InitializeResult().ServerInfo.Name; got != "vsecure" {
		t.Fatalf("server name %q", got)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "read_secret", Arguments: map[string]any{"uri": devtest.StagingURI, "reason": "stdio"}})
	if err != nil || res.IsError || !strings.Contains(res.Content[0].(*mcp.TextContent).Text, devtest.StagingValue) {
		t.Fatalf("read: %v %+v", err, res)
	}
	begin := time.Now()
	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "read_secret", Arguments: map[string]any{"uri": devtest.ProductionURI, "reason": "stdio"}})
	if err != nil || res.IsError || time.Since(begin) > time.Second {
		t.Fatalf("gated read: %v %+v after %v", err, res, time.Since(begin))
	}
	b, _ := json.Marshal(res.StructuredContent)
	if !bytes.Contains(b, []byte(`"status":"approval_pending"`)) || bytes.Contains(b, []byte(devtest.ProductionValue)) {
		t.Fatalf("gated read result %s", b)
	}
	rr, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: devtest.StagingURI})
	if err != nil || rr.Contents[0].Text != devtest.StagingValue {
		t.Fatalf("resources/read: %v", err)
	}
}

func TestMCPServeMissingKey(t *testing.T) {
	bin := buildBinary(t)
	cmd := exec.Command(bin, "mcp", "serve")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() == 0 {
		t.Fatalf("exit: %v", err)
	}
	if stdout.Len() != 0 || !strings.Contains(stderr.String(), "VSECURE_API_KEY is not set") {
		t.Fatalf("stdout %q stderr %q", stdout.String(), stderr.String())
	}
}

// rawSession drives `vsecure mcp serve` with hand-written JSON-RPC lines.
type rawSession struct {
	cmd   *exec.Cmd
	stdin interface{ Close() error }
	in    *bufio.Writer
	out   *bufio.Scanner
	t     testing.TB
}

func startRaw(tb testing.TB, cmd *exec.Cmd) *rawSession {
	tb.Helper()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	s := &rawSession{cmd: cmd, stdin: stdin, in: bufio.NewWriter(stdin), out: sc, t: tb}
	tb.Cleanup(func() { s.close() })
	return s
}

// close ends the session (EOF on stdin) and waits for the process.
func (s *rawSession) close() error {
	s.stdin.Close()
	for s.out.Scan() {
	}
	return s.cmd.Wait()
}

func (s *rawSession) send(line string) {
	s.t.Helper()
	s.in.WriteString(line + "\n")
	if err := s.in.Flush(); err != nil {
		s.t.Fatal(err)
	}
}

// recv reads the next stdout line; every line must be a JSON-RPC message.
func (s *rawSession) recv() map[string]any {
	s.t.Helper()
	if !s.out.Scan() {
		s.t.Fatalf("stdout closed: %v", s.out.Err())
	}
	var m map[string]any
	if err := json.Unmarshal(s.out.Bytes(), &m); err != nil || m["jsonrpc"] != "2.0" {
		s.t.Fatalf("stdout carried a non-protocol line: %q", s.out.Text())
	}
	return m
}

const initLine = `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`

func TestMCPServeStdoutIsProtocolOnly(t *testing.T) {
	env := devtest.Start(t)
	bin := buildBinary(t)
	cmd := serveCmd(bin, env, env.AgentKey)
	cmd.Env = append(cmd.Env, "VSECURE_LOG_LEVEL=debug")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	s := startRaw(t, cmd)
	s.send(initLine)
	if res := s.recv(); res["result"] == nil {
		t.Fatalf("initialize: %v", res)
	}
	s.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	s.send(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_secret","arguments":{"uri":"` + devtest.ProductionURI + `","reason":"x"}}}`)
	s.recv()
	s.send(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"read_secret","arguments":{"uri":"` + devtest.StagingURI + `","reason":"x"}}}`)
	s.recv()
	s.send(`{"jsonrpc":"2.0","id":3,"method":"no/such/method"}`)
	if res := s.recv(); res["error"] == nil {
		t.Fatalf("unknown method: %v", res)
	}
	if err := s.close(); err != nil {
		t.Fatalf("mcp serve exited with %v on EOF", err)
	}
	// Debug logs went to stderr and never carry the secret value or key.
	if strings.Contains(stderr.String(), devtest.StagingValue) || strings.Contains(stderr.String(), env.AgentKey) {
		t.Fatalf("stderr leaks a secret: %s", stderr.String())
	}
}

// TestTypeScriptClient: the official TypeScript SDK client spawns
// `vsecure mcp serve` against a running local server. Its node_modules
// come from `make tsclient` (npm ci of the pinned lockfile); a missing
// install fails the test rather than skipping it.
func TestTypeScriptClient(t *testing.T) {
	dir := filepath.Join("testdata", "tsclient")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@modelcontextprotocol", "sdk", "package.json")); err != nil {
		t.Fatalf("the TypeScript MCP SDK is not installed (%v): run `make tsclient` (npm ci --prefix cmd/vsecure/testdata/tsclient)", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is required for this test: %v", err)
	}
	env := devtest.Start(t)
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "client.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "VSECURE_BIN="+bin, "VSECURE_API_URL="+env.URL, "VSECURE_API_KEY="+env.AgentKey,
		"UNGATED_URI="+devtest.StagingURI, "GATED_URI="+devtest.ProductionURI)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node client.mjs: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	var got struct {
		Server         struct{ Name string }
		Tools          []string
		Ungated, Gated struct {
			IsError    bool
			Structured map[string]any
			Meta       map[string]any
		}
		Resources []string
		Templates []string
	}
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("client output %q: %v", stdout.String(), err)
	}
	want := []string{"audit_log", "get_approval", "list_approvals", "list_resources", "read_secret", "request_approval", "write_secret"}
	sort.Strings(got.Tools)
	if got.Server.Name != "vsecure" || !slices.Equal(got.Tools, want) {
		t.Fatalf("server %q tools %v", got.Server.Name, got.Tools)
	}
	if got.Ungated.IsError || got.Ungated.Structured["value"] != devtest.StagingValue || got.Ungated.Meta[mcpserver.SensitiveMeta] != true {
		t.Fatalf("ungated read %+v", got.Ungated)
	}
	ap, _ := got.Gated.Structured["approval"].(map[string]any)
	if got.Gated.IsError || got.Gated.Structured["status"] != "approval_pending" || ap["approvalId"] == nil || ap["approvalUrl"] == nil || ap["expiresAt"] == nil {
		t.Fatalf("gated read %+v", got.Gated)
	}
	if len(got.Resources) != 2 || len(got.Templates) != 3 {
		t.Fatalf("resources %v templates %v", got.Resources, got.Templates)
	}
}

// percentiles reports p50 and p99 of ds as benchmark metrics.
func percentiles(b *testing.B, ds []time.Duration) {
	slices.Sort(ds)
	at := func(p float64) float64 {
		return float64(ds[min(len(ds)-1, int(p*float64(len(ds))))].Microseconds()) / 1000
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkReadSecretStdio measures read_secret tool calls through the
// built binary over stdio against a local server (make bench).
func BenchmarkReadSecretStdio(b *testing.B) {
	env := devtest.Start(b)
	bin := buildBinary(b)
	ctx := context.Background()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1"}, nil).
		Connect(ctx, &mcp.CommandTransport{Command: serveCmd(bin, env, env.AgentKey)}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer cs.Close()
	p := &mcp.CallToolParams{Name: "read_secret", Arguments: map[string]any{"uri": devtest.StagingURI, "reason": "bench"}}
	ds := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		res, err := cs.CallTool(ctx, p)
		if err != nil || res.IsError {
			b.Fatalf("%v %+v", err, res)
		}
		ds = append(ds, time.Since(start))
	}
	percentiles(b, ds)
}

// BenchmarkReadSecretPendingStdio measures a gated read that answers
// approval_pending (list + re-use of the pending request).
func BenchmarkReadSecretPendingStdio(b *testing.B) {
	env := devtest.Start(b)
	bin := buildBinary(b)
	ctx := context.Background()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1"}, nil).
		Connect(ctx, &mcp.CommandTransport{Command: serveCmd(bin, env, env.AgentKey)}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer cs.Close()
	p := &mcp.CallToolParams{Name: "read_secret", Arguments: map[string]any{"uri": devtest.ProductionURI, "reason": "bench"}}
	ds := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if res, err := cs.CallTool(ctx, p); err != nil || res.IsError {
			b.Fatalf("%v %+v", err, res)
		}
		ds = append(ds, time.Since(start))
	}
	percentiles(b, ds)
}

// BenchmarkColdStart measures process start of `vsecure mcp serve` to its
// initialize response.
func BenchmarkColdStart(b *testing.B) {
	env := devtest.Start(b)
	bin := buildBinary(b)
	ds := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		s := startRaw(b, serveCmd(bin, env, env.AgentKey))
		s.send(initLine)
		if res := s.recv(); res["result"] == nil {
			b.Fatalf("initialize: %v", res)
		}
		ds = append(ds, time.Since(start))
		s.close()
	}
	percentiles(b, ds)
}
