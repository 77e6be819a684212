package devserver_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/devserver"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/store/storetest/stores"
	"github.com/vsecure/vsecure/shared/vsecure"
)

const (
	testAdminKey = "vsk_refusals_admin_key_0123456789abcdefghijklmnop"
	testAgentKey = "vsk_refusals_agent_key_0123456789abcdefghijklmnop"
	testBadKey   = "vsk_refusals_no_such_key_0123456789abcdefghijklmn"
)

// serve starts a dev server over st; it is shut down when the test ends
// (or earlier by calling the returned stop).
func serve(t *testing.T, st vsecure.Store, window time.Duration) (*devserver.Server, func()) {
	t.Helper()
	srv, err := devserver.New(t.Context(), devserver.Config{
		Addr: "127.0.0.1:0", DataDir: t.TempDir(), AdminKey: testAdminKey, Store: st,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), DigestEvery: -1, RefusalWindow: window,
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	var stopped atomic.Bool
	stop := func() {
		if stopped.Swap(true) {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-done
	}
	t.Cleanup(stop)
	return srv, stop
}

// entries reads every audit entry of op from the store, as the auditor
// would see them.
func entries(t *testing.T, st vsecure.Store, op string) []vsecure.Entry {
	t.Helper()
	var out []vsecure.Entry
	cursor := ""
	for {
		page, next, err := st.QueryAudit(context.Background(), vsecure.AuditFilter{Operation: op}, cursor, 100)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page...)
		if next == "" {
			return out
		}
		cursor = next
	}
}

// leavingStore holds the credential lookups of the keys in hold until the
// request's context is cancelled, that is until net/http has seen the
// client go: the gate then decides, and writes its audit entry, for a
// client that is no longer there — deterministically, not by a race.
type leavingStore struct {
	vsecure.Store
	hold map[string]bool
	// holding is set once the test's own setup is done.
	holding *atomic.Bool
	// entered is signalled when a held lookup starts: the request has
	// reached the server.
	entered chan struct{}
}

func (s leavingStore) KeyByHash(ctx context.Context, hash string) (vsecure.Key, error) {
	if s.holding.Load() && s.hold[hash] {
		select {
		case s.entered <- struct{}{}:
		default:
		}
		select {
		case <-ctx.Done():
		case <-time.After(30 * time.Second):
			return vsecure.Key{}, vsecure.Errorf(vsecure.EInternal, "the request context was never cancelled")
		}
		ctx = context.WithoutCancel(ctx)
	}
	return s.Store.KeyByHash(ctx, hash)
}

// TestRefusalAuditSurvivesClientCancel: a client that half-closes its
// connection right after sending, or drops it, does not make its refusal go
// unaudited: the audit append does not use the request's cancellation.
func TestRefusalAuditSurvivesClientCancel(t *testing.T) {
	stores.Both(t, func(t *testing.T, open stores.Opener) {
		cases := []struct {
			name, key, path string
			leave           func(t *testing.T, addr, key, path, ua string, entered <-chan struct{})
			op, actor, code string
		}{
			{"bad_key_half_close", testBadKey, "/v1/security/keys", halfClose,
				vsecure.AuditAuthenticate, vsecure.Anonymous, string(vsecure.EUnauthenticated)},
			{"bad_key_cancel", testBadKey, "/v1/security/keys", cancelRequest,
				vsecure.AuditAuthenticate, vsecure.Anonymous, string(vsecure.EUnauthenticated)},
			{"refused_operation_half_close", testAgentKey, "/v1/security/keys", halfClose,
				vsecure.AuditKeyList, "agent-1", string(vsecure.EForbidden)},
			{"refused_operation_cancel", testAgentKey, "/v1/security/keys", cancelRequest,
				vsecure.AuditKeyList, "agent-1", string(vsecure.EForbidden)},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				st := open(t)
				held := leavingStore{Store: st, holding: &atomic.Bool{}, entered: make(chan struct{}, 1), hold: map[string]bool{
					gate.HashCredential(testBadKey): true, gate.HashCredential(testAgentKey): true,
				}}
				srv, _ := serve(t, held, 0)
				if err := srv.Gate.EnsureKey(t.Context(), testAgentKey, "agent-1", []vsecure.Role{vsecure.RoleAgent}); err != nil {
					t.Fatal(err)
				}
				held.holding.Store(true)
				ua := "leaver/" + tc.name
				tc.leave(t, srv.Addr(), tc.key, tc.path, ua, held.entered)
				deadline := time.Now().Add(10 * time.Second)
				for {
					for _, e := range entries(t, st, tc.op) {
						if e.Metadata["userAgent"] == ua {
							if e.Success || e.Actor != tc.actor || e.Error != tc.code || e.Metadata["requestId"] == "" {
								t.Fatalf("entry = %+v, want a %s refusal of %s with its request id", e, tc.code, tc.actor)
							}
							return
						}
					}
					if time.Now().After(deadline) {
						t.Fatalf("no %s audit entry for the client that left", tc.op)
					}
					time.Sleep(20 * time.Millisecond)
				}
			})
		}
	})
}

// halfClose sends the request on a raw connection and shuts its write
// side at once (TCP FIN), then reads whatever comes back.
func halfClose(t *testing.T, addr, key, path, ua string, _ <-chan struct{}) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nUser-Agent: %s\r\n\r\n", path, addr, key, ua)
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(15 * time.Second))
	_, _ = io.Copy(io.Discard, bufio.NewReader(c))
}

// cancelRequest sends the request and cancels it once the server works on
// it (the client transport then closes the connection).
func cancelRequest(t *testing.T, addr, key, path, ua string, entered <-chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("User-Agent", ua)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	errc := make(chan error, 1)
	go func() {
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	select {
	case <-entered:
	case err := <-errc:
		t.Fatalf("the request ended before the server looked at it: %v", err)
	}
	cancel()
	<-errc
}

// TestUnauthenticatedRefusalsAggregate: a flood of bad keys from one source
// costs a handful of audit entries, not one each, and the counts add up to
// the requests once the server has shut down.
func TestUnauthenticatedRefusalsAggregate(t *testing.T) {
	stores.Both(t, func(t *testing.T, open stores.Opener) {
		st := open(t)
		// A window longer than the test: whatever the machine's speed,
		// the summaries are written at shutdown.
		srv, stop := serve(t, st, time.Hour)
		const n = 300
		statuses := map[int]int{}
		for range n {
			req, _ := http.NewRequest(http.MethodGet, srv.URL()+"/v1/security/keys", nil)
			req.Header.Set("Authorization", "Bearer "+testBadKey)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses[resp.StatusCode]++
		}
		if statuses[401]+statuses[429] != n {
			t.Fatalf("statuses %v, want only 401 and 429", statuses)
		}
		during := entries(t, st, vsecure.AuditAuthenticate)
		stop()
		es := entries(t, st, vsecure.AuditAuthenticate)
		sum := map[string]int{}
		for _, e := range es {
			c := 1
			if s, ok := e.Metadata["count"]; ok {
				c, _ = strconv.Atoi(s)
			}
			if e.Actor != vsecure.Anonymous || e.Metadata["ipAddress"] != "127.0.0.1" {
				t.Fatalf("entry %+v", e)
			}
			sum[e.Error] += c
		}
		// 401 until the per-address budget is spent, 429 after: two
		// reasons, a first entry and a summary each.
		if sum[string(vsecure.EUnauthenticated)] != statuses[401] || sum[string(vsecure.ERateLimited)] != statuses[429] {
			t.Fatalf("counts %v, want %v", sum, statuses)
		}
		if len(during) > 2 || len(es) > 4 {
			t.Fatalf("%d entries while the window was open, %d after shutdown, for %d requests: %s", len(during), len(es), n, describe(es))
		}
	})
}

func describe(es []vsecure.Entry) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "\n%s %s count=%s", e.Timestamp.Format(time.RFC3339), e.Error, e.Metadata["count"])
	}
	return b.String()
}
