// Package devtest starts a real local server (embedded store, local
// sealer, the whole HTTP API and /mcp) on a loopback port for end-to-end
// tests, seeded with a small fixture: an ungated staging policy, a gated
// production policy, a secret under each, and keys for every role.
package devtest

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/client"
	"github.com/vsecure/vsecure/shared/devserver"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// Fixture URIs and values.
const (
	StagingURI      = "vsecure://secrets/staging/API_TOKEN"
	StagingValue    = "stg-token-123"
	ProductionURI   = "vsecure://secrets/production/DATABASE_URL"
	ProductionValue = "postgresql://app:pw@db:5432/prod"
	// AdminKey is the bootstrap admin key of every test server.
	AdminKey = "vsk_devtest_admin_key_0123456789abcdefghijklmnop"
)

// Env is a running, seeded server.
type Env struct {
	URL    string
	Server *devserver.Server
	// Keys by principal: admin, agent-1 (agent), alice (approver),
	// audit-bot (auditor).
	AdminKey, AgentKey, ApproverKey, AuditorKey string
	Admin                                       *client.Client

	stop func()
}

// Stop shuts the server down and waits for it. The test's cleanup calls
// it too; a test calls it early to work on the data offline, or before it
// closes a store it gave the server.
func (e *Env) Stop() { e.stop() }

// Client returns a client using key.
func (e *Env) Client(t testing.TB, key string) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{BaseURL: e.URL, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Option changes how Start runs the server.
type Option func(*setup)

type setup struct {
	cfg     devserver.Config
	fixture bool
}

// WithConfig changes the server's configuration before it starts (a
// logger to read, a fake Slack, a store or clock of the test's own).
func WithConfig(f func(*devserver.Config)) Option { return func(s *setup) { f(&s.cfg) } }

// WithoutFixture starts the server with only its admin key, for tests
// that seed a world of their own.
func WithoutFixture() Option { return func(s *setup) { s.fixture = false } }

// Start starts a server on a loopback port and seeds it with the fixture;
// it is stopped when the test ends.
func Start(t testing.TB, opts ...Option) *Env {
	t.Helper()
	ctx := context.Background()
	s := setup{fixture: true, cfg: devserver.Config{
		Addr: "127.0.0.1:0", DataDir: t.TempDir(), AdminKey: AdminKey,
		Logger: slog.New(slog.DiscardHandler),
	}}
	for _, o := range opts {
		o(&s)
	}
	srv, err := devserver.New(ctx, s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	e := &Env{URL: srv.URL(), Server: srv, AdminKey: s.cfg.AdminKey, stop: sync.OnceFunc(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-done
	})}
	t.Cleanup(e.Stop)
	e.Admin = e.Client(t, e.AdminKey)
	if !s.fixture {
		return e
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err = e.Admin.Configure(ctx, api.ResourceConfig{
		URI: "vsecure://secrets/staging/*", Name: "Staging Secrets", Description: "All staging environment secrets",
		Permissions: []vsecure.Operation{vsecure.OpRead, vsecure.OpWrite},
	})
	must(err)
	_, err = e.Admin.Configure(ctx, api.ResourceConfig{
		URI: "vsecure://secrets/production/*", Name: "Production Secrets", Description: "All production environment secrets",
		Permissions: []vsecure.Operation{vsecure.OpRead}, RequiresApproval: true, Approvers: []string{"alice"},
	})
	must(err)
	for uri, v := range map[string]string{StagingURI: StagingValue, ProductionURI: ProductionValue} {
		v := v
		_, err = e.Admin.PutSecret(ctx, uri, api.SecretWrite{Value: &v, Metadata: map[string]string{"service": "app"}})
		must(err)
	}
	key := func(principal string, role vsecure.Role) string {
		k, err := e.Admin.CreateKey(ctx, api.KeyRequest{Principal: principal, Roles: []string{string(role)}})
		must(err)
		return k.Secret
	}
	e.AgentKey = key("agent-1", vsecure.RoleAgent)
	e.ApproverKey = key("alice", vsecure.RoleApprover)
	e.AuditorKey = key("audit-bot", vsecure.RoleAuditor)
	return e
}
