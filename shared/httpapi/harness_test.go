package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vsecure/vsecure/internal/syncbuf"
	"github.com/vsecure/vsecure/internal/testclock"
	"github.com/vsecure/vsecure/shared/crypto/local"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/httpapi"
	"github.com/vsecure/vsecure/shared/store/embedded"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// faultyStore fails audit appends and atomic writes on demand, to prove
// that nothing happens without its audit entry.
type faultyStore struct {
	vsecure.Store
	broken atomic.Bool
	// marks counts MarkKeyUsed calls; markFails makes them fail.
	marks     atomic.Int64
	markFails atomic.Bool
}

func (f *faultyStore) MarkKeyUsed(ctx context.Context, k vsecure.Key, at, since time.Time) error {
	f.marks.Add(1)
	if f.markFails.Load() {
		return vsecure.Wrap(vsecure.EUnavailable, io.ErrUnexpectedEOF, "store unavailable")
	}
	return f.Store.MarkKeyUsed(ctx, k, at, since)
}

func (f *faultyStore) down() error {
	if f.broken.Load() {
		return vsecure.Wrap(vsecure.EUnavailable, io.ErrUnexpectedEOF, "store unavailable")
	}
	return nil
}

func (f *faultyStore) AppendAudit(ctx context.Context, e vsecure.Entry) error {
	if err := f.down(); err != nil {
		return err
	}
	return f.Store.AppendAudit(ctx, e)
}

func (f *faultyStore) RecordRead(ctx context.Context, uri string, at time.Time, e vsecure.Entry) error {
	if err := f.down(); err != nil {
		return err
	}
	return f.Store.RecordRead(ctx, uri, at, e)
}

func (f *faultyStore) CreateApproval(ctx context.Context, a vsecure.Approval, e vsecure.Entry) error {
	if err := f.down(); err != nil {
		return err
	}
	return f.Store.CreateApproval(ctx, a, e)
}

func (f *faultyStore) PutSecret(ctx context.Context, h vsecure.Secret, v vsecure.SecretVersion, e vsecure.Entry) error {
	if err := f.down(); err != nil {
		return err
	}
	return f.Store.PutSecret(ctx, h, v, e)
}

type env struct {
	t     testing.TB
	api   *httpapi.API
	srv   *httptest.Server
	clock *testclock.Clock
	store *faultyStore
	gate  *gate.Gate
	logs  *syncbuf.Buffer
	admin string
}

const adminKey = "vsk_test-admin-key-0123456789abcdefghijklmnopqrstuvwxyz"

func newEnv(t testing.TB, opts ...func(*gate.Config)) *env {
	t.Helper()
	dir := t.TempDir()
	// Sealed like every production wiring, so the benchmarks count the MACs.
	mk, err := local.LoadMACKeys(dir + "-keys")
	if err != nil {
		t.Fatal(err)
	}
	st, err := embedded.Open(filepath.Join(dir, "vsecure.db"), embedded.WithSeal(mk, "httpapi test"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sealer, err := local.Load("", dir)
	if err != nil {
		t.Fatal(err)
	}
	clk := testclock.New(time.Date(2024, 3, 15, 10, 30, 0, 0, time.UTC))
	logs := &syncbuf.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	fs := &faultyStore{Store: st}
	cfg := gate.Config{
		Store: fs, Sealer: sealer, ApprovalURL: httpapi.ApprovalURL("https://vsecure.example"), CursorKey: bytes.Repeat([]byte("k"), 32),
		Logger: logger, Now: clk.Now,
	}
	for _, o := range opts {
		o(&cfg)
	}
	g, err := gate.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.EnsureKey(t.Context(), adminKey, "admin", []vsecure.Role{vsecure.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	api := &httpapi.API{Gate: g, Auth: httpapi.HeaderAuth{Gate: g}, Log: logger, Mounts: httpapi.Mounts{MCP: httpapi.Disabled, Slack: httpapi.Disabled, Console: httpapi.Disabled}}
	e := &env{t: t, api: api, clock: clk, store: fs, gate: g, logs: logs, admin: adminKey}
	e.srv = httptest.NewServer(e.handler())
	t.Cleanup(e.srv.Close)
	return e
}

// handler is the API's whole table, as the local server mounts it.
func (e *env) handler() http.Handler {
	h, err := e.api.Handler()
	if err != nil {
		e.t.Fatal(err)
	}
	return h
}

// resp is a decoded response.
type resp struct {
	Status int
	Header http.Header
	Raw    []byte
	Body   map[string]any
}

func (r resp) code() string {
	if e, ok := r.Body["error"].(map[string]any); ok {
		s, _ := e["code"].(string)
		return s
	}
	return ""
}

func (r resp) str(k string) string { s, _ := r.Body[k].(string); return s }

func (e *env) do(method, path, key string, body any) resp {
	e.t.Helper()
	return e.doH(method, path, key, body, nil)
}

// doH is do with extra request headers.
func (e *env) doH(method, path, key string, body any, h http.Header) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("User-Agent", "MCPClient/1.0")
	for k, v := range h {
		req.Header[k] = v
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := resp{Status: res.StatusCode, Header: res.Header, Raw: raw}
	_ = json.Unmarshal(raw, &out.Body)
	return out
}

func (e *env) must(r resp, status int) resp {
	e.t.Helper()
	if r.Status != status {
		e.t.Fatalf("status %d, want %d: %s", r.Status, status, r.Raw)
	}
	return r
}

func (e *env) wantErr(r resp, status int, code string) {
	e.t.Helper()
	if r.Status != status || r.code() != code {
		e.t.Fatalf("got %d %s, want %d %s: %s", r.Status, r.code(), status, code, r.Raw)
	}
	if eb, _ := r.Body["error"].(map[string]any); eb["requestId"] == "" || eb["message"] == "" {
		e.t.Fatalf("error envelope lacks requestId or message: %s", r.Raw)
	}
}

// key creates an API key for principal with roles and returns its secret.
func (e *env) key(principal string, roles ...string) string {
	e.t.Helper()
	r := e.must(e.do("POST", "/v1/security/keys", e.admin, map[string]any{"principal": principal, "roles": roles}), 201)
	return r.str("key")
}

func resPath(uri string) string { return "/v1/security/mcp/resources/" + url.PathEscape(uri) }

func (e *env) configure(p map[string]any) {
	e.t.Helper()
	e.must(e.do("POST", "/v1/security/mcp/resources", e.admin, p), 200)
}

func (e *env) put(uri, value string) resp {
	e.t.Helper()
	return e.must(e.do("PUT", resPath(uri), e.admin, map[string]any{"value": value, "name": "n"}), 200)
}

// audit returns entries matching a query string, as admin.
func (e *env) audit(query string) []map[string]any {
	e.t.Helper()
	r := e.must(e.do("GET", "/v1/security/mcp/audit?"+query, e.admin, nil), 200)
	var out []map[string]any
	for _, l := range r.Body["logs"].([]any) {
		out = append(out, l.(map[string]any))
	}
	return out
}

func newReq(method, url string) (*http.Request, error) { return http.NewRequest(method, url, nil) }
