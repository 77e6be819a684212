// Package rie runs real Lambda bootstrap binaries under the AWS Lambda
// Runtime Interface Emulator (aws-lambda-rie), the same runtime API the
// Lambda service speaks, so tests, `make invoke` and `make bench-lambda`
// exercise exactly the binaries that get deployed. It owns one outside
// program: it installs the pinned emulator into the repository's .cache,
// builds functions, starts one emulator per function on free ports, invokes
// it and reads its REPORT lines for init and invoke durations.
package rie

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vsecure/vsecure/internal/syncbuf"
)

// Module is the pinned emulator.
const Module = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d"

// BuildFlags are the flags every bootstrap is built with (the Makefile uses
// the same for linux/arm64).
var BuildFlags = []string{"-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w -buildid="}

// Root finds the repository root (the directory holding go.mod) from the
// working directory upwards.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("rie: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Install returns the emulator binary, installing the pinned version into
// <root>/.cache/bin first if it is missing.
func Install(ctx context.Context, root string) (string, error) {
	bin := filepath.Join(root, ".cache", "bin")
	path := filepath.Join(bin, "aws-lambda-rie")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	cmd := exec.CommandContext(ctx, "go", "install", Module)
	cmd.Env = append(os.Environ(), "GOBIN="+bin, "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("rie: go install %s: %w\n%s", Module, err, out)
	}
	return path, nil
}

// Build builds the main packages pkgs (import paths or ./relative to root)
// for the host into outDir/<package dir name>, in one go invocation.
func Build(ctx context.Context, root, outDir string, pkgs ...string) error {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	args := append([]string{"build"}, BuildFlags...)
	args = append(args, "-o", outDir+string(filepath.Separator))
	args = append(args, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("rie: go build: %w\n%s", err, out)
	}
	return nil
}

// Runtime is one emulator running one bootstrap.
type Runtime struct {
	url  string
	cmd  *exec.Cmd
	out  *syncbuf.Buffer
	done chan struct{}
}

// Start runs bootstrap under the emulator at rieBin with env (plus PATH and
// HOME) on free loopback ports and waits until it accepts invocations. The
// function itself initialises on the first invoke, as on AWS.
func Start(ctx context.Context, rieBin, bootstrap string, env []string) (*Runtime, error) {
	invokePort, err := freePort()
	if err != nil {
		return nil, err
	}
	apiPort, err := freePort()
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(bootstrap)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(rieBin,
		"--runtime-interface-emulator-address", "127.0.0.1:"+strconv.Itoa(invokePort),
		"--runtime-api-address", "127.0.0.1:"+strconv.Itoa(apiPort),
		abs)
	cmd.Dir = filepath.Dir(abs)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "LOG_LEVEL=warn"}, env...)
	out := &syncbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	// Own process group, so Close ends the emulator and the bootstrap it
	// started, and nothing else.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("rie: start: %w", err)
	}
	r := &Runtime{url: fmt.Sprintf("http://127.0.0.1:%d/2015-03-31/functions/function/invocations", invokePort), cmd: cmd, out: out, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(r.done) }()
	addr := "127.0.0.1:" + strconv.Itoa(invokePort)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return r, nil
		}
		select {
		case <-r.done:
			return nil, fmt.Errorf("rie: emulator exited before listening:\n%s", out.String())
		case <-ctx.Done():
			r.Close()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.Close()
			return nil, fmt.Errorf("rie: emulator not listening on %s after 10s:\n%s", addr, out.String())
		}
	}
}

// URL is the invoke endpoint.
func (r *Runtime) URL() string { return r.url }

// Invoke posts payload as one invocation and returns the function's
// response payload. A function error comes back as the payload Lambda
// returns for it (errorMessage, errorType) with a nil error.
func (r *Runtime) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("rie: invoke: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("rie: invoke answered %s: %s\nemulator output:\n%s", resp.Status, body, r.out.String())
	}
	return body, nil
}

// Output is everything the emulator and the function printed so far.
func (r *Runtime) Output() string { return r.out.String() }

// Report is one REPORT line of the emulator.
type Report struct {
	Init     time.Duration // zero except on the first (cold) invoke
	Duration time.Duration
}

var reportRE = regexp.MustCompile(`REPORT RequestId: \S+\s+(?:Init Duration: ([0-9.]+) ms\s+)?Duration: ([0-9.]+) ms`)

// WaitReports waits until the emulator has printed at least n REPORT lines
// (it prints them just after answering an invoke) and returns them.
func (r *Runtime) WaitReports(ctx context.Context, n int) ([]Report, error) {
	for {
		rs := r.Reports()
		if len(rs) >= n {
			return rs, nil
		}
		select {
		case <-ctx.Done():
			return rs, fmt.Errorf("rie: %d of %d REPORT lines: %w", len(rs), n, ctx.Err())
		case <-r.done:
			return r.Reports(), fmt.Errorf("rie: emulator exited after %d of %d REPORT lines", len(rs), n)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Reports parses the REPORT lines printed so far, oldest first. The
// emulator's "Init Duration" only times its own init request; the cold
// start a caller sees (process start, Go runtime, the function's init) is
// in the first invoke's Duration and wall time.
func (r *Runtime) Reports() []Report {
	var rs []Report
	sc := bufio.NewScanner(strings.NewReader(r.out.String()))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		m := reportRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		var rep Report
		if m[1] != "" {
			rep.Init = ms(m[1])
		}
		rep.Duration = ms(m[2])
		rs = append(rs, rep)
	}
	return rs
}

func ms(s string) time.Duration {
	f, _ := strconv.ParseFloat(s, 64)
	return time.Duration(f * float64(time.Millisecond))
}

// Close stops the emulator and its bootstrap.
func (r *Runtime) Close() error {
	select {
	case <-r.done:
		return nil
	default:
	}
	_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
		<-r.done
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
