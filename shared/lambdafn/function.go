package lambdafn

import (
	"context"
	"crypto/rand"
	"log/slog"
	"slices"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/vsecure/vsecure/shared/app"
	"github.com/vsecure/vsecure/shared/archive"
	"github.com/vsecure/vsecure/shared/auditindex"
	"github.com/vsecure/vsecure/shared/auditlog"
	"github.com/vsecure/vsecure/shared/digest"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/httpapi"
	"github.com/vsecure/vsecure/shared/vsecure"
	"github.com/vsecure/vsecure/shared/workflow"
	sfnwf "github.com/vsecure/vsecure/shared/workflow/sfn"
)

// Function holds what one Lambda container builds once and reuses for
// every invocation.
type Function struct {
	Gate *gate.Gate
	API  *httpapi.API
	Log  *slog.Logger
	// Workflow is the Step Functions adapter when the function has a state
	// machine (VSECURE_STATE_MACHINE_ARN); nil otherwise.
	Workflow *sfnwf.Workflow
	// Config is what the function was built from.
	Config Config
	// AuditSigner signs and checks audit digests when the function has
	// the audit signing key (VSECURE_AUDIT_SIGNING_KEY_ARN); nil otherwise.
	AuditSigner digest.Signer
	// Witness is the audit witness (VSECURE_WITNESS_BUCKET); nil: none.
	Witness digest.Witness
	// Archive is the audit archive in the witness bucket; nil: none.
	Archive archive.Bucket
	// MACKeys opens the audit epochs' MAC keys for the digest step and the
	// verifier (VSECURE_AUDIT_MAC_KEY_ID); only those two functions are
	// granted kms:Decrypt on it.
	MACKeys auditlog.MACKeys
	// Notifier announces approvals from the workflow tasks (Slack, if an
	// extension installed it; else the log).
	Notifier workflow.Notifier
	// Expirer is the gate's Expire announcing each expiry (app.App).
	Expirer workflow.Expirer
	// Indexer is the store's audit indexer (the DynamoDB store's); nil
	// for a store without one.
	Indexer auditindex.Indexer
}

// Deps are the dependencies Open builds from the configuration besides
// the store and sealer; zero values leave them out.
type Deps struct {
	// CursorKeys supplies the cursor key when Config.CursorKey is empty.
	CursorKeys gate.CursorKeySource
	// Workflow is the gate's workflow.
	Workflow *sfnwf.Workflow
	// AuditSigner gives the gate an audit verifier over its digests.
	AuditSigner digest.Signer
	// Witness is given to the audit verifier and the digest step.
	Witness digest.Witness
	// Archive is written by the digest step and read by the verifier
	// for entries past the audit retention.
	Archive archive.Bucket
	// MACKeys too, so both check every entry's MAC.
	MACKeys auditlog.MACKeys
	// Secrets is the container's Secrets Manager client (nil: created on
	// first use from the configuration).
	Secrets SecretReader
	// Extensions add the parts of other packages (Slack, remote MCP).
	Extensions []Extension
}

// An Extension adds what another package provides (Slack, remote MCP) to
// a function's parts before they are assembled. Naming it in a function's
// main.go links that package into that bootstrap only.
type Extension func(b *Build, p *app.Parts)

// Build is what an extension may use besides the parts.
type Build struct {
	Config Config
	Log    *slog.Logger

	secrets SecretReader
}

// Secrets is the container's one Secrets Manager client, created on first
// use (no network call until a secret is read).
func (b *Build) Secrets() SecretReader {
	if b.secrets == nil {
		b.secrets = NewSecretsClient(b.Config)
	}
	return b.secrets
}

// New wires the gate and the HTTP API over store and sealer. It makes no
// network call: clients connect on first use.
func New(cfg Config, store vsecure.Store, sealer vsecure.Sealer, log *slog.Logger) (*Function, error) {
	return NewWith(cfg, store, sealer, Deps{}, log)
}

// NewWith is New with the optional dependencies: it chooses the Lambda
// parts and assembles them (app.Assemble), as the local server does with
// its own.
func NewWith(cfg Config, store vsecure.Store, sealer vsecure.Sealer, deps Deps, log *slog.Logger) (*Function, error) {
	if len(cfg.CursorKey) > 0 {
		// The env key (emulators, dev) wins over the secret.
		deps.CursorKeys = nil
	}
	if len(cfg.CursorKey) == 0 && deps.CursorKeys == nil {
		// A function that does not paginate still needs a key to build the
		// gate; a per-container random one makes any cursor it were shown
		// fail verification (400), never verify.
		cfg.CursorKey = make([]byte, 32)
		if _, err := rand.Read(cfg.CursorKey); err != nil {
			return nil, err
		}
	}
	p := app.Parts{
		Store: store, Sealer: sealer, PublicURL: cfg.PublicURL, CursorKey: cfg.CursorKey, Log: log,
		CursorKeys:    deps.CursorKeys,
		Auth:          func(g *gate.Gate) httpapi.Authenticator { return AuthorizerContext{Gate: g} },
		QuietRequests: cfg.RequestLog == "errors", OIDC: cfg.OIDC,
	}
	if deps.AuditSigner != nil {
		vc := digest.Config{Store: store, Signer: deps.AuditSigner, Witness: deps.Witness, MACKeys: deps.MACKeys, Log: log, Retention: cfg.AuditRetention}
		if deps.Archive != nil {
			vc.Archive = archive.Reader{Bucket: deps.Archive}
		}
		v, err := digest.NewVerifier(vc)
		if err != nil {
			return nil, err
		}
		p.AuditVerifier = v
		if k, ok := deps.AuditSigner.(gate.AuditKey); ok {
			p.AuditKey = k
		}
	}
	if deps.Workflow != nil {
		p.Workflow = func(workflow.Expirer, workflow.Notifier) (gate.Workflow, error) { return deps.Workflow, nil }
	}
	b := &Build{Config: cfg, Log: log, secrets: deps.Secrets}
	for _, ext := range deps.Extensions {
		ext(b, &p)
	}
	a, err := app.Assemble(p)
	if err != nil {
		return nil, err
	}
	f := &Function{
		Gate: a.Gate, API: a.API, Log: log, Workflow: deps.Workflow, Config: cfg,
		AuditSigner: deps.AuditSigner, Witness: deps.Witness, Archive: deps.Archive, MACKeys: deps.MACKeys,
		Notifier: a.Notifier, Expirer: a.Expirer,
	}
	// The gate's store wraps this one (detached writes), hiding IndexAudit.
	f.Indexer, _ = store.(auditindex.Indexer)
	return f, nil
}

// noSealer stands in for functions the stack gives no KMS key: they never
// seal or open, and if they tried, the call fails closed.
type noSealer struct{}

func (noSealer) Seal(context.Context, []byte, vsecure.SealContext) (vsecure.Sealed, error) {
	return vsecure.Sealed{}, vsecure.Errorf(vsecure.EInternal, "this function has no KMS key (VSECURE_KMS_KEY_ARN)")
}

func (noSealer) Open(context.Context, vsecure.Sealed, vsecure.SealContext) ([]byte, error) {
	return nil, vsecure.Errorf(vsecure.EInternal, "this function has no KMS key (VSECURE_KMS_KEY_ARN)")
}

// noStore stands in for functions that use no state (health): the stack
// gives them no table. Any call would hit the nil interface and panic,
// which the handler recovers as a 500; none is made.
type noStore struct{ vsecure.Store }

// Endpoint serves the routes of one function of the route table.
type Endpoint struct {
	adapter *httpadapter.HandlerAdapterV2
	gate    *gate.Gate
}

// Endpoint returns the proxy handler for function.
func (f *Function) Endpoint(function string) (*Endpoint, error) {
	// A copy of the API per endpoint, so that each judges the cached
	// identity as its own function needs (AuthorizerContext.JudgesKey).
	api := *f.API
	if ac, ok := api.Auth.(AuthorizerContext); ok {
		rs := httpapi.RoutesOf(function)
		ac.JudgesKey = len(rs) > 0 && !slices.ContainsFunc(rs, func(r httpapi.Route) bool { return !r.JudgesKey })
		api.Auth = ac
	}
	h, err := api.FunctionHandler(function)
	if err != nil {
		return nil, err
	}
	return &Endpoint{adapter: httpadapter.NewV2(h), gate: f.Gate}, nil
}

// Handle converts the API Gateway v2 event to an http.Request (the event's
// request context rides along in ctx for AuthorizerContext), runs the
// handler and converts the response back. The API Gateway request id
// becomes the request id of logs, audit entries and error envelopes.
func (e *Endpoint) Handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	if id := ev.RequestContext.RequestID; id != "" {
		ctx = httpapi.WithRequestID(ctx, id)
	}
	flushRefusals(ctx, e.gate)
	return e.adapter.ProxyWithContext(ctx, ev)
}

// flushRefusals writes the summaries of the container's refusal windows
// that have closed (gate.FlushRefusals; one atomic load when none has).
// A container has no ticker that runs while it is frozen and no shutdown
// hook without an extension, so the next invocation after a window is when
// its summary is written. A container frozen and then recycled inside or
// after a window loses at most that window's count beyond its first
// entry, which was written when the window opened. A failure is logged by
// the gate and the counts stay for the next invocation; this request goes
// on.
func flushRefusals(ctx context.Context, g *gate.Gate) { _ = g.FlushRefusals(ctx) }

// Authorizer returns the authorizer handler.
func (f *Function) Authorizer() Authorizer { return Authorizer{Gate: f.Gate, Log: f.Log} }
