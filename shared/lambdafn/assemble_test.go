package lambdafn

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/app"
	"github.com/vsecure/vsecure/shared/crypto/local"
	"github.com/vsecure/vsecure/shared/devserver"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/httpapi"
	"github.com/vsecure/vsecure/shared/remotemcp"
	"github.com/vsecure/vsecure/shared/store/embedded"
	"github.com/vsecure/vsecure/shared/vsecure"
)

const assembleAdminKey = "vsk_assemble_admin_key_0123456789abcdefghijklmnop"

// closedLog passes the "approval closed" lines of the log notifier to a
// channel, so a test waits for the announcement instead of sleeping.
type closedLog struct {
	slog.Handler
	closed chan string
}

func (h closedLog) Enabled(context.Context, slog.Level) bool { return true }

func (h closedLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "approval closed" {
		return nil
	}
	var id, status string
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "approvalId":
			id = a.Value.String()
		case "status":
			status = a.Value.String()
		}
		return true
	})
	h.closed <- id + ":" + status
	return nil
}

func (h closedLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h closedLog) WithGroup(string) slog.Handler      { return h }

// runtime is one assembled service as a test drives it.
type runtime struct {
	name   string
	gate   *gate.Gate
	api    *httpapi.API
	closed chan string
	// serve answers one request on the route of function, as an
	// authenticated caller (principal) or, with none, as an unknown one.
	serve func(t *testing.T, function string, r *http.Request, principal *vsecure.Principal) (int, string)
}

func devRuntime(t *testing.T) runtime {
	closed := make(chan string, 16)
	srv, err := devserver.New(t.Context(), devserver.Config{
		Addr: "127.0.0.1:0", DataDir: t.TempDir(), AdminKey: assembleAdminKey, DigestEvery: -1,
		Logger: slog.New(closedLog{closed: closed}),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	h, err := srv.API.Handler()
	if err != nil {
		t.Fatal(err)
	}
	return runtime{name: "dev", gate: srv.Gate, api: srv.API, closed: closed,
		serve: func(t *testing.T, _ string, r *http.Request, _ *vsecure.Principal) (int, string) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			return w.Code, w.Body.String()
		}}
}

// lambdaRuntime assembles the Lambda parts over the embedded store, as
// the dev runtime does over its own: only the parts differ.
func lambdaRuntime(t *testing.T) runtime {
	dir := t.TempDir()
	mk, err := local.LoadMACKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := embedded.Open(filepath.Join(dir, "vsecure.db"), embedded.WithSeal(mk, "lambda test"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sealer, err := local.Load(base64.StdEncoding.EncodeToString(make([]byte, 32)), dir)
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan string, 16)
	mcp := func(_ *Build, p *app.Parts) { p.MCP = remotemcp.Handler }
	f, err := NewWith(Config{PublicURL: "https://api.example.com"}, st, sealer, Deps{Extensions: []Extension{mcp}}, slog.New(closedLog{closed: closed}))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Gate.EnsureKey(t.Context(), assembleAdminKey, "admin", []vsecure.Role{vsecure.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	return runtime{name: "lambda", gate: f.Gate, api: f.API, closed: closed,
		serve: func(t *testing.T, function string, r *http.Request, p *vsecure.Principal) (int, string) {
			e, err := f.Endpoint(function)
			if err != nil {
				t.Fatal(err)
			}
			var authz map[string]any
			if p != nil {
				authz = EncodePrincipal(*p)
			}
			ev := endpointEvent(r.Method, r.URL.Path, authz)
			ev.RequestContext.HTTP.SourceIP = strings.Split(r.RemoteAddr, ":")[0]
			ev.Headers = map[string]string{}
			for k := range r.Header {
				ev.Headers[strings.ToLower(k)] = r.Header.Get(k)
			}
			if r.Body != nil {
				b, err := io.ReadAll(r.Body)
				if err != nil {
					t.Fatal(err)
				}
				ev.Body = string(b)
			}
			resp, err := e.Handle(t.Context(), ev)
			if err != nil {
				t.Fatal(err)
			}
			return resp.StatusCode, resp.Body
		}}
}

// TestLambdaAssemblesAsTheLocalServer: both runtimes are assembled by
// app.Assemble, so the same abuse limits are on, /mcp answers the same,
// and a decision is announced through the one closing announcer.
func TestLambdaAssemblesAsTheLocalServer(t *testing.T) {
	var mcpAnswers []string
	for _, rt := range []runtime{devRuntime(t), lambdaRuntime(t)} {
		t.Run(rt.name, func(t *testing.T) {
			t.Run("failed_auth_is_limited_per_ip", func(t *testing.T) {
				limited := 0
				for range 25 {
					r := httptest.NewRequest("GET", "/v1/security/mcp/audit", nil)
					r.RemoteAddr = "192.0.2.7:4321"
					r.Header.Set("Authorization", "Bearer vsk_not_a_key_0123456789abcdefghijklmnopqrstu")
					if code, _ := rt.serve(t, "audit-list", r, nil); code == http.StatusTooManyRequests {
						limited++
					}
				}
				if limited == 0 {
					t.Error("25 failed authentications from one address were never limited")
				}
				if rt.api.Limits.PerPrincipal == nil {
					t.Error("no per-principal limit")
				}
			})

			t.Run("mcp_answers", func(t *testing.T) {
				k, err := rt.gate.Store().KeyByHash(t.Context(), gate.HashCredential(assembleAdminKey))
				if err != nil {
					t.Fatal(err)
				}
				p := vsecure.Principal{ID: k.Principal, Roles: k.Roles, KeyID: k.ID}
				body := `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}`
				r := httptest.NewRequest("POST", "/mcp", strings.NewReader(body))
				r.RemoteAddr = "192.0.2.8:4321"
				r.Header.Set("Authorization", "Bearer "+assembleAdminKey)
				r.Header.Set("Content-Type", "application/json")
				r.Header.Set("Accept", "application/json, text/event-stream")
				code, resp := rt.serve(t, "mcp", r, &p)
				if code != http.StatusOK {
					t.Fatalf("POST /mcp: %d %s", code, resp)
				}
				var out struct {
					Result struct {
						Tools []struct{ Name string }
					}
				}
				if err := json.Unmarshal([]byte(resp), &out); err != nil || len(out.Result.Tools) == 0 {
					t.Fatalf("tools/list answered %s", resp)
				}
				var names []string
				for _, tool := range out.Result.Tools {
					names = append(names, tool.Name)
				}
				mcpAnswers = append(mcpAnswers, strings.Join(names, ","))
			})

			t.Run("decision_is_announced", func(t *testing.T) {
				ctx := t.Context()
				call := func(id string, role vsecure.Role) gate.Call {
					return gate.Call{Principal: vsecure.Principal{ID: id, Roles: []vsecure.Role{role}}}
				}
				if _, err := rt.gate.ConfigurePolicy(ctx, call("admin", vsecure.RoleAdmin), vsecure.Policy{
					URI: "vsecure://secrets/production/*", Permissions: []vsecure.Operation{vsecure.OpRead},
					RequiresApproval: true, Approvers: []string{"alice"},
				}); err != nil {
					t.Fatal(err)
				}
				v, err := rt.gate.RequestApproval(ctx, call("agent-1", vsecure.RoleAgent), api.ApprovalRequest{Resource: "vsecure://secrets/production/DATABASE_URL", Operation: "read"})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := rt.gate.Decide(ctx, call("alice", vsecure.RoleApprover), v.ID, api.Respond{Action: "approve"}); err != nil {
					t.Fatal(err)
				}
				select {
				case got := <-rt.closed:
					if got != v.ID+":approved" {
						t.Fatalf("announced %s, want %s:approved", got, v.ID)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("the decision was never announced")
				}
			})
		})
	}
	if len(mcpAnswers) == 2 && mcpAnswers[0] != mcpAnswers[1] {
		t.Errorf("/mcp lists different tools:\n dev    %s\n lambda %s", mcpAnswers[0], mcpAnswers[1])
	}
}
