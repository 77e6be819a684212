package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var backupStamp = regexp.MustCompile(`\.bak-\d{8}T\d{6}Z`)

// TestMCPConfigGolden pins each client's format, printed and merged into
// an existing file (testdata/mcpconfig/*.golden; UPDATE_GOLDEN=1 rewrites).
// The golden shows stdout, stderr and the file afterwards; CONFIG stands
// for the file's path.
func TestMCPConfigGolden(t *testing.T) {
	const url = "https://vsecure.example.com"
	otherDesktop := `{"globalShortcut": "Ctrl+Space", "mcpServers": {"github": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-github"]}}}`
	otherVSCode := `{
  "inputs": [{"type": "promptString", "id": "gh-token", "description": "GitHub token", "password": true}],
  "servers": {"github": {"type": "http", "url": "https://api.githubcopilot.com/mcp/"}}
}`
	withVsecure := `{"mcpServers": {"vsecure": {"command": "/old/vsecure", "args": ["mcp", "serve"]}, "other": {"command": "x"}}}`
	cases := []struct {
		name   string
		args   []string
		file   string // the config file before; "" for none
		apiKey string // VSECURE_API_KEY in the environment
	}{
		{name: "claude-desktop", args: []string{"--client", "claude-desktop"}},
		{name: "claude-code", args: []string{"--client", "claude-code"}},
		{name: "cursor", args: []string{"--client", "cursor"}},
		{name: "vscode", args: []string{"--client", "vscode"}},
		{name: "unknown-client", args: []string{"--client", "emacs"}},
		{name: "force-needs-write", args: []string{"--client", "cursor", "--force"}},
		{name: "claude-desktop-write-merges", args: []string{"--client", "claude-desktop", "--write"}, file: otherDesktop, apiKey: "vsk_agent"},
		{name: "claude-desktop-write-needs-key", args: []string{"--client", "claude-desktop", "--write"}, file: otherDesktop},
		{name: "claude-code-write-new-file", args: []string{"--client", "claude-code", "--write"}},
		{name: "cursor-write-refuses-existing", args: []string{"--client", "cursor", "--write"}, file: withVsecure},
		{name: "cursor-write-force-replaces", args: []string{"--client", "cursor", "--write", "--force"}, file: withVsecure},
		{name: "vscode-write-merges-inputs", args: []string{"--client", "vscode", "--write"}, file: otherVSCode},
		{name: "vscode-write-refuses-comments", args: []string{"--client", "vscode", "--write"}, file: "{\n  // mine\n  \"servers\": {}\n}\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "sub", "config.json")
			if tc.file != "" {
				if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(file, []byte(tc.file), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			args := append([]string{"mcp", "config", "--command", "/usr/local/bin/vsecure", "--url", url, "--config", file}, tc.args...)
			env := map[string]string{"VSECURE_API_KEY": tc.apiKey}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), args, func(k string) string { return env[k] }, stdio{In: strings.NewReader(""), Out: &stdout, Err: &stderr})
			var got strings.Builder
			fmt.Fprintf(&got, "$ vsecure %s\nexit %d\n--- stdout\n%s--- stderr\n%s", strings.Join(args, " "), code, stdout.String(), stderr.String())
			if after, err := os.ReadFile(file); err == nil {
				fmt.Fprintf(&got, "--- CONFIG\n%s", after)
			}
			out := strings.ReplaceAll(got.String(), file, "CONFIG")
			out = backupStamp.ReplaceAllString(out, ".bak-TIMESTAMP")
			golden(t, filepath.Join("testdata", "mcpconfig", tc.name+".golden"), out)
		})
	}
}

// TestMCPConfigWriteBackup: --write keeps the old file next to the new one
// and keeps its mode; a refused write leaves the file and makes no backup;
// a new file is private, since for Claude Desktop it holds the key.
func TestMCPConfigWriteBackup(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "mcp.json")
	old := `{"mcpServers": {"other": {"command": "x"}}}`
	if err := os.WriteFile(file, []byte(old), 0o640); err != nil {
		t.Fatal(err)
	}
	write := func(extra ...string) int {
		var out, errOut bytes.Buffer
		args := append([]string{"mcp", "config", "--client", "cursor", "--command", "vsecure", "--write", "--config", file}, extra...)
		return run(context.Background(), args, func(string) string { return "" }, stdio{In: strings.NewReader(""), Out: &out, Err: &errOut})
	}
	if code := write(); code != 0 {
		t.Fatalf("first write: exit %d", code)
	}
	backups, _ := filepath.Glob(file + ".bak-*")
	if len(backups) != 1 {
		t.Fatalf("backups %v", backups)
	}
	if b, _ := os.ReadFile(backups[0]); string(b) != old {
		t.Fatalf("backup holds %q", b)
	}
	if st, _ := os.Stat(file); st.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v after the merge, want the old file's 0640", st.Mode().Perm())
	}
	merged, _ := os.ReadFile(file)
	if code := write(); code != exitError {
		t.Fatalf("second write without --force: exit %d", code)
	}
	if b, _ := os.ReadFile(file); !bytes.Equal(b, merged) {
		t.Fatalf("a refused write changed the file")
	}
	if after, _ := filepath.Glob(file + ".bak-*"); len(after) != 1 {
		t.Fatalf("a refused write made a backup: %v", after)
	}

	fresh := filepath.Join(dir, "new", "claude_desktop_config.json")
	var out, errOut bytes.Buffer
	args := []string{"mcp", "config", "--client", "claude-desktop", "--command", "vsecure", "--write", "--config", fresh}
	env := func(k string) string { return map[string]string{"VSECURE_API_KEY": "vsk_agent"}[k] }
	if code := run(context.Background(), args, env, stdio{In: strings.NewReader(""), Out: &out, Err: &errOut}); code != 0 {
		t.Fatalf("claude-desktop write: exit %d %s", code, errOut.String())
	}
	if st, err := os.Stat(fresh); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("new file %v mode %v, want 0600", err, st.Mode())
	}
}

func TestMCPConfigDefaultPaths(t *testing.T) {
	env := func(k string) string {
		return map[string]string{"HOME": "/home/u", "APPDATA": `C:\Users\u\AppData\Roaming`}[k]
	}
	cases := []struct{ client, goos, want string }{
		{"claude-desktop", "darwin", "/home/u/Library/Application Support/Claude/claude_desktop_config.json"},
		{"claude-desktop", "linux", "/home/u/.config/Claude/claude_desktop_config.json"},
		{"claude-desktop", "windows", filepath.Join(`C:\Users\u\AppData\Roaming`, "Claude", "claude_desktop_config.json")},
		{"claude-code", "linux", ".mcp.json"},
		{"cursor", "darwin", "/home/u/.cursor/mcp.json"},
		{"vscode", "linux", filepath.Join(".vscode", "mcp.json")},
	}
	for _, tc := range cases {
		if got := mcpClients[tc.client].path(tc.goos, env); got != tc.want {
			t.Errorf("%s on %s: %q, want %q", tc.client, tc.goos, got, tc.want)
		}
	}
}
