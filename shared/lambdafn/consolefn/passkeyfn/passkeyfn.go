// Package passkeyfn opens the passkey ceremonies for the console functions
// that run them (consolefn.WithPasskeys): naming it in a main.go links the
// WebAuthn library into that bootstrap only.
package passkeyfn

import (
	"log/slog"

	"github.com/vsecure/vsecure/shared/console"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/passkey"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// Open is a consolefn.PasskeysOpener.
func Open(rpID, origin string, store vsecure.Store, g *gate.Gate, log *slog.Logger) (console.Passkeys, error) {
	svc, err := passkey.New(passkey.Config{RPID: rpID, RPOrigins: []string{origin}, Log: log}, store, g)
	if err != nil {
		return nil, err
	}
	return svc, nil
}
