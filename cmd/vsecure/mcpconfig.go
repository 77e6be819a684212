package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/vsecure/vsecure/shared/client"
)

// mcpConfigEnv is the --help environment paragraph of `vsecure mcp config`.
const mcpConfigEnv = `Environment:
  VSECURE_API_URL  the URL the entry names (default ` + client.DefaultBaseURL + `; --url overrides)
  VSECURE_API_KEY  only for --client claude-desktop --write, which can only store the key in plaintext`

// serverName is the entry's name in every client's file.
const serverName = "vsecure"

// mcpClient is how one MCP client's config file holds a server entry.
type mcpClient struct {
	// root is the top-level object that maps server names to entries.
	root string
	// keyRef is what the entry's VSECURE_API_KEY holds: a reference the
	// client resolves at start, or "" when the client only takes the key
	// itself (plaintext in the file).
	keyRef string
	// stdioType: the client's format names the transport ("type": "stdio").
	stdioType bool
	// vscodeInput: the key is a VS Code input (promptString, password),
	// asked once and kept in VS Code's secret storage.
	vscodeInput bool
	// path is the default config file (--config overrides).
	path func(goos string, env func(string) string) string
	// note is printed on stderr: what the user still has to do.
	note string
}

// vscodeKeyInput is the id of the VS Code input that holds the key.
const vscodeKeyInput = "vsecure-key"

// keyPlaceholder stands for the key where printing it would leak it.
const keyPlaceholder = "vsk_REPLACE_WITH_THE_AGENT_KEY"

var mcpClients = map[string]mcpClient{
	// Claude Desktop resolves no references in its JSON file and starts
	// servers without the user's shell environment: the key is either in
	// the file or, with the bundle, in the OS keychain.
	"claude-desktop": {
		root: "mcpServers",
		path: func(goos string, env func(string) string) string {
			switch goos {
			case "darwin":
				return filepath.Join(env("HOME"), "Library", "Application Support", "Claude", "claude_desktop_config.json")
			case "windows":
				return filepath.Join(env("APPDATA"), "Claude", "claude_desktop_config.json")
			}
			return filepath.Join(xdgConfig(env), "Claude", "claude_desktop_config.json")
		},
		note: "Recommended instead: the vsecure bundle (vsecure.mcpb from the release, or `make mcpb`). Open it with\n" +
			"Claude Desktop (double-click it, or Settings → Extensions → Install Extension…); it asks for the API URL and\n" +
			"the agent key and keeps the key in the OS keychain, not in this file.",
	},
	// Claude Code expands ${VAR} in .mcp.json (command, args, env, url,
	// headers) from the environment it was started in.
	"claude-code": {
		root: "mcpServers", keyRef: "${VSECURE_API_KEY}", stdioType: true,
		path: func(string, func(string) string) string { return ".mcp.json" },
		note: "Claude Code reads VSECURE_API_KEY from the environment it starts in: export VSECURE_API_KEY=vsk_… (the agent's key)\n" +
			"before `claude`. The file names no key, so a project can commit it.",
	},
	// Cursor resolves ${env:NAME} in mcp.json.
	"cursor": {
		root: "mcpServers", keyRef: "${env:VSECURE_API_KEY}",
		path: func(_ string, env func(string) string) string {
			return filepath.Join(env("HOME"), ".cursor", "mcp.json")
		},
		note: "Cursor reads VSECURE_API_KEY from its environment: set it (the agent's key) where Cursor is started.",
	},
	// VS Code asks for an input the first time the server starts and keeps
	// the answer in its secret storage.
	"vscode": {
		root: "servers", keyRef: "${input:" + vscodeKeyInput + "}", stdioType: true, vscodeInput: true,
		path: func(string, func(string) string) string { return filepath.Join(".vscode", "mcp.json") },
		note: "VS Code asks for the agent key when it first starts the server (a password prompt) and keeps it in its\n" +
			"secret storage. For every workspace, put the entry in your user mcp.json instead (--config PATH).",
	},
}

func clientNames() []string {
	var names []string
	for n := range mcpClients {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func xdgConfig(env func(string) string) string {
	if d := env("XDG_CONFIG_HOME"); d != "" {
		return d
	}
	return filepath.Join(env("HOME"), ".config")
}

// serverEntry is one server in a client's file; fields in the order people
// read them.
type serverEntry struct {
	Type    string            `json:"type,omitempty"`
	Command string            `json:"command"`
	Args    []string          `json:"args"`
	Env     map[string]string `json:"env"`
}

type vscodeInput struct {
	Type        string `json:"type"`
	ID          string `json:"id"`
	Description string `json:"description"`
	Password    bool   `json:"password"`
}

func (c mcpClient) entry(command, url, key string) serverEntry {
	e := serverEntry{Command: command, Args: []string{"mcp", "serve"}, Env: map[string]string{"VSECURE_API_URL": url, "VSECURE_API_KEY": key}}
	if c.stdioType {
		e.Type = "stdio"
	}
	return e
}

func (c mcpClient) input() vscodeInput {
	return vscodeInput{Type: "promptString", ID: vscodeKeyInput, Description: "vsecure agent API key (vsk_…)", Password: true}
}

func setupMCPConfig(fs *flag.FlagSet, env func(string) string, std stdio) action {
	name := fs.String("client", "", "claude-desktop, claude-code, cursor or vscode (required)")
	write := fs.Bool("write", false, "merge the entry into the client's config file (the old file is kept as FILE.bak-TIMESTAMP)")
	force := fs.Bool("force", false, "with --write: replace an existing vsecure entry")
	path := fs.String("config", "", "the config file (default: the client's usual file, see below)")
	url := fs.String("url", "", "API URL the server talks to (default $VSECURE_API_URL, else "+client.DefaultBaseURL+")")
	command := fs.String("command", "", "the vsecure binary the client starts (default: this one's absolute path)")
	return func(_ context.Context, _ []string) int {
		c, ok := mcpClients[*name]
		if !ok {
			fmt.Fprintf(std.Err, "vsecure mcp config: --client must be one of %s\n", strings.Join(clientNames(), ", "))
			return exitUsage
		}
		if *force && !*write {
			fmt.Fprintln(std.Err, "vsecure mcp config: --force only applies with --write")
			return exitUsage
		}
		cmd := *command
		if cmd == "" {
			exe, err := os.Executable()
			if err == nil {
				exe, err = filepath.EvalSymlinks(exe)
			}
			if err != nil {
				fmt.Fprintf(std.Err, "vsecure mcp config: %v (give --command)\n", err)
				return exitError
			}
			cmd = exe
		}
		u := orDefault(*url, orDefault(env("VSECURE_API_URL"), client.DefaultBaseURL))
		key := c.keyRef
		if key == "" {
			// Only plaintext is possible: never print the key, write it
			// only when asked to.
			key = keyPlaceholder
			if *write {
				if key = env("VSECURE_API_KEY"); key == "" {
					fmt.Fprintf(std.Err, "vsecure mcp config: --client %s stores the key in the file: set VSECURE_API_KEY to the agent's key\n%s\n", *name, c.note)
					return exitUsage
				}
			}
			fmt.Fprintf(std.Err, "warning: %s cannot read the key from anywhere but its config file: the entry holds the agent key in plaintext.\n", *name)
		}
		e := c.entry(cmd, u, key)
		if !*write {
			doc, err := mergeEntry(nil, c, e, false)
			if err != nil {
				fmt.Fprintf(std.Err, "vsecure mcp config: %v\n", err)
				return exitError
			}
			std.Out.Write(doc)
			fmt.Fprintln(std.Err, c.note)
			return exitOK
		}
		file := *path
		if file == "" {
			file = c.path(runtime.GOOS, env)
		}
		backup, err := writeEntry(file, c, e, *force, time.Now())
		if err != nil {
			fmt.Fprintf(std.Err, "vsecure mcp config: %s: %v\n", file, err)
			return exitError
		}
		fmt.Fprintf(std.Out, "wrote the %s entry to %s\n", serverName, file)
		if backup != "" {
			fmt.Fprintf(std.Out, "the previous file is %s\n", backup)
		}
		fmt.Fprintln(std.Err, c.note)
		return exitOK
	}
}

// errEntryExists: the file has a vsecure entry and --force was not given.
var errEntryExists = errors.New("already has a " + serverName + " entry; --force replaces it")

// writeEntry merges e into file: the old file is copied to
// file.bak-TIMESTAMP first, the new one replaces it by rename, so a crash
// leaves one or the other. A new file is private (it may hold a key).
func writeEntry(file string, c mcpClient, e serverEntry, force bool, now time.Time) (backup string, err error) {
	old, err := os.ReadFile(file)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	doc, err := mergeEntry(old, c, e, force)
	if err != nil {
		return "", err
	}
	mode := os.FileMode(0o600)
	if st, err := os.Stat(file); err == nil {
		mode = st.Mode().Perm()
		backup = file + ".bak-" + now.UTC().Format("20060102T150405Z")
		if err := os.WriteFile(backup, old, mode); err != nil {
			return "", err
		}
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), filepath.Base(file)+".tmp-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(doc); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	return backup, os.Rename(tmp.Name(), file)
}

// member is one key of a JSON object, its value as it was written.
type member struct {
	key   string
	value json.RawMessage
}

// mergeEntry returns old (a client's config file, empty for none) with the
// vsecure entry set in c.root, and for VS Code the key input in "inputs".
// Other keys and entries keep their order and content; the document is
// re-indented with two spaces. A file that is not one JSON object (VS Code
// allows comments) is refused rather than rewritten.
func mergeEntry(old []byte, c mcpClient, e serverEntry, force bool) ([]byte, error) {
	var doc []member
	if len(bytes.TrimSpace(old)) > 0 {
		var err error
		if doc, err = parseObject(old); err != nil {
			return nil, fmt.Errorf("not a plain JSON object (%v): add the entry by hand (vsecure mcp config prints it)", err)
		}
	}
	servers, err := objectAt(doc, c.root)
	if err != nil {
		return nil, err
	}
	if i := indexOf(servers, serverName); i >= 0 && !force {
		return nil, errEntryExists
	}
	servers = set(servers, serverName, mustMarshal(e))
	if c.vscodeInput {
		var inputs []json.RawMessage
		if i := indexOf(doc, "inputs"); i >= 0 {
			if err := json.Unmarshal(doc[i].value, &inputs); err != nil {
				return nil, fmt.Errorf("inputs: %v", err)
			}
		}
		inputs = slices.DeleteFunc(inputs, func(raw json.RawMessage) bool {
			var in struct{ ID string }
			return json.Unmarshal(raw, &in) == nil && in.ID == vscodeKeyInput
		})
		doc = set(doc, "inputs", mustMarshal(append(inputs, mustMarshal(c.input()))))
	}
	doc = set(doc, c.root, encodeObject(servers))
	var out bytes.Buffer
	if err := json.Indent(&out, encodeObject(doc), "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// parseObject reads one JSON object, keeping its keys in order.
func parseObject(raw []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("expected an object")
	}
	var ms []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		ms = append(ms, member{key: tok.(string), value: v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("content after the object")
	}
	return ms, nil
}

// objectAt returns the object under key in doc (none: empty).
func objectAt(doc []member, key string) ([]member, error) {
	i := indexOf(doc, key)
	if i < 0 || string(doc[i].value) == "null" {
		return nil, nil
	}
	ms, err := parseObject(doc[i].value)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", key, err)
	}
	return ms, nil
}

func indexOf(ms []member, key string) int {
	return slices.IndexFunc(ms, func(m member) bool { return m.key == key })
}

// set replaces key's value in place, or appends it.
func set(ms []member, key string, v json.RawMessage) []member {
	if i := indexOf(ms, key); i >= 0 {
		ms[i].value = v
		return ms
	}
	return append(ms, member{key: key, value: v})
}

func encodeObject(ms []member) json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range ms {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(mustMarshal(m.key))
		b.WriteByte(':')
		b.Write(m.value)
	}
	b.WriteByte('}')
	return b.Bytes()
}

func mustMarshal(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own types and strings
	}
	return b
}
