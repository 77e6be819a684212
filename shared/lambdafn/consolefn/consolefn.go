// Package consolefn serves the people's console (package console) on
// Lambda: one function per page route of the route table. With people
// signing in, the gateway's JWT authorizer checks the ID token the console
// edge lifts from its cookie (infra/edge.go) before a page function runs,
// and the console then checks its sealed session cookie, for the same
// subject, and fails closed. The session key comes from a Secrets Manager
// secret read on first use, never at init. Naming Install in a function's
// main.go links the templates into that bootstrap only.
package consolefn

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/awslabs/aws-lambda-go-api-proxy/core"

	"github.com/vsecure/vsecure/shared/app"
	"github.com/vsecure/vsecure/shared/console"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/lambdafn"
	"github.com/vsecure/vsecure/shared/oidc"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// EnvSessionSecretARN names the secret holding the console's session key
// (the stack generates 64 alphanumerics).
const EnvSessionSecretARN = "VSECURE_CONSOLE_SESSION_SECRET_ARN"

// EnvGatewayJWT ("1") says the page routes sit behind the gateway's JWT
// authorizer: the console keeps the ID token for the edge and serves a
// page only to the subject the authorizer verified (GatewaySubject).
const EnvGatewayJWT = "VSECURE_CONSOLE_GATEWAY_JWT"

// GatewaySubject is the "sub" claim API Gateway's JWT authorizer verified
// for r, from the event's request context; false on a request it did not
// authorize (a public route, a direct invoke).
func GatewaySubject(r *http.Request) (string, bool) {
	rc, ok := core.GetAPIGatewayV2ContextFromContext(r.Context())
	if !ok || rc.Authorizer == nil || rc.Authorizer.JWT == nil {
		return "", false
	}
	sub := rc.Authorizer.JWT.Claims["sub"]
	return sub, sub != ""
}

// SessionKey is the 32-byte key sealing session cookies, derived from the
// secret's value (at least 32 bytes); the OIDC sign-in cookie derives its
// own from it (package oidc).
func SessionKey(value []byte) ([]byte, error) {
	if len(value) < 32 {
		return nil, errors.New("the console session secret holds fewer than 32 bytes")
	}
	k := sha256.Sum256(append([]byte("vsecure console session\x00"), value...))
	return k[:], nil
}

// Install is the lambdafn.Extension of the console functions that run no
// passkey ceremony. There is no dev sign-in here: a Lambda never receives
// a request on loopback, and the console refuses it whatever it is
// configured with.
func Install(b *lambdafn.Build, p *app.Parts) { install(b, p, nil) }

// PasskeysOpener builds the passkey ceremonies for a relying party
// (package passkeyfn).
type PasskeysOpener func(rpID, origin string, store vsecure.Store, g *gate.Gate, log *slog.Logger) (console.Passkeys, error)

// WithPasskeys is Install for the pages that run passkey ceremonies
// (registration, step-up): only they link the WebAuthn library, through
// the opener their main.go names.
func WithPasskeys(open PasskeysOpener) lambdafn.Extension {
	return func(b *lambdafn.Build, p *app.Parts) { install(b, p, open) }
}

func install(b *lambdafn.Build, p *app.Parts, openPasskeys PasskeysOpener) {
	arn := strings.TrimSpace(os.Getenv(EnvSessionSecretARN))
	secret := &lambdafn.Secret[[]byte]{ARN: arn, Name: "the console session secret", Parse: SessionKey}
	keys := func(ctx context.Context) ([]byte, error) {
		if arn == "" {
			return nil, errors.New(EnvSessionSecretARN + " is not set")
		}
		if secret.Client == nil {
			secret.Client = b.Secrets()
		}
		return secret.Get(ctx)
	}
	if p.OIDC != nil {
		// Start and callback may land in different containers: they share
		// the state cookie's key through the secret.
		o := *p.OIDC
		o.CookieKeys = keys
		p.OIDC = &o
	}
	store, public, log := p.Store, p.PublicURL, b.Log
	var gatewaySubject func(*http.Request) (string, bool)
	if os.Getenv(EnvGatewayJWT) == "1" {
		gatewaySubject = GatewaySubject
	}
	p.Console = func(g *gate.Gate, humans *oidc.Provider) (http.Handler, error) {
		var keysvc console.Passkeys
		if rp, origin, ok := relyingParty(public); ok && openPasskeys != nil {
			var err error
			if keysvc, err = openPasskeys(rp, origin, store, g, log); err != nil {
				return nil, err
			}
		}
		return console.New(console.Config{Gate: g, SessionKeys: keys, OIDC: humans, Passkeys: keysvc, GatewaySubject: gatewaySubject, Log: log})
	}
}

// relyingParty is the passkeys' RP id and origin: the public URL's host,
// which WebAuthn requires to be a domain.
func relyingParty(public string) (rpID, origin string, ok bool) {
	u, err := url.Parse(public)
	if err != nil || u.Hostname() == "" || net.ParseIP(u.Hostname()) != nil {
		return "", "", false
	}
	return u.Hostname(), u.Scheme + "://" + u.Host, true
}
