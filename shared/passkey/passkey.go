// Package passkey runs WebAuthn ceremonies (github.com/go-webauthn/webauthn)
// for vsecure's principals: registering a passkey, and asserting one as a
// step-up before a decision that needs it.
//
// The browser only ever sees options and returns a response; every fact a
// ceremony is verified against lives server-side. A ceremony's state (the
// challenge and the library's session data) is stored under a random id,
// bound to the principal that began it, for a few minutes, and taken once:
// a finished, expired or replayed ceremony, or one begun by someone else,
// is refused. Assertions require user verification (a step-up is "the
// approver, with their PIN or biometric", not just "someone touched the
// key") and a signature counter that grows: the store moves it forward with
// a conditional write, so a cloned authenticator or a replayed response is
// refused even when two arrive at once.
//
// The package parses and verifies; it does not decide what a registration
// means. A verified credential is handed to a Registrar (the gate), which
// stores it together with its audit entry.
package passkey

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"github.com/vsecure/vsecure/shared/passkey/ceremony"
	"log/slog"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// DefaultCeremonyTTL is how long a begun ceremony may be finished: enough
// for a person to find their authenticator, short enough that a leaked
// ceremony id is soon worth nothing.
const DefaultCeremonyTTL = 5 * time.Minute

// MaxResponse bounds the authenticator response a Finish accepts.
const MaxResponse = ceremony.MaxResponse

// Store is what the ceremonies need of vsecure.PasskeyStore.
type Store interface {
	ListPasskeys(ctx context.Context, principal string) ([]vsecure.Passkey, error)
	UsePasskey(ctx context.Context, principal, id string, count uint32, at time.Time) error
	PutPasskeyCeremony(ctx context.Context, c vsecure.PasskeyCeremony) error
	TakePasskeyCeremony(ctx context.Context, id, principal string, now time.Time) (vsecure.PasskeyCeremony, error)
}

// Registrar stores a verified passkey with its audit entry (gate.Gate).
type Registrar interface {
	RegisterPasskey(ctx context.Context, c vsecure.Call, p vsecure.Passkey) (vsecure.Passkey, error)
}

// Config names the relying party. RPID is the domain the passkeys are
// scoped to ("vsecure.example.com", or "localhost"); RPOrigins the exact
// origins the console is served from ("https://vsecure.example.com").
type Config struct {
	RPID          string
	RPDisplayName string
	RPOrigins     []string
	// CeremonyTTL defaults to DefaultCeremonyTTL.
	CeremonyTTL time.Duration
	// Now defaults to time.Now.
	Now func() time.Time
	Log *slog.Logger
}

// Service runs the ceremonies. It is safe for concurrent use.
type Service struct {
	wa    *webauthn.WebAuthn
	store Store
	reg   Registrar
	ttl   time.Duration
	now   func() time.Time
	log   *slog.Logger
}

// New checks cfg and builds a Service.
func New(cfg Config, store Store, reg Registrar) (*Service, error) {
	if cfg.RPID == "" || len(cfg.RPOrigins) == 0 {
		return nil, errors.New("passkey: the relying party id and at least one origin are required")
	}
	if cfg.RPDisplayName == "" {
		cfg.RPDisplayName = "vsecure"
	}
	if cfg.CeremonyTTL <= 0 {
		cfg.CeremonyTTL = DefaultCeremonyTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	wa, err := webauthn.New(&webauthn.Config{
		RPID:          cfg.RPID,
		RPDisplayName: cfg.RPDisplayName,
		RPOrigins:     cfg.RPOrigins,
		// Passkeys are for people, and a step-up is worth only as much
		// as its user verification.
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementPreferred,
			UserVerification: protocol.VerificationRequired,
		},
		// A passkey is trusted because its owner registered it while
		// signed in, not for its make: no attestation is asked for.
		AttestationPreference: protocol.PreferNoAttestation,
		// Timeouts are not enforced by the library (it would read the
		// wall clock): a ceremony lives as long as its stored record,
		// on the injected clock.
	})
	if err != nil {
		return nil, err
	}
	return &Service{wa: wa, store: store, reg: reg, ttl: cfg.CeremonyTTL, now: cfg.Now, log: cfg.Log}, nil
}

// Begun is a ceremony's start (package ceremony).
type Begun = ceremony.Begun

// BeginRegistration starts registering a passkey for the caller. Passkeys
// the caller holds already are excluded, so an authenticator is not
// registered twice.
func (s *Service) BeginRegistration(ctx context.Context, c vsecure.Call) (Begun, error) {
	u, err := s.user(ctx, c.Principal)
	if err != nil {
		return Begun{}, err
	}
	creation, session, err := s.wa.BeginRegistration(u, webauthn.WithExclusions(webauthn.Credentials(u.creds).CredentialDescriptors()))
	if err != nil {
		return Begun{}, vsecure.Wrap(vsecure.EInternal, err, "begin passkey registration")
	}
	return s.begin(ctx, c.Principal.ID, vsecure.CeremonyRegister, creation, session)
}

// FinishRegistration verifies the authenticator's response to ceremony id
// (challenge, origin, RP id, user presence and verification) and registers
// the new passkey under name through the Registrar.
func (s *Service) FinishRegistration(ctx context.Context, c vsecure.Call, ceremonyID, name string, body []byte) (vsecure.Passkey, error) {
	session, err := s.take(ctx, c.Principal, ceremonyID, vsecure.CeremonyRegister, body)
	if err != nil {
		return vsecure.Passkey{}, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(body)
	if err != nil {
		return vsecure.Passkey{}, s.refuse(ctx, c, "register", vsecure.EInvalid, err, "the passkey response is malformed")
	}
	u, err := s.user(ctx, c.Principal)
	if err != nil {
		return vsecure.Passkey{}, err
	}
	cred, err := s.wa.CreateCredential(u, session, parsed)
	if err != nil {
		return vsecure.Passkey{}, s.refuse(ctx, c, "register", vsecure.EForbidden, err, "the passkey registration did not verify")
	}
	return s.reg.RegisterPasskey(ctx, c, fromCredential(cred, name))
}

// BeginAssertion starts a step-up: the caller's authenticator is to sign a
// fresh challenge with one of the caller's passkeys.
func (s *Service) BeginAssertion(ctx context.Context, c vsecure.Call) (Begun, error) {
	u, err := s.user(ctx, c.Principal)
	if err != nil {
		return Begun{}, err
	}
	if len(u.creds) == 0 {
		return Begun{}, vsecure.Errorf(vsecure.ENotFound, "%s has no passkey; register one first", c.Principal.ID)
	}
	assertion, session, err := s.wa.BeginLogin(u, webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return Begun{}, vsecure.Wrap(vsecure.EInternal, err, "begin passkey assertion")
	}
	return s.begin(ctx, c.Principal.ID, vsecure.CeremonyAssert, assertion, session)
}

// FinishAssertion verifies the response to ceremony id against the
// caller's passkeys (signature, challenge, origin, RP id, user presence and
// verification), moves the passkey's signature counter forward, and
// returns the step-up it proves.
func (s *Service) FinishAssertion(ctx context.Context, c vsecure.Call, ceremonyID string, body []byte) (vsecure.StepUp, error) {
	session, err := s.take(ctx, c.Principal, ceremonyID, vsecure.CeremonyAssert, body)
	if err != nil {
		return vsecure.StepUp{}, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(body)
	if err != nil {
		return vsecure.StepUp{}, s.refuse(ctx, c, "assert", vsecure.EInvalid, err, "the passkey response is malformed")
	}
	u, err := s.user(ctx, c.Principal)
	if err != nil {
		return vsecure.StepUp{}, err
	}
	cred, err := s.wa.ValidateLogin(u, session, parsed)
	if err != nil {
		return vsecure.StepUp{}, s.refuse(ctx, c, "assert", vsecure.EForbidden, err, "the passkey assertion did not verify")
	}
	// The library checks UV because the session requires it; a step-up
	// without it is worthless, so it is checked here as well.
	if !parsed.Response.AuthenticatorData.Flags.HasUserVerified() {
		return vsecure.StepUp{}, s.refuse(ctx, c, "assert", vsecure.EForbidden, errors.New("UV flag not set"), "the passkey assertion did not verify the user")
	}
	id := base64.RawURLEncoding.EncodeToString(cred.ID)
	if cred.Authenticator.CloneWarning {
		return vsecure.StepUp{}, s.refuse(ctx, c, "assert", vsecure.EForbidden, errors.New("signature counter did not advance"), "the passkey's signature counter went backwards: the authenticator may be cloned")
	}
	now := s.now().UTC()
	if err := s.store.UsePasskey(ctx, c.Principal.ID, id, cred.Authenticator.SignCount, now); err != nil {
		if vsecure.IsCode(err, vsecure.EConflict) || vsecure.IsCode(err, vsecure.ENotFound) {
			// Another assertion with this counter landed first, or the
			// passkey was deleted meanwhile.
			return vsecure.StepUp{}, s.refuse(ctx, c, "assert", vsecure.EForbidden, err, "the passkey assertion was already used or the passkey is gone")
		}
		return vsecure.StepUp{}, err
	}
	return vsecure.StepUp{Method: vsecure.StepUpPasskey, CredentialID: id, At: now}, nil
}

// begin stores the session of a ceremony under a fresh id.
func (s *Service) begin(ctx context.Context, principal, kind string, options any, session *webauthn.SessionData) (Begun, error) {
	opts, err := json.Marshal(options)
	if err != nil {
		return Begun{}, vsecure.Wrap(vsecure.EInternal, err, "encode passkey options")
	}
	state, err := json.Marshal(session)
	if err != nil {
		return Begun{}, vsecure.Wrap(vsecure.EInternal, err, "encode passkey session")
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Begun{}, vsecure.Wrap(vsecure.EInternal, err, "randomness unavailable")
	}
	id := "cer_" + base64.RawURLEncoding.EncodeToString(b[:])
	c := vsecure.PasskeyCeremony{ID: id, Principal: principal, Kind: kind, Session: state, ExpiresAt: s.now().UTC().Add(s.ttl)}
	if err := s.store.PutPasskeyCeremony(ctx, c); err != nil {
		return Begun{}, err
	}
	return Begun{CeremonyID: id, Options: opts}, nil
}

// take consumes the principal's ceremony id of kind and returns its
// session. A ceremony of the other kind is consumed too: it was begun for
// something else, and is not to be tried again.
func (s *Service) take(ctx context.Context, p vsecure.Principal, id, kind string, body []byte) (webauthn.SessionData, error) {
	var session webauthn.SessionData
	if err := validCaller(p); err != nil {
		return session, err
	}
	if len(body) > MaxResponse {
		return session, vsecure.Errorf(vsecure.ETooLarge, "a passkey response is at most %d bytes", MaxResponse)
	}
	c, err := s.store.TakePasskeyCeremony(ctx, id, p.ID, s.now().UTC())
	if err != nil {
		return session, err
	}
	if c.Kind != kind {
		return session, vsecure.Errorf(vsecure.ENotFound, "no such passkey ceremony (finished, expired, or never begun)")
	}
	if err := json.Unmarshal(c.Session, &session); err != nil {
		return session, vsecure.Wrap(vsecure.EInternal, err, "decode passkey session")
	}
	return session, nil
}

// refuse logs why a ceremony was refused (the library's reason stays in
// the log) and returns the error to show.
func (s *Service) refuse(ctx context.Context, c vsecure.Call, ceremony string, code vsecure.Code, cause error, msg string) error {
	attrs := []any{"ceremony", ceremony, "principal", c.Principal.ID, "requestId", c.RequestID, "err", cause}
	var pe *protocol.Error
	if errors.As(cause, &pe) && pe.DevInfo != "" {
		attrs = append(attrs, "detail", pe.DevInfo)
	}
	s.log.WarnContext(ctx, "passkey ceremony refused", attrs...)
	return vsecure.Wrap(code, cause, msg)
}

// validCaller refuses callers that cannot hold passkeys.
func validCaller(p vsecure.Principal) error {
	if p.ID == "" || p.Scope != nil {
		return vsecure.Errorf(vsecure.EForbidden, "passkeys belong to signed-in principals, not to access tokens")
	}
	return nil
}

// user is the principal as the library sees it, with its passkeys.
func (s *Service) user(ctx context.Context, p vsecure.Principal) (*user, error) {
	if err := validCaller(p); err != nil {
		return nil, err
	}
	keys, err := s.store.ListPasskeys(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	u := &user{principal: p.ID}
	for _, k := range keys {
		cred, err := toCredential(k)
		if err != nil {
			return nil, err
		}
		u.creds = append(u.creds, cred)
	}
	return u, nil
}

// user implements webauthn.User.
type user struct {
	principal string
	creds     []webauthn.Credential
}

// WebAuthnID is the user handle: a hash of the principal, since a handle
// is at most 64 bytes and should not carry the name (authenticators show
// and may sync it).
func (u *user) WebAuthnID() []byte {
	h := sha256.Sum256([]byte("vsecure passkey user\x00" + u.principal))
	return h[:]
}

func (u *user) WebAuthnName() string                       { return u.principal }
func (u *user) WebAuthnDisplayName() string                { return u.principal }
func (u *user) WebAuthnCredentials() []webauthn.Credential { return u.creds }

func fromCredential(c *webauthn.Credential, name string) vsecure.Passkey {
	p := vsecure.Passkey{
		ID:                base64.RawURLEncoding.EncodeToString(c.ID),
		Name:              name,
		PublicKey:         c.PublicKey,
		SignCount:         c.Authenticator.SignCount,
		AAGUID:            c.Authenticator.AAGUID,
		AttestationType:   c.AttestationType,
		AttestationFormat: c.AttestationFormat,
		BackupEligible:    c.Flags.BackupEligible,
		BackupState:       c.Flags.BackupState,
	}
	for _, t := range c.Transport {
		p.Transports = append(p.Transports, string(t))
	}
	return p
}

func toCredential(p vsecure.Passkey) (webauthn.Credential, error) {
	id, err := base64.RawURLEncoding.DecodeString(p.ID)
	if err != nil {
		return webauthn.Credential{}, vsecure.Wrap(vsecure.EInternal, err, "stored passkey id is not base64url")
	}
	c := webauthn.Credential{
		ID:                id,
		PublicKey:         p.PublicKey,
		AttestationType:   p.AttestationType,
		AttestationFormat: p.AttestationFormat,
		Flags: webauthn.CredentialFlags{
			UserPresent: true, UserVerified: true,
			BackupEligible: p.BackupEligible, BackupState: p.BackupState,
		},
		Authenticator: webauthn.Authenticator{AAGUID: p.AAGUID, SignCount: p.SignCount},
	}
	for _, t := range p.Transports {
		c.Transport = append(c.Transport, protocol.AuthenticatorTransport(t))
	}
	return c, nil
}
