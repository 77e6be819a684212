package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/vsecure/vsecure/shared/devserver/devtest"
	"github.com/vsecure/vsecure/shared/mcpserver"
)

const mcpbDir = "../../packaging/mcpb"

// bundleManifest is the part of packaging/mcpb/manifest.json the tests read.
type bundleManifest struct {
	ManifestVersion string `json:"manifest_version"`
	Server          struct {
		Type      string `json:"type"`
		MCPConfig struct {
			Command           string                              `json:"command"`
			Args              []string                            `json:"args"`
			Env               map[string]string                   `json:"env"`
			PlatformOverrides map[string]struct{ Command string } `json:"platform_overrides"`
		} `json:"mcp_config"`
	} `json:"server"`
	Tools      []bundleTool `json:"tools"`
	UserConfig map[string]struct {
		Type      string `json:"type"`
		Sensitive bool   `json:"sensitive"`
		Required  bool   `json:"required"`
	} `json:"user_config"`
}

type bundleTool struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

func readBundleManifest(t *testing.T) bundleManifest {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(mcpbDir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m bundleManifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	return m
}

// serverTools lists the tools of the real MCP server (the one `vsecure mcp
// serve` runs) over the protocol. Listing calls no backend.
func serverTools(t *testing.T) []bundleTool {
	t.Helper()
	ctx := context.Background()
	st, ct := mcp.NewInMemoryTransports()
	ss, err := mcpserver.New(nil, mcpserver.Options{}).Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ss.Close()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "manifest-test", Version: "1"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	var tools []bundleTool
	for tool, err := range cs.Tools(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		tools = append(tools, bundleTool{Name: tool.Name, Description: tool.Title})
	}
	return tools
}

// TestMCPBundleManifestTools keeps the bundle's tool list (what Claude
// Desktop shows before install) equal to the server's tools: names and
// titles (the server lists them by name).
func TestMCPBundleManifestTools(t *testing.T) {
	want := serverTools(t)
	got := readBundleManifest(t).Tools
	slices.SortFunc(got, func(a, b bundleTool) int { return strings.Compare(a.Name, b.Name) })
	if !slices.Equal(got, want) {
		b, _ := json.Marshal(want)
		t.Fatalf("packaging/mcpb/manifest.json lists tools %+v; the server has (paste as \"tools\"):\n%s", got, b)
	}
}

// TestMCPBundleManifestConfig: the key is a sensitive user_config field
// (Claude Desktop keeps it in the OS keychain) and reaches the server in
// the environment variables `vsecure mcp serve` reads.
func TestMCPBundleManifestConfig(t *testing.T) {
	m := readBundleManifest(t)
	mc := m.Server.MCPConfig
	if m.Server.Type != "binary" || !slices.Equal(mc.Args, []string{"mcp", "serve"}) {
		t.Fatalf("server %+v", m.Server)
	}
	if k := m.UserConfig["api_key"]; !k.Sensitive || !k.Required || k.Type != "string" {
		t.Fatalf("user_config.api_key %+v: must be a required, sensitive string", k)
	}
	if mc.Env["VSECURE_API_KEY"] != "${user_config.api_key}" || mc.Env["VSECURE_API_URL"] != "${user_config.api_url}" {
		t.Fatalf("mcp_config.env %v", mc.Env)
	}
	if got := mc.PlatformOverrides["win32"].Command; got != "${__dirname}/server/vsecure-windows-amd64.exe" {
		t.Fatalf("win32 command %q", got)
	}
}

// TestMCPBundle builds the bundle for this platform with the release's
// script (packaging/mcpb/build.sh: same manifest and layout, one binary),
// and runs testdata/tsclient/bundle.mjs: the mcpb library unpacks it and
// resolves mcp_config with user_config filled in, the official TypeScript
// SDK client spawns that against a running `vsecure dev`, lists the tools
// and reads a secret. Missing npm installs fail the test (make test-deps).
func TestMCPBundle(t *testing.T) {
	lib, _ := filepath.Abs(filepath.Join(mcpbDir, "node_modules", "@anthropic-ai", "mcpb", "dist", "index.js"))
	for _, f := range []string{lib, filepath.Join("testdata", "tsclient", "node_modules", "@modelcontextprotocol", "sdk", "package.json")} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("%v: run `make test-deps`", err)
		}
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is required for this test: %v", err)
	}
	tmp := t.TempDir()
	bundle := filepath.Join(tmp, "vsecure.mcpb")
	build := exec.Command(filepath.Join(mcpbDir, "build.sh"), bundle, runtime.GOOS+"/"+runtime.GOARCH)
	epoch := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	build.Env = append(os.Environ(), "VERSION=0.0.0-test", fmt.Sprintf("SOURCE_DATE_EPOCH=%d", epoch.Unix()))
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build.sh: %v\n%s", err, out)
	}
	checkBundleLayout(t, bundle, epoch)

	env := devtest.Start(t)
	unpacked := filepath.Join(tmp, "unpacked")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "bundle.mjs")
	cmd.Dir = filepath.Join("testdata", "tsclient")
	cmd.Env = append(os.Environ(), "MCPB_LIB="+lib, "MCPB_FILE="+bundle, "UNPACK_DIR="+unpacked,
		"BUNDLE_API_URL="+env.URL, "BUNDLE_API_KEY="+env.AgentKey, "UNGATED_URI="+devtest.StagingURI)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node bundle.mjs: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	var got struct {
		Command string
		Args    []string
		EnvKeys []string
		Server  struct{ Name, Version string }
		Tools   []string
		Read    struct {
			IsError    bool
			Structured map[string]any
		}
		InitializeMs float64
	}
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("bundle.mjs output %q: %v", stdout.String(), err)
	}
	if want := filepath.Join(unpacked, "server", "vsecure"); got.Command != want || !slices.Equal(got.Args, []string{"mcp", "serve"}) {
		t.Fatalf("resolved command %q %v, want %q mcp serve", got.Command, got.Args, want)
	}
	if !slices.Equal(got.EnvKeys, []string{"VSECURE_API_KEY", "VSECURE_API_URL"}) {
		t.Fatalf("resolved env keys %v", got.EnvKeys)
	}
	var names []string
	for _, tool := range readBundleManifest(t).Tools {
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	slices.Sort(got.Tools)
	if got.Server.Name != "vsecure" || !slices.Equal(got.Tools, names) {
		t.Fatalf("server %+v tools %v, manifest %v", got.Server, got.Tools, names)
	}
	if got.Read.IsError || got.Read.Structured["value"] != devtest.StagingValue {
		t.Fatalf("read_secret through the bundle: %+v", got.Read)
	}
	t.Logf("bundled server: spawn to initialized in %.1f ms", got.InitializeMs)
}

// checkBundleLayout: the zip holds the manifest, the launcher and this
// platform's binary, both executable (Claude Desktop restores zip modes),
// every entry at the release's time mtime rather than the time it was
// packed (the rest of reproducibility: cmd/internal/release TestRestampZip).
func checkBundleLayout(t *testing.T, bundle string, mtime time.Time) {
	t.Helper()
	zr, err := zip.OpenReader(bundle)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	modes := map[string]os.FileMode{}
	for _, f := range zr.File {
		modes[f.Name] = f.Mode()
		if !f.Modified.Equal(mtime) {
			t.Errorf("%s in the bundle: modified %v, want the release time %v", f.Name, f.Modified, mtime)
		}
	}
	for _, name := range []string{"server/vsecure", "server/vsecure-" + runtime.GOOS + "-" + runtime.GOARCH} {
		if m, ok := modes[name]; !ok || m.Perm()&0o111 == 0 {
			t.Fatalf("%s in the bundle: present %v, mode %v (all: %v)", name, ok, m, modes)
		}
	}
	if _, ok := modes["manifest.json"]; !ok {
		t.Fatalf("no manifest.json in the bundle: %v", modes)
	}
}

// BenchmarkColdStartBundle is BenchmarkColdStart through the bundle's
// launcher (server/vsecure, then the binary for this CPU): what Claude
// Desktop starts, process start to the initialize response.
func BenchmarkColdStartBundle(b *testing.B) {
	dir := b.TempDir()
	bundle := filepath.Join(dir, "vsecure.mcpb")
	if out, err := exec.Command(filepath.Join(mcpbDir, "build.sh"), bundle, runtime.GOOS+"/"+runtime.GOARCH).CombinedOutput(); err != nil {
		b.Fatalf("build.sh: %v\n%s", err, out)
	}
	zr, err := zip.OpenReader(bundle)
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			b.Fatal(err)
		}
		raw, err := io.ReadAll(rc)
		rc.Close()
		path := filepath.Join(dir, "unpacked", filepath.FromSlash(f.Name))
		if err == nil {
			err = os.MkdirAll(filepath.Dir(path), 0o755)
		}
		if err == nil {
			err = os.WriteFile(path, raw, f.Mode().Perm())
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	zr.Close()
	env := devtest.Start(b)
	launcher := filepath.Join(dir, "unpacked", "server", "vsecure")
	ds := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		s := startRaw(b, serveCmd(launcher, env, env.AgentKey))
		s.send(initLine)
		if res := s.recv(); res["result"] == nil {
			b.Fatalf("initialize: %v", res)
		}
		ds = append(ds, time.Since(start))
		s.close()
	}
	percentiles(b, ds)
}
