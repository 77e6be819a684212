package passkey_test

// A software authenticator: an ECDSA P-256 credential that answers
// creation and request options the way a browser and platform
// authenticator do (WebAuthn Level 3, §6.1 authenticator data, §6.5.4
// attested credential data, §8.7 "none" attestation, §5.8.1 client data),
// so the ceremonies are tested without a browser.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
)

// Authenticator data flags (§6.1).
const (
	flagUP = 0x01
	flagUV = 0x04
	flagAT = 0x40
)

var b64 = base64.RawURLEncoding

type authenticator struct {
	t      *testing.T
	key    *ecdsa.PrivateKey
	id     []byte
	aaguid [16]byte
	// What the authenticator and its client put into a response; tests
	// change them to forge one.
	rpID, origin string
	flags        byte
	count        uint32
	// challenge, when set, replaces the options' challenge.
	challenge []byte
	// corrupt, when set, flips a bit of the signature.
	corrupt bool
}

func newAuthenticator(t *testing.T) *authenticator {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	a := &authenticator{t: t, key: k, id: make([]byte, 32), rpID: rpID, origin: origin, flags: flagUP | flagUV, count: 1}
	rand.Read(a.id)
	rand.Read(a.aaguid[:])
	return a
}

// options are the fields of creation or request options it reads.
type options struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
	} `json:"publicKey"`
}

func (a *authenticator) clientData(typ string, opts json.RawMessage) []byte {
	a.t.Helper()
	var o options
	if err := json.Unmarshal(opts, &o); err != nil {
		a.t.Fatalf("options: %v", err)
	}
	challenge := o.PublicKey.Challenge
	if a.challenge != nil {
		challenge = b64.EncodeToString(a.challenge)
	}
	cd, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": a.origin, "crossOrigin": false})
	return cd
}

func (a *authenticator) authData(extra []byte) []byte {
	rp := sha256.Sum256([]byte(a.rpID))
	d := append(rp[:], a.flags)
	d = binary.BigEndian.AppendUint32(d, a.count)
	return append(d, extra...)
}

// create answers navigator.credentials.create(opts) with a "none"
// attestation.
func (a *authenticator) create(opts json.RawMessage) []byte {
	a.t.Helper()
	pt, err := a.key.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		a.t.Fatal(err)
	}
	cose, err := webauthncbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: pt[1:33], -3: pt[33:65]})
	if err != nil {
		a.t.Fatal(err)
	}
	att := append(a.aaguid[:], byte(len(a.id)>>8), byte(len(a.id)))
	att = append(append(att, a.id...), cose...)
	flags := a.flags
	a.flags |= flagAT
	authData := a.authData(att)
	a.flags = flags
	obj, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": authData})
	if err != nil {
		a.t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{
		"id": b64.EncodeToString(a.id), "rawId": b64.EncodeToString(a.id), "type": "public-key",
		"authenticatorAttachment": "platform",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(a.clientData("webauthn.create", opts)),
			"attestationObject": b64.EncodeToString(obj),
			"transports":        []string{"internal"},
		},
		"clientExtensionResults": map[string]any{},
	})
	return body
}

// get answers navigator.credentials.get(opts): it signs authenticator data
// || SHA-256(client data) (§6.3.3), with the counter as it stands.
func (a *authenticator) get(opts json.RawMessage, userHandle []byte) []byte {
	a.t.Helper()
	cd := a.clientData("webauthn.get", opts)
	authData := a.authData(nil)
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, authData...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, a.key, digest[:])
	if err != nil {
		a.t.Fatal(err)
	}
	if a.corrupt {
		sig[len(sig)-1] ^= 1
	}
	resp := map[string]any{
		"clientDataJSON":    b64.EncodeToString(cd),
		"authenticatorData": b64.EncodeToString(authData),
		"signature":         b64.EncodeToString(sig),
	}
	if userHandle != nil {
		resp["userHandle"] = b64.EncodeToString(userHandle)
	}
	body, _ := json.Marshal(map[string]any{
		"id": b64.EncodeToString(a.id), "rawId": b64.EncodeToString(a.id), "type": "public-key",
		"authenticatorAttachment": "platform", "response": resp, "clientExtensionResults": map[string]any{},
	})
	return body
}
