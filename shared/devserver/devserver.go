// Package devserver wires the local server: the embedded bbolt store, the
// local master-key sealer, the gate and the HTTP API, all in one process
// with zero setup. `vsecure dev` and the end-to-end tests both use it.
package devserver

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/vsecure/vsecure/shared/app"
	"github.com/vsecure/vsecure/shared/auditindex"
	"github.com/vsecure/vsecure/shared/auditlog"
	"github.com/vsecure/vsecure/shared/console"
	"github.com/vsecure/vsecure/shared/crypto/local"
	"github.com/vsecure/vsecure/shared/digest"
	"github.com/vsecure/vsecure/shared/digest/witnessfile"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/httpapi"
	"github.com/vsecure/vsecure/shared/oidc"
	"github.com/vsecure/vsecure/shared/passkey"
	"github.com/vsecure/vsecure/shared/remotemcp"
	"github.com/vsecure/vsecure/shared/slack"
	"github.com/vsecure/vsecure/shared/store/embedded"
	"github.com/vsecure/vsecure/shared/vsecure"
	"github.com/vsecure/vsecure/shared/workflow"
	localwf "github.com/vsecure/vsecure/shared/workflow/local"
)

// Config is the local server's configuration, usually from flags and env.
type Config struct {
	Addr    string // VSECURE_ADDR, default 127.0.0.1:8080
	DataDir string // VSECURE_DATA_DIR, default ./.vsecure
	// KeysDir (VSECURE_KEYS_DIR, default <DataDir>-keys) holds the audit
	// signing and MAC keys and the witness file, away from the data they
	// protect: whoever can write the data directory must not also hold the
	// keys to re-seal it, nor the record of what was sealed.
	KeysDir   string
	AdminKey  string // VSECURE_ADMIN_KEY; generated and printed when empty on first start
	PublicURL string // VSECURE_PUBLIC_URL; default http://<addr>
	MasterKey string // VSECURE_MASTER_KEY (base64 of 32 bytes); default a 0600 file in DataDir
	Logger    *slog.Logger
	// RateLimit is the per-principal request rate (per second; bursts of
	// twice that). Zero means the default of 1000; negative turns it off.
	RateLimit float64
	// Store overrides the embedded store (for example DynamoDB).
	Store vsecure.Store
	// Sealer overrides the local sealer (for example KMS).
	Sealer vsecure.Sealer
	// MACKeys overrides the local audit MAC keys (KeysDir/audit-mac.key),
	// for a Store sealed with other keys (for example KMS): the digest
	// step and the verifier open the store's epochs with them.
	MACKeys auditlog.MACKeys
	// DigestEvery is how often the audit digest step runs (default 1m;
	// negative: never, tests call SealAudit). Now is the server's clock,
	// the gate's and the digest step's alike (nil: time.Now): one clock,
	// so that no entry is stamped in a window the sealer already closed.
	DigestEvery time.Duration
	Now         func() time.Time
	// AuditIndexer, if set, runs every second for the server's lifetime
	// (the DynamoDB store's IndexAudit; in AWS the audit-index function
	// runs it). The embedded store needs none.
	AuditIndexer auditindex.Indexer
	// Slack configures Slack approvals (VSECURE_SLACK_*): without a bot
	// token requests are only logged; without a signing secret the
	// interactions endpoint answers 404.
	Slack slack.Config
	// SlackHooks, if set, is the client for response_url calls (tests).
	SlackHooks *http.Client
	// RefusalWindow is how long anonymous refusals of one source and
	// reason aggregate into one summary entry (gate.Config.RefusalWindow:
	// 0 is the default of 10 s, negative writes each one).
	RefusalWindow time.Duration
	// OIDC (VSECURE_OIDC_*), if set, makes the API accept people's JWTs
	// from that issuer (app.Parts.OIDC).
	OIDC *oidc.Config
}

// Server is a running local server.
type Server struct {
	Gate *gate.Gate
	API  *httpapi.API
	// GeneratedAdminKey is set when no admin key was configured and a new
	// one was minted: it is shown once and never stored in clear.
	GeneratedAdminKey string
	// Digests seals the audit log; SealAudit runs it once.
	Digests *digest.Sealer
	http    *http.Server
	ln      net.Listener
	closers []func() error
	// Slack is the interactions handler, nil when no signing secret is
	// configured.
	Slack *slack.Handler
}

// New builds the server and binds its listener (so Addr is known even for
// port 0), but does not serve yet. Each step may register a closer; if a
// later step fails, the one deferred Close releases what the earlier ones
// opened, last first.
func New(ctx context.Context, cfg Config) (_ *Server, err error) {
	cfg.setDefaults()
	s := &Server{}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if err := prepareDirs(&cfg); err != nil {
		return nil, err
	}
	macKeys, err := cfg.macKeys()
	if err != nil {
		return nil, err
	}
	store, err := s.openStore(cfg, macKeys)
	if err != nil {
		return nil, err
	}
	sealer, err := cfg.sealer()
	if err != nil {
		return nil, err
	}
	cursorKey, err := local.KeyFile(filepath.Join(cfg.DataDir, "cursor.key"), 32, "cursor key")
	if err != nil {
		return nil, err
	}
	sessionKey, err := local.KeyFile(filepath.Join(cfg.DataDir, "console-session.key"), 32, "console session key")
	if err != nil {
		return nil, err
	}
	if err := s.listen(&cfg); err != nil {
		return nil, err
	}
	audit, err := s.openAudit(cfg, store, macKeys)
	if err != nil {
		return nil, err
	}
	if err := s.assemble(ctx, cfg, app.Parts{
		Store: store, Sealer: sealer, PublicURL: cfg.PublicURL, CursorKey: cursorKey,
		AuditVerifier: audit.verifier, AuditKey: audit.signer,
		RefusalWindow: cfg.RefusalWindow, Now: cfg.Now, Log: cfg.Logger,
		Limits: app.Limits{PerPrincipal: cfg.RateLimit},
		MCP:    remotemcp.Handler, OIDC: cfg.OIDC,
		Console: func(g *gate.Gate, humans *oidc.Provider) (http.Handler, error) {
			// The dev sign-in is offered here and refused by the console
			// itself on any request that did not come in on loopback.
			var keys console.Passkeys // nil, not a nil *passkey.Service: none
			if rp, origin, ok := relyingParty(cfg.PublicURL); ok {
				svc, err := passkey.New(passkey.Config{RPID: rp, RPOrigins: []string{origin}, Now: cfg.Now, Log: cfg.Logger}, store, g)
				if err != nil {
					return nil, err
				}
				keys = svc
			}
			return console.New(console.Config{Gate: g, SessionKey: sessionKey, OIDC: humans, Passkeys: keys, DevSignIn: true, Now: cfg.Now, Log: cfg.Logger})
		},
	}); err != nil {
		return nil, err
	}
	if err := s.ensureAdminKey(ctx, cfg); err != nil {
		return nil, err
	}
	s.startLoops(cfg)
	cfg.Logger.Info("slack", "config", cfg.Slack)
	if s.API.Mounts.Slack == nil {
		// No signing secret: the interactions endpoint is off, visibly
		// (404 "endpoint not enabled"), not missing.
		s.API.Mounts.Slack = httpapi.Disabled
	}
	h, err := s.API.Handler()
	if err != nil {
		return nil, err
	}
	s.http = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
	}
	return s, nil
}

func (cfg *Config) setDefaults() {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:8080"
	}
	if cfg.DataDir == "" {
		cfg.DataDir = ".vsecure"
	}
	if cfg.KeysDir == "" {
		cfg.KeysDir = DefaultKeysDir(cfg.DataDir)
	}
	if cfg.DigestEvery == 0 {
		cfg.DigestEvery = time.Minute
	}
}

func prepareDirs(cfg *Config) error {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	return moveSigningKey(cfg.DataDir, cfg.KeysDir, cfg.Logger)
}

func (cfg *Config) macKeys() (auditlog.MACKeys, error) {
	if cfg.MACKeys != nil {
		return cfg.MACKeys, nil
	}
	return local.LoadMACKeys(cfg.KeysDir)
}

func (s *Server) openStore(cfg Config, macKeys auditlog.MACKeys) (vsecure.Store, error) {
	if cfg.Store != nil {
		return cfg.Store, nil
	}
	host, _ := os.Hostname()
	st, err := embedded.Open(filepath.Join(cfg.DataDir, "vsecure.db"), embedded.WithSeal(macKeys, "vsecure dev "+host))
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	s.closers = append(s.closers, st.Close)
	return st, nil
}

func (cfg *Config) sealer() (vsecure.Sealer, error) {
	if cfg.Sealer != nil {
		return cfg.Sealer, nil
	}
	return local.Load(cfg.MasterKey, cfg.DataDir)
}

func (s *Server) listen(cfg *Config) error {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	s.ln = ln
	s.closers = append(s.closers, func() error {
		// Shutdown has closed it if the server ran; a server that never
		// served (or a failed New) must still let the port go.
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			return err
		}
		return nil
	})
	if cfg.PublicURL == "" {
		cfg.PublicURL = "http://" + ln.Addr().String()
	}
	return nil
}

type auditParts struct {
	signer   *local.Signer
	verifier *digest.Verifier
}

// openAudit loads the digest signing key and the witness and builds the
// digest step and the verifier over them.
func (s *Server) openAudit(cfg Config, store vsecure.Store, macKeys auditlog.MACKeys) (auditParts, error) {
	// Audit digests are signed with an Ed25519 key in the keys directory
	// (0600), whichever store is in use.
	signer, err := local.LoadSigner(cfg.KeysDir)
	if err != nil {
		return auditParts{}, err
	}
	// The witness file sits with the keys, out of reach of whoever edits
	// the data: it shows a deleted newest digest or tail. Closed after the
	// digest ticker (closers run last first).
	witness, err := witnessfile.Open(filepath.Join(cfg.KeysDir, witnessfile.Name))
	if err != nil {
		return auditParts{}, err
	}
	s.closers = append(s.closers, witness.Close)
	dcfg := digest.Config{Store: store, Signer: signer, MACKeys: macKeys, Witness: witness, Log: cfg.Logger, Now: cfg.Now}
	if s.Digests, err = digest.NewSealer(dcfg); err != nil {
		return auditParts{}, err
	}
	verifier, err := digest.NewVerifier(dcfg)
	if err != nil {
		return auditParts{}, err
	}
	return auditParts{signer: signer, verifier: verifier}, nil
}

// assemble completes p with the local server's workflow, notifier and
// Slack endpoint and builds the service.
func (s *Server) assemble(ctx context.Context, cfg Config, p app.Parts) error {
	var built *app.App
	// Registered before the workflow's closer so that it runs after it:
	// the twin's last expiries are announced before the store closes.
	s.closers = append(s.closers, func() error {
		if built == nil {
			return nil
		}
		return built.Close()
	})
	var notifier *slack.Notifier
	p.Notifier = func(g *gate.Gate) workflow.Notifier {
		notifier = slack.NewNotifier(slack.NotifierConfig{Slack: cfg.Slack, URL: g.ApprovalURL, Store: p.Store, Log: cfg.Logger})
		return notifier
	}
	// The in-process twin of the Step Functions workflow: it announces
	// requests and tidies approvals at expiresAt, and reschedules from the
	// store on every start.
	p.Workflow = func(expirer workflow.Expirer, n workflow.Notifier) (gate.Workflow, error) {
		wf, err := localwf.New(localwf.Config{Expirer: expirer, Store: p.Store, Log: cfg.Logger, Notifier: n})
		if err == nil {
			err = wf.Start(ctx)
		}
		if err != nil {
			return nil, fmt.Errorf("local workflow: %w", err)
		}
		s.closers = append(s.closers, wf.Close)
		return wf, nil
	}
	// The process outlives its answers: announce off the request's path.
	p.AsyncAnnouncements = true
	if cfg.Slack.SigningSecret != "" {
		p.Slack = func(g *gate.Gate, _ workflow.Notifier) (http.Handler, error) {
			// One process sees every request here, so replays are
			// remembered in memory (the Lambda remembers them in the store).
			v, err := slack.NewVerifier(cfg.Slack.SigningSecret, slack.NewMemoryGuard(100_000), nil)
			if err != nil {
				return nil, err
			}
			h, err := slack.NewHandler(slack.HandlerConfig{
				Slack: cfg.Slack, Decider: g, Verifier: v, Notifier: notifier,
				Hooks: cfg.SlackHooks, Background: true, Log: cfg.Logger,
			})
			if err != nil {
				return nil, err
			}
			s.Slack = h
			s.closers = append(s.closers, func() error { h.Wait(); return nil })
			return h, nil
		}
	}
	a, err := app.Assemble(p)
	if err != nil {
		return err
	}
	built, s.Gate, s.API = a, a.Gate, a.API
	return nil
}

// ensureAdminKey stores the configured admin key, or on the first start
// without one mints one to show once.
func (s *Server) ensureAdminKey(ctx context.Context, cfg Config) error {
	adminKey := cfg.AdminKey
	if adminKey == "" {
		marker := filepath.Join(cfg.DataDir, "admin.created")
		if _, err := os.Stat(marker); errors.Is(err, fs.ErrNotExist) {
			adminKey = s.Gate.NewAdminKey()
			s.GeneratedAdminKey = adminKey
			if err := os.WriteFile(marker, []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o600); err != nil {
				return err
			}
		}
	}
	if adminKey == "" {
		return nil
	}
	if err := s.Gate.EnsureKey(ctx, adminKey, "admin", []vsecure.Role{vsecure.RoleAdmin}); err != nil {
		return fmt.Errorf("VSECURE_ADMIN_KEY: %w", err)
	}
	return nil
}

// startLoops starts what a Lambda deployment runs on schedules: refusal
// summaries, audit digests and the audit indexer.
func (s *Server) startLoops(cfg Config) {
	s.closers = append(s.closers, s.flushRefusals(cfg.RefusalWindow, cfg.Logger))
	if cfg.DigestEvery > 0 {
		s.closers = append(s.closers, s.sealEvery(cfg.DigestEvery, cfg.Logger))
	}
	if cfg.AuditIndexer != nil {
		s.closers = append(s.closers, indexEvery(cfg.AuditIndexer, cfg.Now, cfg.Logger))
	}
}

// sealEvery runs the digest step on a ticker until the returned stop is
// called. The step is cheap when there is nothing to seal (two reads).
func (s *Server) sealEvery(d time.Duration, log *slog.Logger) func() error {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			if _, err := s.SealAudit(ctx); err != nil && ctx.Err() == nil {
				log.Error("audit digest step failed", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() error { cancel(); <-done; return nil }
}

// indexEvery runs the audit indexer's loop until the returned stop is
// called, which waits for it to end.
func indexEvery(ix auditindex.Indexer, now func() time.Time, log *slog.Logger) func() error {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		(&auditindex.Loop{Indexer: ix, Log: log, Now: now}).Run(ctx, time.Time{})
	}()
	return func() error { cancel(); <-done; return nil }
}

// flushRefusals writes the summaries of closed refusal windows on a ticker
// (half a window, so a summary lands at most 1.5 windows after its first
// refusal even on a quiet server), and every open one on stop.
func (s *Server) flushRefusals(window time.Duration, log *slog.Logger) func() error {
	if window < 0 {
		return func() error { return nil }
	}
	if window == 0 {
		window = gate.DefaultRefusalWindow
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(window / 2)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := s.Gate.FlushRefusals(ctx); err != nil {
					log.Error("writing refusal summaries failed; kept for the next tick", "err", err)
				}
			}
		}
	}()
	return func() error {
		cancel()
		<-done
		return s.Gate.CloseRefusals(context.Background())
	}
}

// SealAudit seals every audit window that is due and returns how many
// digests it wrote.
func (s *Server) SealAudit(ctx context.Context) (int, error) {
	ds, err := s.Digests.Seal(ctx)
	return len(ds), err
}

// Addr is the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is the server's base URL.
func (s *Server) URL() string { return "http://" + s.Addr() }

// Serve serves until Shutdown.
func (s *Server) Serve() error {
	err := s.http.Serve(s.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown drains in-flight requests, then closes the store.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	return errors.Join(err, s.Close())
}

// Close releases the store without draining.
func (s *Server) Close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	s.closers = nil
	return errors.Join(errs...)
}

// DefaultKeysDir is the keys directory of a data directory: its sibling
// <data>-keys (./.vsecure-keys for ./.vsecure).
func DefaultKeysDir(dataDir string) string { return filepath.Clean(dataDir) + "-keys" }

// moveSigningKey moves an audit signing key left in the data directory by
// an older version into the keys directory.
func moveSigningKey(dataDir, keysDir string, log *slog.Logger) error {
	from, to := filepath.Join(dataDir, local.SigningKeyFile), filepath.Join(keysDir, local.SigningKeyFile)
	if _, err := os.Stat(from); err != nil {
		return nil
	}
	if _, err := os.Stat(to); err == nil {
		return fmt.Errorf("audit signing keys in both %s and %s: remove the one not in use", from, to)
	}
	if err := os.MkdirAll(keysDir, 0o700); err != nil {
		return fmt.Errorf("keys dir: %w", err)
	}
	if err := os.Rename(from, to); err != nil {
		return fmt.Errorf("move audit signing key to the keys dir: %w", err)
	}
	log.Info("moved the audit signing key out of the data directory", "from", from, "to", to)
	return nil
}

// relyingParty is the passkeys' RP id and origin for the public URL.
// WebAuthn takes a domain, not an IP: on a loopback address the console's
// passkeys are for http://localhost:<port>; on another IP there are none.
func relyingParty(public string) (rpID, origin string, ok bool) {
	u, err := url.Parse(public)
	if err != nil || u.Hostname() == "" {
		return "", "", false
	}
	if ip := net.ParseIP(u.Hostname()); ip != nil {
		if !ip.IsLoopback() {
			return "", "", false
		}
		host := "localhost"
		if u.Port() != "" {
			host += ":" + u.Port()
		}
		return "localhost", u.Scheme + "://" + host, true
	}
	return u.Hostname(), u.Scheme + "://" + u.Host, true
}
