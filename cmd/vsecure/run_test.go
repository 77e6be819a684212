package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/client"
	"github.com/vsecure/vsecure/shared/devserver/devtest"
	"github.com/vsecure/vsecure/shared/mask"
	"github.com/vsecure/vsecure/shared/secretrun"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// fakeRunAPI gates every URI in gated until its approval is decided:
// each GetApproval counts down polls and then answers decision.
type fakeRunAPI struct {
	values   map[string]string
	gated    map[string]bool
	decision vsecure.Status
	polls    int
	uses     []api.SecretUse
	requests []api.ApprovalRequest
	filed    []api.ApprovalView // pending requests, as ListApprovals shows them
}

func (f *fakeRunAPI) UseSecret(_ context.Context, r api.SecretUse) (api.SecretRead, error) {
	f.uses = append(f.uses, r)
	if f.gated[r.URI] {
		return api.SecretRead{}, &client.Error{StatusCode: 403, Code: client.CodeApprovalRequired, Message: "approval required"}
	}
	return api.SecretRead{Value: f.values[r.URI]}, nil
}

func (f *fakeRunAPI) RequestApproval(_ context.Context, r api.ApprovalRequest) (api.ApprovalView, error) {
	f.requests = append(f.requests, r)
	a := api.ApprovalView{ID: "appr_1", Resource: r.Resource, Operation: vsecure.Operation(r.Operation), Status: vsecure.StatusPending,
		RequestedBy: "agent-1", ExpiresAt: time.Now().Add(time.Hour), ApprovalURL: "http://gate/approvals/appr_1"}
	f.filed = append(f.filed, a)
	return a, nil
}

func (f *fakeRunAPI) ListApprovals(_ context.Context, q api.ApprovalsQuery) ([]api.ApprovalView, api.Pagination, error) {
	return f.filed, api.Pagination{}, nil
}

func (f *fakeRunAPI) Whoami(context.Context) (api.Identity, error) {
	return api.Identity{Principal: "agent-1"}, nil
}

func (f *fakeRunAPI) GetApproval(_ context.Context, id string) (api.ApprovalView, error) {
	if f.polls--; f.polls > 0 {
		return api.ApprovalView{ID: id, Status: vsecure.StatusPending}, nil
	}
	if f.decision == vsecure.StatusApproved {
		clear(f.gated)
	}
	return api.ApprovalView{ID: id, Status: f.decision}, nil
}

func TestRunResolveGated(t *testing.T) {
	const uri = "vsecure://secrets/production/DATABASE_URL"
	refs := []secretrun.Ref{{Name: "DATABASE_URL", URI: uri}}
	noPause := func(context.Context, time.Duration) error { return nil }
	cases := []struct {
		name     string
		wait     time.Duration
		decision vsecure.Status
		want     int
	}{
		{"without_wait_exits_75_naming_the_request", 0, vsecure.StatusApproved, exitApprovalPending},
		{"wait_then_approved_resolves", time.Hour, vsecure.StatusApproved, exitOK},
		{"wait_then_denied_exits_77", time.Hour, vsecure.StatusDenied, exitApprovalRefused},
		{"wait_then_expired_exits_77", time.Hour, vsecure.StatusExpired, exitApprovalRefused},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeRunAPI{values: map[string]string{uri: "v"}, gated: map[string]bool{uri: true}, decision: tc.decision, polls: 3}
			var errb bytes.Buffer
			vals, code := resolveRefs(context.Background(), f, runFlags{refs: refs, wait: tc.wait, reason: "vsecure run psql"}, "psql", stdio{Err: &errb}, noPause)
			if code != tc.want {
				t.Fatalf("code %d, want %d; stderr %q", code, tc.want, errb.String())
			}
			if !strings.Contains(errb.String(), "appr_1") || !strings.Contains(errb.String(), "http://gate/approvals/appr_1") {
				t.Fatalf("stderr does not name the approval: %q", errb.String())
			}
			if len(f.requests) != 1 || f.requests[0].Operation != "use" || f.requests[0].Resource != uri {
				t.Fatalf("requests %+v", f.requests)
			}
			if f.uses[0].Command != "psql" || f.uses[0].Host == "" {
				t.Fatalf("use %+v: want the command and host", f.uses[0])
			}
			if tc.want == exitOK && (len(vals) != 1 || vals[0].Value != "v") {
				t.Fatalf("values %+v", vals)
			}
		})
	}
	t.Run("running_again_while_pending_reuses_the_request", func(t *testing.T) {
		f := &fakeRunAPI{values: map[string]string{uri: "v"}, gated: map[string]bool{uri: true}}
		for range 2 {
			if _, code := resolveRefs(context.Background(), f, runFlags{refs: refs}, "psql", stdio{Err: io.Discard}, noPause); code != exitApprovalPending {
				t.Fatalf("code %d", code)
			}
		}
		if len(f.requests) != 1 {
			t.Fatalf("%d requests filed, want 1", len(f.requests))
		}
	})
}

// runFixture is a real local server with an ungated use-able secret
// (read implies use, so this policy serves part A's use route as well).
const (
	runURI   = "vsecure://secrets/ci/DATABASE_URL"
	runValue = "postgresql://app:pw@db:5432/prod"
)

func startRunEnv(t *testing.T) *devtest.Env {
	t.Helper()
	env := devtest.Start(t)
	ctx := context.Background()
	if _, err := env.Admin.Configure(ctx, api.ResourceConfig{URI: "vsecure://secrets/ci/*", Permissions: []vsecure.Operation{vsecure.OpRead}}); err != nil {
		t.Fatal(err)
	}
	v := runValue
	if _, err := env.Admin.PutSecret(ctx, runURI, api.SecretWrite{Value: &v}); err != nil {
		t.Fatal(err)
	}
	return env
}

// assertMasked fails if out shows the value or any of its encodings.
func assertMasked(t *testing.T, out []byte, value string) {
	t.Helper()
	for _, p := range mask.Patterns(value) {
		if i := bytes.Index(out, []byte(p)); i >= 0 {
			t.Fatalf("output shows %q at byte %d: …%s…", p, i, out[max(0, i-80):min(len(out), i+len(p)+80)])
		}
	}
}

// TestRunMasksARealChild: the child gets the value in its environment,
// prints it and its base64; only masks come out, and its exit code is
// vsecure's.
func TestRunMasksARealChild(t *testing.T) {
	env := startRunEnv(t)
	var out, errb bytes.Buffer
	e := map[string]string{"VSECURE_API_URL": env.URL, "VSECURE_API_KEY": env.AgentKey}
	code := run(context.Background(), []string{"run", "--env", "DATABASE_URL=" + runURI, "--",
		"sh", "-c", `echo "$DATABASE_URL"; echo "$DATABASE_URL" | base64; echo "$DATABASE_URL" >&2; exit 3`},
		func(k string) string { return e[k] }, stdio{In: strings.NewReader(""), Out: &out, Err: &errb})
	if code != 3 {
		t.Fatalf("exit %d, want the child's 3; stderr %q", code, errb.String())
	}
	assertMasked(t, out.Bytes(), runValue)
	assertMasked(t, errb.Bytes(), runValue)
	if bytes.Contains(out.Bytes(), []byte(base64.StdEncoding.EncodeToString([]byte(runValue+"\n")))) {
		t.Fatalf("the base64 line shows: %q", out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || lines[0] != mask.Mask || !strings.HasPrefix(lines[1], mask.Mask) {
		t.Fatalf("stdout %q: want a mask per line", out.String())
	}
	if strings.TrimSpace(errb.String()) != mask.Mask {
		t.Fatalf("stderr %q", errb.String())
	}
}

func TestRunEnvFileAndStdin(t *testing.T) {
	env := startRunEnv(t)
	file := filepath.Join(t.TempDir(), "run.env")
	os.WriteFile(file, []byte("# the database\n\nDATABASE_URL="+runURI+"\n"), 0o600)
	var out, errb bytes.Buffer
	e := map[string]string{"VSECURE_API_URL": env.URL, "VSECURE_API_KEY": env.AgentKey}
	code := run(context.Background(), []string{"run", "--env-file", file, "--", "sh", "-c", `read line; echo "$line:${#DATABASE_URL}"`},
		func(k string) string { return e[k] }, stdio{In: strings.NewReader("from stdin\n"), Out: &out, Err: &errb})
	if code != 0 || out.String() != "from stdin:32\n" {
		t.Fatalf("exit %d stdout %q stderr %q", code, out.String(), errb.String())
	}
}

func TestRunUsageErrors(t *testing.T) {
	cases := map[string][]string{
		"no_command":    {"run", "--env", "A=" + runURI},
		"bad_ref":       {"run", "--env", "A", "--", "true"},
		"pattern_ref":   {"run", "--env", "A=vsecure://secrets/ci/*", "--", "true"},
		"missing_file":  {"run", "--env-file", "/nonexistent/run.env", "--", "true"},
		"negative_wait": {"run", "--wait", "-1s", "--", "true"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			if code, _, errs := cli(map[string]string{"VSECURE_API_KEY": "k"}, args...); code != exitUsage {
				t.Fatalf("exit %d, want 2: %s", code, errs)
			}
		})
	}
}

// TestRunForwardsSignals: SIGTERM to vsecure reaches the child; a child
// that traps it exits as it chooses, one that dies of it gives 128+15.
func TestRunForwardsSignals(t *testing.T) {
	env := startRunEnv(t)
	bin := buildBinary(t)
	cases := []struct {
		name, script string
		want         int
		says         string
	}{
		{"trapped", `trap 'echo "got TERM"; exit 7' TERM; echo ready; while :; do sleep 0.05; done`, 7, "got TERM"},
		{"killed", `echo ready; exec sleep 30`, 128 + int(syscall.SIGTERM), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "run", "--env", "DATABASE_URL="+runURI, "--", "sh", "-c", tc.script)
			cmd.Env = append(os.Environ(), "VSECURE_API_URL="+env.URL, "VSECURE_API_KEY="+env.AgentKey)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(stdout)
			if !sc.Scan() || sc.Text() != "ready" {
				t.Fatalf("first line %q; stderr %q", sc.Text(), stderr.String())
			}
			cmd.Process.Signal(syscall.SIGTERM)
			var rest strings.Builder
			for sc.Scan() {
				rest.WriteString(sc.Text() + "\n")
			}
			err = cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != tc.want {
				t.Fatalf("exit %v, want %d; stderr %q", err, tc.want, stderr.String())
			}
			if !strings.Contains(rest.String(), tc.says) {
				t.Fatalf("stdout after the signal %q, want %q", rest.String(), tc.says)
			}
		})
	}
}

// TestTypeScriptClientRunWithSecrets: the official TypeScript SDK client
// drives run_with_secrets on `vsecure mcp serve --allow-command /bin/sh`
// against a real local server; the child prints the value, its base64 and
// its hex, and no byte the client received shows any of them.
func TestTypeScriptClientRunWithSecrets(t *testing.T) {
	dir := filepath.Join("testdata", "tsclient")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@modelcontextprotocol", "sdk", "package.json")); err != nil {
		t.Fatalf("the TypeScript MCP SDK is not installed (%v): run `make test-deps`", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is required for this test: %v", err)
	}
	env := startRunEnv(t)
	bin := buildBinary(t)
	rawOut := filepath.Join(t.TempDir(), "raw")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "run.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "VSECURE_BIN="+bin, "VSECURE_API_URL="+env.URL, "VSECURE_API_KEY="+env.AgentKey,
		"ALLOW=/bin/sh", "SECRET_URI="+runURI, "RAW_OUT="+rawOut)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node run.mjs: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	raw, err := os.ReadFile(rawOut)
	if err != nil || len(raw) == 0 {
		t.Fatalf("raw bytes: %v (%d)", err, len(raw))
	}
	assertMasked(t, raw, runValue)
	assertMasked(t, stdout.Bytes(), runValue)
	var got struct {
		Instructions, Description string
		IsError                   bool
		Structured                struct {
			Status   string
			ExitCode *int
			Output   string
		}
	}
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("client output %q: %v", stdout.String(), err)
	}
	if got.IsError || got.Structured.Status != "ok" || got.Structured.ExitCode == nil || *got.Structured.ExitCode != 5 {
		t.Fatalf("result %+v", got)
	}
	if lines := strings.Split(strings.TrimSpace(got.Structured.Output), "\n"); len(lines) != 3 || lines[0] != mask.Mask || lines[2] != mask.Mask {
		t.Fatalf("output %q: want the value and its hex masked", got.Structured.Output)
	}
	assertMasked(t, []byte(got.Structured.Output), runValue)
	if !strings.Contains(got.Description, "never shown") || !strings.Contains(got.Instructions, "run_with_secrets") {
		t.Fatalf("description %q instructions %q", got.Description, got.Instructions)
	}
}

// TestRunGatedAgainstLocalServer: a gated reference files a use request
// and exits 75 naming it; with --wait the run goes on once an approver
// approves. Needs the gate's use operation (issue 17 part A).
func TestRunGatedAgainstLocalServer(t *testing.T) {
	env := devtest.Start(t)
	ctx := context.Background()
	const uri = "vsecure://secrets/cigated/DATABASE_URL"
	if _, err := env.Admin.Configure(ctx, api.ResourceConfig{URI: "vsecure://secrets/cigated/*", Permissions: []vsecure.Operation{vsecure.OpRead},
		RequiresApproval: true, Approvers: []string{"alice"}}); err != nil {
		t.Fatal(err)
	}
	v := runValue
	if _, err := env.Admin.PutSecret(ctx, uri, api.SecretWrite{Value: &v}); err != nil {
		t.Fatal(err)
	}
	e := map[string]string{"VSECURE_API_URL": env.URL, "VSECURE_API_KEY": env.AgentKey}
	vs := func(args ...string) (int, string, string) {
		t.Helper()
		var out, errb bytes.Buffer
		code := run(ctx, args, func(k string) string { return e[k] }, stdio{In: strings.NewReader(""), Out: &out, Err: &errb})
		return code, out.String(), errb.String()
	}
	code, out, errs := vs("run", "--env", "DB="+uri, "--", "sh", "-c", `echo "$DB"`)
	id := regexp.MustCompile(`appr_[A-Za-z0-9_]+`).FindString(errs)
	if code != exitApprovalPending || out != "" || id == "" || !strings.Contains(errs, "Decide at: http") {
		t.Fatalf("gated run: exit %d stdout %q stderr %q", code, out, errs)
	}

	type result struct {
		code     int
		out, err string
	}
	done := make(chan result, 1)
	waiting := &syncBuffer{}
	go func() {
		var out bytes.Buffer
		code := run(ctx, []string{"run", "--wait", "60s", "--env", "DB=" + uri, "--", "sh", "-c", `echo "$DB"`},
			func(k string) string { return e[k] }, stdio{In: strings.NewReader(""), Out: &out, Err: waiting})
		done <- result{code, out.String(), waiting.String()}
	}()
	// Once the second run waits on the same request, approve it.
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(waiting.String(), "Decide at") {
		if time.Now().After(deadline) {
			t.Fatalf("the run does not wait: %q", waiting.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(waiting.String(), id) {
		t.Fatalf("the second run filed a new request instead of re-using %s: %q", id, waiting.String())
	}
	if _, err := env.Client(t, env.ApproverKey).Respond(ctx, id, api.Respond{Action: string(vsecure.ActionApprove)}); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.code != 0 || r.out != mask.Mask+"\n" {
		t.Fatalf("waited run: exit %d stdout %q stderr %q", r.code, r.out, r.err)
	}
}

// syncBuffer is a bytes.Buffer a goroutine writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
