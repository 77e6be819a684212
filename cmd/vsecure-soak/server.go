package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// server runs `vsecure dev` as a child process on a fixed loopback port and
// data directory, so that a SIGKILLed server comes back where it was. Its
// stdout and stderr, across every restart, go to one log file.
type server struct {
	bin, addr string
	args, env []string
	log       *os.File

	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{} // closed once cmd has exited and was reaped
	restarts int
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// start launches the server and waits until /healthz answers. A server
// that exits during start (a faulted store call at boot) is started again.
func (s *server) start(ctx context.Context) error {
	var last error
	for attempt := 0; attempt < 10 && ctx.Err() == nil; attempt++ {
		cmd := exec.Command(s.bin, s.args...)
		cmd.Env, cmd.Stdout, cmd.Stderr = s.env, s.log, s.log
		if err := cmd.Start(); err != nil {
			return err
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		if last = waitHealthy(ctx, "http://"+s.addr, exited); last == nil {
			s.mu.Lock()
			s.cmd, s.exited = cmd, exited
			s.mu.Unlock()
			return nil
		}
		_ = cmd.Process.Kill()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
		}
		fmt.Fprintf(s.log, "soak: server start attempt %d failed: %v\n", attempt+1, last)
	}
	return fmt.Errorf("server did not start: %v", last)
}

func waitHealthy(ctx context.Context, base string, exited <-chan struct{}) error {
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("the server exited")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if res, err := c.Get(base + "/healthz"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return nil
			}
		}
	}
	return fmt.Errorf("not healthy within 60s")
}

// kill SIGKILLs the server: no shutdown, no flush, requests in flight cut.
func (s *server) kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
	s.cmd = nil
	s.restarts++
}

// stop ends the server gracefully (SIGTERM), so the data directory can be
// opened by the checker.
func (s *server) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

// faultProxy sits between the server and DynamoDB Local and fails a share
// of the calls the way DynamoDB does under load: throttling (400
// ProvisionedThroughputExceededException or ThrottlingException), 500s,
// and timeouts (the call is held, never forwarded, and the connection is
// dropped). A failed call never reaches DynamoDB Local, so no fault makes a
// write happen that its caller was told failed. The RNG is seeded: the
// same seed faults the same sequence of calls.
type faultProxy struct {
	target string
	client *http.Client
	rate   atomic.Uint64 // math.Float64bits of the share to fault
	mu     sync.Mutex
	rng    *rand.Rand
	hold   time.Duration

	calls, throttles, errors500, timeouts atomic.Int64
}

func newFaultProxy(target string, seed uint64) *faultProxy {
	return &faultProxy{
		target: target, client: &http.Client{Timeout: 30 * time.Second},
		rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), hold: 1500 * time.Millisecond,
	}
}

func (p *faultProxy) setRate(r float64) { p.rate.Store(uint64(r * 1e6)) }

func (p *faultProxy) faults() int64 {
	return p.throttles.Load() + p.errors500.Load() + p.timeouts.Load()
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.calls.Add(1)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	p.mu.Lock()
	roll, kind := p.rng.Float64(), p.rng.IntN(4)
	p.mu.Unlock()
	if roll < float64(p.rate.Load())/1e6 {
		switch kind {
		case 0:
			p.throttles.Add(1)
			awsError(w, 400, "ProvisionedThroughputExceededException")
		case 1:
			p.throttles.Add(1)
			awsError(w, 400, "ThrottlingException")
		case 2:
			p.errors500.Add(1)
			awsError(w, 500, "InternalServerError")
		default:
			p.timeouts.Add(1)
			select {
			case <-r.Context().Done():
			case <-time.After(p.hold):
			}
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
					return
				}
			}
			panic(http.ErrAbortHandler)
		}
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, p.target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	req.Header = r.Header.Clone()
	res, err := p.client.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer res.Body.Close()
	for k, v := range res.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(res.StatusCode)
	_, _ = io.Copy(w, res.Body)
}

func awsError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-Requestid", "soak-injected")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"__type":"com.amazonaws.dynamodb.v20120810#%s","message":"injected by the soak"}`, code)
}
