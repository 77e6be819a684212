package mcpserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/client"
	"github.com/vsecure/vsecure/shared/mask"
	"github.com/vsecure/vsecure/shared/secretrun"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// Limits of run_with_secrets.
const (
	DefaultRunTimeout = 60 * time.Second
	MaxRunTimeout     = 600 * time.Second
	// MaxRunOutput bounds the masked output returned; the rest is
	// dropped and the result says so.
	MaxRunOutput = 1 << 20
)

// opUse is the operation run_with_secrets asks approval for.
const opUse = vsecure.Operation("use")

// Allowlist resolves the commands run_with_secrets may run: each made
// absolute against the working directory and cleaned, the form the
// tool compares a requested command in.
func Allowlist(paths []string) ([]string, error) {
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("--allow-command %s: %w", p, err)
		}
		out = append(out, filepath.Clean(abs))
	}
	return out, nil
}

// RunInput is the input of run_with_secrets.
type RunInput struct {
	Command        string            `json:"command" jsonschema:"path of an allowlisted command, exactly as allowlisted (absolute, or relative to the server's working directory); never a shell line"`
	Args           []string          `json:"args,omitempty" jsonschema:"the command's arguments, one string each; no shell expands them"`
	Env            map[string]string `json:"env,omitempty" jsonschema:"environment variables to set from secrets: NAME to vsecure:// URI, e.g. {\"DATABASE_URL\": \"vsecure://secrets/production/DATABASE_URL\"}"`
	TimeoutSeconds int               `json:"timeoutSeconds,omitempty" jsonschema:"kill the command after this many seconds (default 60, max 600)"`
	Reason         string            `json:"reason,omitempty" jsonschema:"why the command needs the secrets; shown to the human approver if approval is required"`
}

// RunResult is the result of run_with_secrets.
type RunResult struct {
	Status string `json:"status" jsonschema:"ok (the command ran), approval_pending, approval_denied or approval_expired"`
	// ExitCode is set when the command ran.
	ExitCode  *int   `json:"exitCode,omitempty" jsonschema:"the command's exit code, 128+n if signal n ended it"`
	Output    string `json:"output,omitempty" jsonschema:"stdout and stderr interleaved, every secret value masked"`
	Truncated bool   `json:"truncated,omitempty" jsonschema:"true if the output was longer than the cap and was cut"`
	TimedOut  bool   `json:"timedOut,omitempty" jsonschema:"true if the command was killed at its timeout"`
	// URI, Approval, Reused and Instruction: the gated secret, as
	// read_secret reports it.
	URI         string            `json:"uri,omitempty" jsonschema:"the secret that needs approval"`
	Approval    *api.ApprovalView `json:"approval,omitempty" jsonschema:"the approval request to wait for"`
	Reused      bool              `json:"reusedPendingRequest,omitempty" jsonschema:"true if an earlier pending request of yours was re-used"`
	Instruction string            `json:"instruction,omitempty" jsonschema:"what to do next"`
}

func (s *service) addRunTool(srv *mcp.Server) {
	f := boolPtr(false)
	mcp.AddTool(srv, &mcp.Tool{
		Name:  "run_with_secrets",
		Title: "Run a command with secrets",
		Description: "Run one allowlisted command (" + strings.Join(s.allow, ", ") + ") with secrets in its environment, " +
			"named by vsecure:// URI (env: {\"NAME\": \"vsecure://…\"}). Secret values are never shown to you: they go into the " +
			"command's environment only, and every value (and its base64, hex and URL-encoded forms) is masked as " + mask.Mask +
			" in the output returned. Arguments are a list, never a shell line. Returns the masked output and the exit code. " +
			"If a secret needs approval, returns status \"approval_pending\" like read_secret; call again once approved.",
		Annotations: &mcp.ToolAnnotations{DestructiveHint: boolPtr(true), OpenWorldHint: f},
	}, s.runWithSecrets)
}

func (s *service) runWithSecrets(ctx context.Context, req *mcp.CallToolRequest, in RunInput) (*mcp.CallToolResult, RunResult, error) {
	path, err := s.allowed(in.Command)
	if err != nil {
		return nil, RunResult{}, err
	}
	timeout := DefaultRunTimeout
	if in.TimeoutSeconds < 0 || time.Duration(in.TimeoutSeconds)*time.Second > MaxRunTimeout {
		return nil, RunResult{}, vsecure.Errorf(vsecure.EInvalid, "timeoutSeconds must be between 1 and %d", int(MaxRunTimeout.Seconds()))
	} else if in.TimeoutSeconds > 0 {
		timeout = time.Duration(in.TimeoutSeconds) * time.Second
	}
	names := make([]string, 0, len(in.Env))
	for name := range in.Env {
		names = append(names, name)
	}
	sort.Strings(names)
	refs := make([]secretrun.Ref, 0, len(names))
	for _, name := range names {
		r, err := secretrun.NewRef(name, in.Env[name])
		if err != nil {
			return nil, RunResult{}, err
		}
		refs = append(refs, r)
	}
	reason := in.Reason
	if reason == "" {
		reason = "run_with_secrets " + filepath.Base(path)
	}
	host := secretrun.Hostname()
	// Each round either resolves every reference or meets one gated
	// reference; an approved request lets the next round past it.
	for range len(refs) + 1 {
		vals, err := secretrun.Resolve(ctx, s.api, refs, path, host)
		var re *secretrun.RefError
		if err == nil {
			return nil, s.execute(ctx, path, in.Args, vals, timeout), nil
		}
		if !errors.As(err, &re) || !client.IsApprovalRequired(re.Err) {
			return nil, RunResult{}, err
		}
		out, approved, err := s.gated(ctx, req, re.Ref.URI, opUse, reason, 0)
		if err != nil || !approved {
			return nil, RunResult{Status: out.Status, URI: out.URI, Approval: out.Approval, Reused: out.Reused, Instruction: out.Instruction}, err
		}
	}
	return nil, RunResult{}, vsecure.Errorf(vsecure.EApprovalRequired, "the secrets still need approval; call run_with_secrets again")
}

// allowed returns the allowlisted path that command names.
func (s *service) allowed(command string) (string, error) {
	if command == "" {
		return "", vsecure.Errorf(vsecure.EInvalid, "command is required")
	}
	abs, err := filepath.Abs(command)
	if err == nil && slices.Contains(s.allow, filepath.Clean(abs)) {
		return filepath.Clean(abs), nil
	}
	return "", vsecure.Errorf(vsecure.EForbidden, "%s is not an allowlisted command; this server runs only: %s", command, strings.Join(s.allow, ", "))
}

// execute runs path without a shell, with the values in its environment
// (and not the server's API key), no stdin, and its output masked and
// capped.
func (s *service) execute(ctx context.Context, path string, args []string, vals []secretrun.Value, timeout time.Duration) RunResult {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out := &capped{max: s.maxOut}
	w := mask.NewWriter(out, secretrun.Secrets(vals))
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = secretrun.Environ(withoutKey(os.Environ()), vals)
	cmd.Stdout, cmd.Stderr = w, w
	// A grandchild holding the pipes open must not outlive the timeout.
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	w.Close()
	res := RunResult{Status: StatusOK, Output: out.buf.String(), Truncated: out.dropped, TimedOut: ctx.Err() == context.DeadlineExceeded}
	code, ok := secretrun.ExitCode(err)
	if !ok {
		s.log.WarnContext(ctx, "run_with_secrets: running the command failed", "command", path, "error", err)
		code = 1
		res.Output += fmt.Sprintf("\n[vsecure: %s could not run: %v]", path, err)
	}
	res.ExitCode = &code
	if res.Truncated {
		res.Output += fmt.Sprintf("\n[vsecure: output truncated at %d bytes]", s.maxOut)
	}
	return res
}

// withoutKey drops the server's own credential from a child's
// environment: an allowlisted command gets the secrets it is given, not
// the agent's key to fetch others.
func withoutKey(env []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, "VSECURE_API_KEY=") })
}

// capped keeps the first max bytes written to it and drops the rest.
// Stdout and stderr share it; exec.Cmd serializes writes of a writer
// given to both.
type capped struct {
	buf     bytes.Buffer
	max     int
	dropped bool
}

func (c *capped) Write(p []byte) (int, error) {
	n := len(p)
	if room := c.max - c.buf.Len(); n > room {
		p, c.dropped = p[:max(room, 0)], true
	}
	c.buf.Write(p)
	return n, nil
}
