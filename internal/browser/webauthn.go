package browser

import (
	"context"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// Authenticator is a CDP virtual authenticator attached to b's tab: the
// page's navigator.credentials talks to it instead of a security key or a
// platform passkey, with no prompt.
type Authenticator struct {
	b  *Browser
	ID webauthn.AuthenticatorID
}

// AddAuthenticator enables the WebAuthn domain on the tab and adds a
// passkey-like authenticator: CTAP2.1, internal (platform) transport,
// resident keys, user verification that succeeds, presence simulated. It
// is removed at the test's cleanup (the tab goes then anyway; removing it
// keeps a test that adds several honest).
func (b *Browser) AddAuthenticator() *Authenticator {
	b.t.Helper()
	return b.AddAuthenticatorWith(webauthn.VirtualAuthenticatorOptions{
		Protocol:                    webauthn.AuthenticatorProtocolCtap2,
		Ctap2version:                webauthn.Ctap2versionCtap21,
		Transport:                   webauthn.AuthenticatorTransportInternal,
		HasResidentKey:              true,
		HasUserVerification:         true,
		IsUserVerified:              true,
		AutomaticPresenceSimulation: true,
	})
}

// AddAuthenticatorWith adds a virtual authenticator with the given options.
func (b *Browser) AddAuthenticatorWith(opts webauthn.VirtualAuthenticatorOptions) *Authenticator {
	b.t.Helper()
	// enableUI false: no dialog to dismiss, the ceremony resolves at once.
	no := false
	if _, err := cdpCall(b, webauthn.Enable, webauthn.EnableParams{EnableUI: &no}); err != nil {
		b.t.Fatalf("browser: WebAuthn.enable: %v", err)
	}
	res, err := cdpCall(b, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &opts})
	if err != nil {
		b.t.Fatalf("browser: WebAuthn.addVirtualAuthenticator: %v", err)
	}
	a := &Authenticator{b: b, ID: res.AuthenticatorID}
	b.t.Cleanup(func() {
		// Best effort: a test that already removed it, or a browser
		// already gone, is not a failure of this test.
		_, _ = cdpCall(b, webauthn.RemoveVirtualAuthenticator, webauthn.RemoveVirtualAuthenticatorParams{AuthenticatorID: a.ID})
	})
	return a
}

// Credentials lists the credentials the authenticator holds, with their
// sign counts.
func (a *Authenticator) Credentials() []*webauthn.Credential {
	a.b.t.Helper()
	res, err := cdpCall(a.b, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: a.ID})
	if err != nil {
		a.b.t.Fatalf("browser: WebAuthn.getCredentials: %v", err)
	}
	return res.Credentials
}

// AddCredential puts a credential into the authenticator (its RpID and
// PKCS#8 P-256 PrivateKey set), as if registered before.
func (a *Authenticator) AddCredential(c *webauthn.Credential) {
	a.b.t.Helper()
	if _, err := cdpCall(a.b, webauthn.AddCredential, webauthn.AddCredentialParams{AuthenticatorID: a.ID, Credential: c}); err != nil {
		a.b.t.Fatalf("browser: WebAuthn.addCredential: %v", err)
	}
}

// RemoveCredential deletes one credential, as a user who removed the
// passkey from their device.
func (a *Authenticator) RemoveCredential(id []byte) {
	a.b.t.Helper()
	if _, err := cdpCall(a.b, webauthn.RemoveCredential, webauthn.RemoveCredentialParams{AuthenticatorID: a.ID, CredentialID: id}); err != nil {
		a.b.t.Fatalf("browser: WebAuthn.removeCredential: %v", err)
	}
}

// SetUserVerified decides whether the next user verifications succeed
// (false: the user fails the PIN or biometric check).
func (a *Authenticator) SetUserVerified(ok bool) {
	a.b.t.Helper()
	if _, err := cdpCall(a.b, webauthn.SetUserVerified, webauthn.SetUserVerifiedParams{AuthenticatorID: a.ID, IsUserVerified: ok}); err != nil {
		a.b.t.Fatalf("browser: WebAuthn.setUserVerified: %v", err)
	}
}

// Remove detaches the authenticator from the tab.
func (a *Authenticator) Remove() {
	a.b.t.Helper()
	if _, err := cdpCall(a.b, webauthn.RemoveVirtualAuthenticator, webauthn.RemoveVirtualAuthenticatorParams{AuthenticatorID: a.ID}); err != nil {
		a.b.t.Fatalf("browser: WebAuthn.removeVirtualAuthenticator: %v", err)
	}
}

// cdpCall sends one protocol command to the tab within one Timeout.
func cdpCall[P, R any](b *Browser, cmd cdp.Command[P, R], params P) (R, error) {
	ctx, cancel := context.WithTimeout(b.ctx, b.Timeout)
	defer cancel()
	return chromedp.Call(ctx, cmd, params)
}

// Tamper makes the authenticator's next responses lie: a zeroed signature,
// or the user-verified or user-present flag cleared. A relying party must
// refuse them; tests prove it does. Tamper(false, false, false) restores
// honest responses.
func (a *Authenticator) Tamper(bogusSignature, badUV, badUP bool) {
	a.b.t.Helper()
	p := webauthn.SetResponseOverrideBitsParams{AuthenticatorID: a.ID, IsBogusSignature: &bogusSignature, IsBadUV: &badUV, IsBadUP: &badUP}
	if _, err := cdpCall(a.b, webauthn.SetResponseOverrideBits, p); err != nil {
		a.b.t.Fatalf("browser: WebAuthn.setResponseOverrideBits: %v", err)
	}
}
