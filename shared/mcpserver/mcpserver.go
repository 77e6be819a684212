// Package mcpserver exposes the secrets gate to AI agents over the Model
// Context Protocol, on the official Go SDK. It owns no policy of its own:
// every tool and resource is a call to the vsecure API through Backend
// (satisfied by *client.Client), made as the agent's own principal, so the
// API's rules, approvals and audit apply unchanged.
//
// The one piece of behaviour it adds is that an approval-gated read or
// write never hangs and never leaks: the tool re-uses the caller's own
// pending request (or files one with the agent's reason) and answers at once with
// a structured "approval pending" result telling the agent to retry.
package mcpserver

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/client"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// Backend is the part of the vsecure API the MCP server uses.
type Backend interface {
	ListResources(ctx context.Context) ([]api.ResourceView, error)
	GetSecret(ctx context.Context, uri string, version int) (api.SecretRead, error)
	PutSecret(ctx context.Context, uri string, w api.SecretWrite) (api.SecretInfo, error)
	ListSecrets(ctx context.Context, q api.SecretsQuery) ([]api.SecretInfo, api.Pagination, error)
	RequestApproval(ctx context.Context, r api.ApprovalRequest) (api.ApprovalView, error)
	ListApprovals(ctx context.Context, q api.ApprovalsQuery) ([]api.ApprovalView, api.Pagination, error)
	GetApproval(ctx context.Context, id string) (api.ApprovalView, error)
	Audit(ctx context.Context, q api.AuditQuery) ([]vsecure.Entry, api.Pagination, error)
	Whoami(ctx context.Context) (api.Identity, error)
	// UseSecret fetches a value to inject into a process (run_with_secrets).
	UseSecret(ctx context.Context, r api.SecretUse) (api.SecretRead, error)
}

var _ Backend = (*client.Client)(nil)

// MaxWait bounds how long a tool may wait for an approval decision. MCP
// clients time out at 60 s by default; we stay well inside that.
const MaxWait = 30 * time.Second

// SensitiveMeta is the _meta key set to true on every result and content
// block that carries a secret value, so clients can keep it out of logs
// and transcripts they persist.
const SensitiveMeta = "io.vsecure/sensitive"

// Options configures the server. Zero fields take defaults.
type Options struct {
	// Version is reported in serverInfo.
	Version string
	Logger  *slog.Logger
	// PollInterval is how often a waiting tool re-checks an approval
	// (default 1 s).
	PollInterval time.Duration
	// MaxWait caps waitSeconds (default and upper bound MaxWait). The
	// remote endpoint lowers it below API Gateway's 30 s limit.
	MaxWait time.Duration
	// SchemaCache shares inferred tool schemas between servers; the
	// stateless HTTP endpoint builds one server per request.
	SchemaCache *mcp.SchemaCache
	Now         func() time.Time
	// AllowCommands are the commands run_with_secrets may run, as
	// Allowlist resolves them; none means the tool is not offered.
	AllowCommands []string
	// NoRunReason is what the instructions say when run_with_secrets is
	// not offered (default: no command was allowlisted).
	NoRunReason string
	// MaxRunOutput caps the output run_with_secrets returns (default and
	// upper bound MaxRunOutput).
	MaxRunOutput int
}

// service holds what tool handlers share.
type service struct {
	api     Backend
	log     *slog.Logger
	poll    time.Duration
	maxWait time.Duration
	now     func() time.Time
	allow   []string // run_with_secrets' commands
	maxOut  int      // run_with_secrets' output cap

	mu sync.Mutex
	// me is the caller's principal id, asked of the API once (whoami) and
	// kept for the server's life: pending requests of others, visible to
	// an agent that is also a listed approver, are never taken for its own.
	me string
}

const instructions = `vsecure is a secrets gate. Secrets are named by vsecure:// URIs such as vsecure://secrets/production/DATABASE_URL.
Call list_resources to see the policies and the secrets you may use, then read_secret with the URI and a short reason.
Some secrets need a human's approval: read_secret then returns status "approval_pending" with an approval id and URL instead of a value.
Tell the user, and call read_secret again (or get_approval) after a human approved; do not retry in a tight loop.
Secret values are sensitive: use them only for the task at hand and never repeat them in your answer.`

// runInstructions are added when run_with_secrets is offered.
const runInstructions = `
Prefer run_with_secrets over read_secret when a command needs a secret: it runs an allowlisted command with the secrets in its environment and returns only masked output, so you never see the value. Some secrets permit only that (use, not read): read_secret refuses them.`

// noRunReason is said when no command is allowlisted.
const noRunReason = "run_with_secrets is not offered: the user allowlisted no command (vsecure mcp serve --allow-command PATH)."

// New returns an MCP server whose tools and resources act through api.
func New(api Backend, opts Options) *mcp.Server {
	s := &service{api: api, log: opts.Logger, poll: opts.PollInterval, now: opts.Now, allow: opts.AllowCommands}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.poll <= 0 {
		s.poll = time.Second
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.maxOut = opts.MaxRunOutput
	if s.maxOut <= 0 || s.maxOut > MaxRunOutput {
		s.maxOut = MaxRunOutput
	}
	s.maxWait = opts.MaxWait
	if s.maxWait <= 0 || s.maxWait > MaxWait {
		s.maxWait = MaxWait
	}
	version := opts.Version
	if version == "" {
		version = "dev"
	}
	srv := mcp.NewServer(&mcp.Implementation{Name: "vsecure", Title: "vsecure secrets gate", Version: version}, &mcp.ServerOptions{
		Instructions: s.instructions(opts.NoRunReason),
		Logger:       opts.Logger,
		SchemaCache:  opts.SchemaCache,
		// Logging is not offered: nothing a secrets gate logs belongs in
		// an agent's context.
		Capabilities: &mcp.ServerCapabilities{},
	})
	s.addTools(srv)
	if len(s.allow) > 0 {
		s.addRunTool(srv)
	}
	s.addResources(srv)
	return srv
}

func (s *service) instructions(noRun string) string {
	if len(s.allow) > 0 {
		return instructions + runInstructions
	}
	if noRun == "" {
		noRun = noRunReason
	}
	return instructions + "\n" + noRun
}

// principal returns the caller's principal id, asking the API on first
// use. The lock is held across the call so concurrent tool calls ask once;
// a failure is not kept, so the next call asks again.
func (s *service) principal(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.me != "" {
		return s.me, nil
	}
	id, err := s.api.Whoami(ctx)
	if err != nil {
		return "", err
	}
	if id.Principal == "" {
		return "", vsecure.Errorf(vsecure.EInternal, "the API did not say who the caller is")
	}
	s.me = id.Principal
	return s.me, nil
}

func boolPtr(b bool) *bool { return &b }
