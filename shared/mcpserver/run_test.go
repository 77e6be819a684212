package mcpserver

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/vsecure/vsecure/shared/mask"
)

const (
	stagingURI = "vsecure://secrets/staging/API_TOKEN"
	prodURI    = "vsecure://secrets/production/DATABASE_URL"
)

func startRun(t *testing.T) *harness {
	t.Helper()
	allow, err := Allowlist([]string{"/bin/sh"})
	if err != nil {
		t.Fatal(err)
	}
	return startWith(t, Options{AllowCommands: allow})
}

// raw is the whole result as the client received it, for asserting that
// a value appears nowhere in it.
func raw(t *testing.T, res *mcp.CallToolResult) string {
	t.Helper()
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRunWithSecretsOfferedOnlyWithAnAllowlist(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  Options
		offer bool
		says  string
	}{
		{"no_allowlist", Options{}, false, "allowlisted no command"},
		{"remote_reason", Options{NoRunReason: "not on the remote endpoint"}, false, "not on the remote endpoint"},
		{"allowlist", Options{AllowCommands: []string{"/bin/sh"}}, true, "Prefer run_with_secrets"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startWith(t, tc.opts)
			res, err := h.cs.ListTools(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			offered := slices.ContainsFunc(res.Tools, func(tool *mcp.Tool) bool { return tool.Name == "run_with_secrets" })
			if offered != tc.offer {
				t.Fatalf("run_with_secrets offered %v, want %v", offered, tc.offer)
			}
			if got := h.cs.InitializeResult().Instructions; !strings.Contains(got, tc.says) {
				t.Fatalf("instructions %q lack %q", got, tc.says)
			}
		})
	}
}

func TestRunWithSecrets(t *testing.T) {
	t.Run("masked_output_and_exit_code", func(t *testing.T) {
		h := startRun(t)
		res, out := h.call(t, "run_with_secrets", map[string]any{
			"command": "/bin/sh", "args": []string{"-c", `echo "$TOKEN"; printf %s "$TOKEN" | od -An -tx1 | tr -d ' \n'; echo; echo "$TOKEN" >&2; exit 4`},
			"env": map[string]string{"TOKEN": stagingURI},
		})
		if res.IsError || out["status"] != "ok" || out["exitCode"] != float64(4) {
			t.Fatalf("%s", raw(t, res))
		}
		if strings.Count(out["output"].(string), mask.Mask) != 3 {
			t.Fatalf("output %q: want three masks", out["output"])
		}
		for _, p := range mask.Patterns("stg-token") {
			if strings.Contains(raw(t, res), p) {
				t.Fatalf("the result shows %q: %s", p, raw(t, res))
			}
		}
		if u := h.api.uses[0]; u.Command != "/bin/sh" || u.Host == "" {
			t.Fatalf("use %+v", u)
		}
	})
	t.Run("only_allowlisted_paths_run", func(t *testing.T) {
		h := startRun(t)
		for _, c := range []string{"sh", "/usr/bin/env", "/bin/sh -c id", ""} {
			res, _ := h.call(t, "run_with_secrets", map[string]any{"command": c, "args": []string{"-c", "echo ran"}})
			if !res.IsError || strings.Contains(text(res), "ran") {
				t.Fatalf("%q ran: %s", c, raw(t, res))
			}
		}
		// The same path spelled differently is the same command.
		if res, out := h.call(t, "run_with_secrets", map[string]any{"command": "/bin/../bin/sh", "args": []string{"-c", "echo ran"}}); res.IsError || out["output"] != "ran\n" {
			t.Fatalf("%s", raw(t, res))
		}
	})
	t.Run("no_shell_expands_arguments", func(t *testing.T) {
		h := startRun(t)
		_, out := h.call(t, "run_with_secrets", map[string]any{"command": "/bin/sh", "args": []string{"-c", `printf '%s|' "$@"`, "x", "$HOME", "a b", ";id"}})
		if out["output"] != "$HOME|a b|;id|" {
			t.Fatalf("output %q", out["output"])
		}
	})
	t.Run("child_does_not_get_the_server_key", func(t *testing.T) {
		t.Setenv("VSECURE_API_KEY", "vsk_the_agents_key")
		h := startRun(t)
		_, out := h.call(t, "run_with_secrets", map[string]any{"command": "/bin/sh", "args": []string{"-c", `echo "${VSECURE_API_KEY:-none}"`}})
		if out["output"] != "none\n" {
			t.Fatalf("output %q", out["output"])
		}
	})
	t.Run("gated_secret_files_a_use_request", func(t *testing.T) {
		h := startRun(t)
		args := map[string]any{"command": "/bin/sh", "args": []string{"-c", `echo "$DB"`}, "env": map[string]string{"DB": prodURI}, "reason": "migrate"}
		res, out := h.call(t, "run_with_secrets", args)
		ap, _ := out["approval"].(map[string]any)
		if res.IsError || out["status"] != StatusApprovalPending || ap["operation"] != "use" || !strings.Contains(out["instruction"].(string), "run_with_secrets") {
			t.Fatalf("%s", raw(t, res))
		}
		h.api.decide(ap["approvalId"].(string), "approved")
		res, out = h.call(t, "run_with_secrets", args)
		if res.IsError || out["status"] != "ok" || out["output"] != mask.Mask+"\n" || strings.Contains(raw(t, res), "postgres://prod") {
			t.Fatalf("after approval: %s", raw(t, res))
		}
	})
	t.Run("output_is_capped", func(t *testing.T) {
		h := startWith(t, Options{AllowCommands: []string{"/bin/sh"}, MaxRunOutput: 64 << 10})
		_, out := h.call(t, "run_with_secrets", map[string]any{"command": "/bin/sh", "args": []string{"-c", "yes 0123456789 | head -c 200000"}})
		if out["truncated"] != true || len(out["output"].(string)) > 64<<10+100 || !strings.Contains(out["output"].(string), "truncated") {
			t.Fatalf("truncated %v, %d bytes", out["truncated"], len(out["output"].(string)))
		}
	})
	t.Run("timeout_kills", func(t *testing.T) {
		h := startRun(t)
		_, out := h.call(t, "run_with_secrets", map[string]any{"command": "/bin/sh", "args": []string{"-c", "exec sleep 30"}, "timeoutSeconds": 1})
		if out["timedOut"] != true || out["exitCode"] != float64(128+9) {
			t.Fatalf("%v", out)
		}
	})
	t.Run("timeout_over_the_maximum_is_refused", func(t *testing.T) {
		h := startRun(t)
		if res, _ := h.call(t, "run_with_secrets", map[string]any{"command": "/bin/sh", "args": []string{"-c", "true"}, "timeoutSeconds": 601}); !res.IsError {
			t.Fatalf("%s", raw(t, res))
		}
	})
}

func TestReadSecretOnUseOnlyHintsRunWithSecrets(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		says string
	}{
		{"offered", Options{AllowCommands: []string{"/bin/sh"}}, "run the command that needs it with run_with_secrets"},
		{"not_offered", Options{}, "which this server does not offer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startWith(t, tc.opts)
			h.api.useOnly = "vsecure://secrets/staging/"
			res, _ := h.call(t, "read_secret", map[string]any{"uri": stagingURI, "reason": "x"})
			if !res.IsError || !strings.Contains(text(res), "operation_not_allowed") && !strings.Contains(text(res), "permits use") || !strings.Contains(text(res), tc.says) {
				t.Fatalf("%s", raw(t, res))
			}
			if strings.Contains(raw(t, res), "stg-token") {
				t.Fatalf("the refusal shows the value: %s", raw(t, res))
			}
		})
	}
}
