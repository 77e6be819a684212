// Package devtest starts a real local server (embedded store, local
// sealer, the whole HTTP API and /mcp) on a loopback port for end-to-end
// tests, seeded with a small fixture: an ungated staging policy, a gated
// production policy, a secret under each, and keys for every role.
package devtest

import (
	"context"
	"io"
	"log/slog"
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
}

// Client returns a client using key.
func (e *Env) Client(t testing.TB, key string) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{BaseURL: e.URL, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Start starts and seeds a server; it is stopped when the test ends.
func Start(t testing.TB) *Env {
	t.Helper()
	ctx := context.Background()
	srv, err := devserver.New(ctx, devserver.Config{
		Addr: "127.0.0.1:0", DataDir: t.TempDir(), AdminKey: AdminKey,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-done
	})
	e := &Env{URL: srv.URL(), Server: srv, AdminKey: AdminKey}
	e.Admin = e.Client(t, AdminKey)
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
