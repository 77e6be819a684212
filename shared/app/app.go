// Package app is the composition root: Assemble builds the gate, the HTTP
// API with its limits, the closing announcements, remote MCP and Slack the
// same way for `vsecure dev` (package devserver) and for Lambda (package
// lambdafn). The runtimes differ only in the Parts they choose: store,
// sealer, workflow, notifier, authenticator, limits, audit keys, cursor
// keys, clock and logger.
//
// MCP and Slack come in as constructors so that this package links neither
// the MCP SDK nor slack-go: a Lambda bootstrap links them only if its main
// names them.
package app

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/httpapi"
	"github.com/vsecure/vsecure/shared/oidc"
	"github.com/vsecure/vsecure/shared/ratelimit"
	"github.com/vsecure/vsecure/shared/vsecure"
	"github.com/vsecure/vsecure/shared/workflow"
)

// Parts are what a runtime chooses.
type Parts struct {
	Store  vsecure.Store
	Sealer vsecure.Sealer
	// PublicURL is the base of approvalUrl links.
	PublicURL string
	// CursorKey signs pagination cursors; CursorKeys supplies it lazily
	// instead (gate.Config).
	CursorKey  []byte
	CursorKeys gate.CursorKeySource
	// AuditVerifier and AuditKey check and name the audit digests; nil:
	// audit verification answers 503.
	AuditVerifier gate.AuditVerifier
	AuditKey      gate.AuditKey
	// RefusalWindow is gate.Config.RefusalWindow.
	RefusalWindow time.Duration
	// Now is the clock of the gate (nil: time.Now).
	Now func() time.Time
	Log *slog.Logger

	// Auth authenticates API calls: nil reads the credential header
	// (httpapi.HeaderAuth); Lambda's routes read the authorizer's context.
	Auth func(*gate.Gate) httpapi.Authenticator
	// Limits throttle callers.
	Limits Limits
	// QuietRequests is httpapi.API.QuietRequests.
	QuietRequests bool

	// Notifier announces approvals (it links them through the gate); nil
	// logs them (workflow.LogNotifier).
	Notifier func(*gate.Gate) workflow.Notifier
	// Workflow is the approval workflow, built over the gate's Expire
	// wrapped to announce expiries, and the notifier; nil runs none
	// (expiry is enforced at read time regardless). Its decisions and
	// revocations are announced by the same workflow.Announcer.
	Workflow func(expirer workflow.Expirer, n workflow.Notifier) (gate.Workflow, error)
	// AsyncAnnouncements is workflow.Announcer.Async: true where the
	// process outlives its answers (the local server).
	AsyncAnnouncements bool

	// MCP builds the remote MCP endpoint over an in-process API
	// (remotemcp.Handler); nil serves no /mcp. It is given the API rather
	// than its handler so that only binaries that serve /mcp link every
	// route's handler.
	MCP func(api *httpapi.API, log *slog.Logger) http.Handler
	// Slack builds the Slack interactions endpoint over the gate and the
	// notifier; nil serves none (404). It may return nil for none.
	Slack func(g *gate.Gate, n workflow.Notifier) (http.Handler, error)
	// OIDC, if set, accepts people's JWTs from its issuer on the API and
	// builds the sign-in (App.OIDC); nil accepts API keys and tokens only.
	OIDC *oidc.Config
	// Console builds the people's web console over the gate and the
	// sign-in (nil when no OIDC); nil serves none. A constructor like MCP
	// and Slack, so Lambda bootstraps do not link the templates.
	Console func(g *gate.Gate, humans *oidc.Provider) (http.Handler, error)
}

// Limits are the HTTP API's abuse limits. They are kept in memory: on the
// local server for the process, on Lambda per container, so a caller
// spread over many warm containers gets that many budgets. That is enough
// for abuse limits (they blunt key guessing and runaway clients); a limit
// that is a product rule (approval requests per requester) is kept in the
// store by the gate instead, so it holds across containers.
type Limits struct {
	// PerPrincipal is the request rate per authenticated principal (per
	// second; bursts of twice that). Zero is DefaultPerPrincipal; negative
	// turns it off.
	PerPrincipal float64
}

const (
	// DefaultPerPrincipal is the per-principal request rate.
	DefaultPerPrincipal = 1000
	// failedAuthRate and failedAuthBurst bound failed authentications per
	// source IP: a person mistyping a key never meets them, a guesser does.
	failedAuthRate, failedAuthBurst = 5, 20
	// limitKeys caps the keys each limiter remembers.
	limitKeys = 100_000
)

// App is an assembled service.
type App struct {
	Gate *gate.Gate
	API  *httpapi.API
	// Notifier announces approvals (the Parts' or the log).
	Notifier workflow.Notifier
	// Expirer is the gate's Expire, announcing each expiry: workflow tasks
	// that tidy approvals expire through it.
	Expirer workflow.Expirer
	// Slack is the Slack interactions endpoint; nil when not mounted.
	Slack http.Handler
	// OIDC is the identity provider (Parts.OIDC); nil when none.
	OIDC *oidc.Provider

	announcer *workflow.Announcer
}

// Assemble builds the service from p.
func Assemble(p Parts) (*App, error) {
	if p.Store == nil || p.Sealer == nil {
		return nil, errors.New("app: a store and a sealer are required")
	}
	log := p.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var humans *oidc.Provider
	if p.OIDC != nil {
		cfg := *p.OIDC
		if cfg.Log == nil {
			cfg.Log = log
		}
		if cfg.Now == nil {
			cfg.Now = p.Now
		}
		var err error
		if humans, err = oidc.New(cfg); err != nil {
			return nil, err
		}
	}
	g, err := gate.New(gate.Config{
		Store: p.Store, Sealer: p.Sealer, ApprovalURL: httpapi.ApprovalURL(p.PublicURL),
		CursorKey: p.CursorKey, CursorKeys: p.CursorKeys, Logger: log,
		AuditVerifier: p.AuditVerifier, AuditKey: p.AuditKey,
		RefusalWindow: p.RefusalWindow, Now: p.Now, Humans: humanVerifier(humans),
	})
	if err != nil {
		return nil, err
	}
	a := &App{Gate: g, OIDC: humans}
	a.Notifier = workflow.LogNotifier{Log: log, URL: g.ApprovalURL}
	if p.Notifier != nil {
		a.Notifier = p.Notifier(g)
	}
	a.announcer = &workflow.Announcer{Notifier: a.Notifier, Log: log, Async: p.AsyncAnnouncements}
	a.Expirer = a.announcer.Expirer(g)
	var wf gate.Workflow = gate.NopWorkflow{}
	if p.Workflow != nil {
		if wf, err = p.Workflow(a.Expirer, a.Notifier); err != nil {
			return nil, err
		}
	}
	g.SetWorkflow(a.announcer.Workflow(wf))

	auth := httpapi.Authenticator(httpapi.HeaderAuth{Gate: g})
	if p.Auth != nil {
		auth = p.Auth(g)
	}
	a.API = &httpapi.API{Gate: g, Auth: auth, Log: log, Limits: p.Limits.build(), QuietRequests: p.QuietRequests}
	if p.MCP != nil {
		// Tool calls run the API in-process with the caller's own
		// credential (the header: no authorizer is in front of them) under
		// the same limits as direct calls.
		inner := &httpapi.API{Gate: g, Auth: httpapi.HeaderAuth{Gate: g}, Log: log, Limits: a.API.Limits, QuietRequests: p.QuietRequests}
		a.API.Mounts.MCP = p.MCP(inner, log)
	}
	if p.Slack != nil {
		if a.Slack, err = p.Slack(g, a.Notifier); err != nil {
			return nil, err
		}
		if a.Slack != nil {
			a.API.Mounts.Slack = a.Slack
		}
	}
	if p.Console != nil {
		if a.API.Mounts.Console, err = p.Console(g, humans); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// humanVerifier keeps a nil provider a nil interface (JWTs refused).
func humanVerifier(p *oidc.Provider) gate.HumanVerifier {
	if p == nil {
		return nil
	}
	return p
}

func (l Limits) build() httpapi.Limits {
	out := httpapi.Limits{FailedAuthPerIP: ratelimit.New(failedAuthRate, failedAuthBurst, limitKeys, nil)}
	switch rate := l.PerPrincipal; {
	case rate == 0:
		out.PerPrincipal = ratelimit.New(DefaultPerPrincipal, 2*DefaultPerPrincipal, limitKeys, nil)
	case rate > 0:
		out.PerPrincipal = ratelimit.New(rate, int(2*rate), limitKeys, nil)
	}
	return out
}

// Close waits for the closing announcements still in flight; call it
// before closing the store they read.
func (a *App) Close() error {
	a.announcer.Wait()
	return nil
}
