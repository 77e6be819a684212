package slack

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// Window is how far a request's timestamp may be from now, either way.
// Slack's SDKs accept a difference of exactly five minutes and refuse one
// second more; so does Verify.
const Window = 300 * time.Second

// Request signature headers.
const (
	HeaderSignature = "X-Slack-Signature"
	HeaderTimestamp = "X-Slack-Request-Timestamp"
)

// Reasons Verify refuses a request. Each is wrapped in a vsecure error
// with code EUnauthenticated.
var (
	ErrMissingHeaders = errors.New("missing or repeated Slack signature headers")
	ErrBadTimestamp   = errors.New("malformed Slack request timestamp")
	ErrStale          = errors.New("Slack request timestamp outside the five-minute window")
	ErrBadSignature   = errors.New("Slack request signature does not match")
	ErrReplay         = errors.New("Slack request already seen")
)

// Verifier checks Slack request signatures and refuses replays.
type Verifier struct {
	secret []byte
	guard  vsecure.ReplayGuard
	now    func() time.Time
}

// NewVerifier returns a verifier for the app's signing secret. guard
// remembers signatures already accepted (MemoryGuard locally, the store in
// Lambda, where requests land on many containers); now is the clock.
func NewVerifier(signingSecret string, guard vsecure.ReplayGuard, now func() time.Time) (*Verifier, error) {
	if signingSecret == "" {
		return nil, errors.New("slack: a signing secret is required")
	}
	if guard == nil {
		return nil, errors.New("slack: a replay guard is required")
	}
	if now == nil {
		now = time.Now
	}
	return &Verifier{secret: []byte(signingSecret), guard: guard, now: now}, nil
}

// Verify checks that body was signed by Slack with the signing secret
// within the window, and that this signed request was not accepted before.
// It authenticates the raw bytes as received: a body re-encoded after
// parsing does not verify.
func (v *Verifier) Verify(ctx context.Context, h http.Header, body []byte) error {
	sigs, tss := h.Values(HeaderSignature), h.Values(HeaderTimestamp)
	// One of each: with two, which one a proxy or a parser picks is
	// anybody's guess, so neither is trusted.
	if len(sigs) != 1 || len(tss) != 1 {
		return refuse(ErrMissingHeaders)
	}
	sig, ts := sigs[0], tss[0]
	if len(ts) == 0 || len(ts) > 12 {
		return refuse(ErrBadTimestamp)
	}
	for i := 0; i < len(ts); i++ {
		if ts[i] < '0' || ts[i] > '9' {
			return refuse(ErrBadTimestamp)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return refuse(ErrBadTimestamp)
	}
	now := v.now()
	at := time.Unix(sec, 0)
	if d := now.Sub(at); d > Window || d < -Window {
		return refuse(ErrStale)
	}
	const prefix = "v0="
	if len(sig) != len(prefix)+2*sha256.Size || sig[:len(prefix)] != prefix {
		return refuse(ErrBadSignature)
	}
	got, err := hex.DecodeString(sig[len(prefix):])
	if err != nil {
		return refuse(ErrBadSignature)
	}
	if !hmac.Equal(got, Sign(v.secret, ts, body)) {
		return refuse(ErrBadSignature)
	}
	// Remember the request until its timestamp leaves the window: after
	// that the window check refuses it anyway.
	err = v.guard.Remember(ctx, "slack:"+hex.EncodeToString(got), now, at.Add(Window+time.Second))
	if vsecure.IsCode(err, vsecure.EConflict) {
		return refuse(ErrReplay)
	}
	return err
}

// Sign returns the v0 HMAC-SHA256 of "v0:<timestamp>:<body>" (the bytes of
// X-Slack-Signature after "v0=").
func Sign(secret []byte, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("v0:"))
	m.Write([]byte(timestamp))
	m.Write([]byte(":"))
	m.Write(body)
	return m.Sum(nil)
}

// SignatureHeader is the X-Slack-Signature value for body at timestamp
// (for tests and tools that play Slack).
func SignatureHeader(secret []byte, timestamp string, body []byte) string {
	return "v0=" + hex.EncodeToString(Sign(secret, timestamp, body))
}

func refuse(reason error) error {
	return vsecure.Wrap(vsecure.EUnauthenticated, reason, "the request is not a valid signed Slack request")
}
