package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vsecure/vsecure/internal/syncbuf"
)

// buildVsecure compiles the command once per test binary run.
func buildVsecure(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "vsecure")
	goBuild(t, bin)
	return bin
}

// goBuild builds this command into bin, with extra build arguments, the
// way releases, the bundle and the Lambda tests build (-trimpath, no cgo):
// one set of compiled packages in the build cache for all of them, which
// on a fresh machine saves compiling the AWS SDK once more.
func goBuild(tb testing.TB, bin string, args ...string) {
	tb.Helper()
	cmd := exec.Command("go", append(append([]string{"build", "-trimpath"}, args...), "-o", bin, ".")...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build %v: %v\n%s", args, err, out)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type devProc struct {
	cmd    *exec.Cmd
	stdout *syncbuf.Buffer
	addr   string
}

func startDev(t *testing.T, bin, data, addr string, env ...string) *devProc {
	t.Helper()
	return startDevArgs(t, bin, []string{"dev", "--addr", addr, "--data", data}, env...)
}

// startDevArgs is startDev with the whole command line.
func startDevArgs(t *testing.T, bin string, args []string, env ...string) *devProc {
	t.Helper()
	addr := args[slices.Index(args, "--addr")+1]
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		// Ready when it answers and its banner (printed before serving) has
		// come through the output pipe, which can lag behind the socket.
		if res, err := http.Get("http://" + addr + "/healthz"); err == nil {
			res.Body.Close()
			if strings.Contains(stdout.String(), "listening on") {
				return &devProc{cmd: cmd, stdout: &stdout, addr: addr}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("vsecure dev did not become ready\nstdout: %s\nstderr: %s", stdout.String(), stderr.String())
	return nil
}

func (d *devProc) stop(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("vsecure dev exited with %v after SIGTERM", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("vsecure dev did not shut down on SIGTERM")
	}
}

func call(t *testing.T, method, u, key string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(context.Background(), method, u, rd)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(res.Body).Decode(&m)
	return res.StatusCode, m
}

func TestDevServer(t *testing.T) {
	bin := buildVsecure(t)
	data := filepath.Join(t.TempDir(), "data")
	addr := freeAddr(t)

	d := startDev(t, bin, data, addr)
	m := regexp.MustCompile(`VSECURE_API_KEY=(vsk_\S+)`).FindStringSubmatch(d.stdout.String())
	if m == nil {
		t.Fatalf("no generated admin key printed:\n%s", d.stdout.String())
	}
	admin := m[1]
	base := "http://" + addr
	uri := "vsecure://secrets/staging/TOKEN"
	if code, body := call(t, "POST", base+"/v1/security/mcp/resources", admin, map[string]any{"uri": "vsecure://secrets/staging/*", "permissions": []string{"read", "write"}}); code != 200 {
		t.Fatalf("configure: %d %v", code, body)
	}
	if code, body := call(t, "PUT", base+"/v1/security/mcp/resources/"+url.PathEscape(uri), admin, map[string]any{"value": "survives"}); code != 200 {
		t.Fatalf("put: %d %v", code, body)
	}
	d.stop(t)

	t.Run("generated_key_printed_once_and_files_private", func(t *testing.T) {
		for _, f := range []string{"vsecure.db", "master.key", "cursor.key"} {
			st, err := os.Stat(filepath.Join(data, f))
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("%s: %v %v", f, st, err)
			}
		}
	})

	d2 := startDev(t, bin, data, addr)
	if strings.Contains(d2.stdout.String(), "vsk_") {
		t.Fatalf("second start printed a key again:\n%s", d2.stdout.String())
	}
	t.Run("data_survives_restart", func(t *testing.T) {
		code, body := call(t, "GET", base+"/v1/security/mcp/resources/"+url.PathEscape(uri), admin, nil)
		if code != 200 || body["value"] != "survives" {
			t.Fatalf("after restart: %d %v", code, body)
		}
	})
	d2.stop(t)

	t.Run("admin_key_from_env", func(t *testing.T) {
		key := "vsk_env-admin-key-0123456789abcdefghijklmnopqrstuv"
		d3 := startDev(t, bin, filepath.Join(t.TempDir(), "d3"), freeAddr(t), "VSECURE_ADMIN_KEY="+key)
		if strings.Contains(d3.stdout.String(), "vsk_") {
			t.Fatal("printed a key although VSECURE_ADMIN_KEY was set")
		}
		if code, _ := call(t, "GET", "http://"+d3.addr+"/v1/security/keys", key, nil); code != 200 {
			t.Fatalf("env admin key refused: %d", code)
		}
		d3.stop(t)
	})
	t.Run("bad_admin_key_fails_at_start", func(t *testing.T) {
		cmd := exec.Command(bin, "dev", "--addr", freeAddr(t), "--data", t.TempDir())
		cmd.Env = append(os.Environ(), "VSECURE_ADMIN_KEY=short")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "VSECURE_ADMIN_KEY") {
			t.Fatalf("err=%v out=%s", err, out)
		}
	})
}
