package slack

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// Slack's published example ("Verifying requests from Slack").
const (
	exampleSecret    = "8f742231b10e8888abcd99yyyzzz85a5"
	exampleTimestamp = "1531420618"
	exampleBody      = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	exampleSignature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
)

func TestSlackPublishedExample(t *testing.T) {
	if got := SignatureHeader([]byte(exampleSecret), exampleTimestamp, []byte(exampleBody)); got != exampleSignature {
		t.Fatalf("signature of Slack's example = %s, want %s", got, exampleSignature)
	}
	at := time.Unix(1531420618, 0)
	v, err := NewVerifier(exampleSecret, NewMemoryGuard(10), func() time.Time { return at.Add(10 * time.Second) })
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{HeaderSignature: {exampleSignature}, HeaderTimestamp: {exampleTimestamp}}
	if err := v.Verify(context.Background(), h, []byte(exampleBody)); err != nil {
		t.Fatalf("Slack's example refused: %v", err)
	}
}

func TestVerify(t *testing.T) {
	secret := []byte("test-signing-secret-0123456789")
	now := time.Unix(1_700_000_000, 0)
	body := []byte("payload=" + url.QueryEscape(`{"type":"block_actions","user":{"id":"U1"}}`))
	signed := func(offset time.Duration, b []byte) http.Header {
		ts := strconv.FormatInt(now.Add(offset).Unix(), 10)
		return http.Header{HeaderSignature: {SignatureHeader(secret, ts, b)}, HeaderTimestamp: {ts}}
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	good := SignatureHeader(secret, ts, body)
	cases := []struct {
		name string
		h    http.Header
		body []byte
		want error
	}{
		{"valid", signed(0, body), body, nil},
		{"timestamp_299s_old", signed(-299*time.Second, body), body, nil},
		{"timestamp_300s_old", signed(-300*time.Second, body), body, nil},
		{"timestamp_301s_old", signed(-301*time.Second, body), body, ErrStale},
		{"timestamp_299s_ahead", signed(299*time.Second, body), body, nil},
		{"timestamp_300s_ahead", signed(300*time.Second, body), body, nil},
		{"timestamp_301s_ahead", signed(301*time.Second, body), body, ErrStale},
		{"forged_signature", http.Header{HeaderSignature: {SignatureHeader([]byte("another-secret-0123456789"), ts, body)}, HeaderTimestamp: {ts}}, body, ErrBadSignature},
		{"v1_prefix", http.Header{HeaderSignature: {"v1=" + good[3:]}, HeaderTimestamp: {ts}}, body, ErrBadSignature},
		{"uppercase_hex", http.Header{HeaderSignature: {"v0=" + upper(good[3:])}, HeaderTimestamp: {ts}}, body, nil},
		{"short_signature", http.Header{HeaderSignature: {good[:40]}, HeaderTimestamp: {ts}}, body, ErrBadSignature},
		{"not_hex", http.Header{HeaderSignature: {"v0=" + string(make([]byte, 64))}, HeaderTimestamp: {ts}}, body, ErrBadSignature},
		{"missing_signature", http.Header{HeaderTimestamp: {ts}}, body, ErrMissingHeaders},
		{"missing_timestamp", http.Header{HeaderSignature: {good}}, body, ErrMissingHeaders},
		{"no_headers", http.Header{}, body, ErrMissingHeaders},
		{"duplicated_signature", http.Header{HeaderSignature: {good, good}, HeaderTimestamp: {ts}}, body, ErrMissingHeaders},
		{"duplicated_timestamp", http.Header{HeaderSignature: {good}, HeaderTimestamp: {ts, ts}}, body, ErrMissingHeaders},
		{"timestamp_not_a_number", http.Header{HeaderSignature: {good}, HeaderTimestamp: {"17e8"}}, body, ErrBadTimestamp},
		{"timestamp_negative", http.Header{HeaderSignature: {good}, HeaderTimestamp: {"-1"}}, body, ErrBadTimestamp},
		{"timestamp_with_space", http.Header{HeaderSignature: {good}, HeaderTimestamp: {" " + ts}}, body, ErrBadTimestamp},
		{"body_changed", signed(0, body), append([]byte("x"), body...), ErrBadSignature},
		// Parsing and re-encoding the form changes its bytes (here the
		// escaping of ':' and '"'): only the raw body verifies.
		{"body_re_encoded", signed(0, body), []byte(reencode(t, body)), ErrBadSignature},
		{"empty_body_signed_for_other", signed(0, body), nil, ErrBadSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, _ := NewVerifier(string(secret), NewMemoryGuard(100), func() time.Time { return now })
			err := v.Verify(context.Background(), tc.h, tc.body)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) || !vsecure.IsCode(err, vsecure.EUnauthenticated) {
				t.Fatalf("got %v, want %v (unauthenticated)", err, tc.want)
			}
		})
	}
}

func TestVerifyRefusesReplay(t *testing.T) {
	secret := "test-signing-secret-0123456789"
	now := time.Unix(1_700_000_000, 0)
	clock := now
	v, _ := NewVerifier(secret, NewMemoryGuard(100), func() time.Time { return clock })
	ts := strconv.FormatInt(now.Unix(), 10)
	body := []byte("payload=%7B%7D")
	h := http.Header{HeaderSignature: {SignatureHeader([]byte(secret), ts, body)}, HeaderTimestamp: {ts}}
	if err := v.Verify(context.Background(), h, body); err != nil {
		t.Fatal(err)
	}
	clock = now.Add(299 * time.Second)
	if err := v.Verify(context.Background(), h, body); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay inside the window: %v, want ErrReplay", err)
	}
	clock = now.Add(301 * time.Second)
	if err := v.Verify(context.Background(), h, body); !errors.Is(err, ErrStale) {
		t.Fatalf("replay after the window: %v, want ErrStale", err)
	}
	// A different request at the same second is not a replay.
	clock = now
	other := []byte("payload=%7B%22a%22%3A1%7D")
	h2 := http.Header{HeaderSignature: {SignatureHeader([]byte(secret), ts, other)}, HeaderTimestamp: {ts}}
	if err := v.Verify(context.Background(), h2, other); err != nil {
		t.Fatalf("a different request refused: %v", err)
	}
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'f' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

func reencode(t *testing.T, body []byte) string {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		t.Fatal(err)
	}
	// Encode as a client that escapes less than Go does.
	return "payload=" + form.Get("payload")
}

// FuzzVerify checks the verifier never panics and accepts only what it
// signed itself: any accepted input must carry the exact signature of its
// timestamp and body.
func FuzzVerify(f *testing.F) {
	f.Add(exampleSignature, exampleTimestamp, []byte(exampleBody))
	f.Add("v0=", "0", []byte{})
	f.Add("v1=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503", exampleTimestamp, []byte(exampleBody))
	f.Add("v0=zz", "99999999999999999999", []byte("payload=%7B%7D"))
	f.Add(SignatureHeader([]byte(exampleSecret), "1531420700", []byte("payload=x")), "1531420700", []byte("payload=x"))
	now := time.Unix(1531420618, 0)
	f.Fuzz(func(t *testing.T, sig, ts string, body []byte) {
		v, _ := NewVerifier(exampleSecret, NewMemoryGuard(1<<20), func() time.Time { return now })
		h := http.Header{HeaderSignature: {sig}, HeaderTimestamp: {ts}}
		err := v.Verify(context.Background(), h, body)
		if err == nil {
			if want := SignatureHeader([]byte(exampleSecret), ts, body); !equalFoldHex(sig, want) {
				t.Fatalf("accepted %q for ts %q body %q; its signature is %q", sig, ts, body, want)
			}
			if err := v.Verify(context.Background(), h, body); !errors.Is(err, ErrReplay) {
				t.Fatalf("second identical request: %v, want ErrReplay", err)
			}
		} else if !vsecure.IsCode(err, vsecure.EUnauthenticated) {
			t.Fatalf("refusal with code %s: %v", vsecure.ErrorCode(err), err)
		}
	})
}

func equalFoldHex(a, b string) bool { return len(a) == len(b) && upper(a) == upper(b) }
