package slackfn

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/vsecure/vsecure/shared/lambdafn"
	"github.com/vsecure/vsecure/shared/slack"
	"github.com/vsecure/vsecure/shared/vsecure"
)

const arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:vsecure-slack-AbCdEf"

// fakeSecrets answers GetSecretValue with value (or fails while fail is
// set) and counts the calls.
type fakeSecrets struct {
	value string
	fail  bool
	calls int
}

func (f *fakeSecrets) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	f.calls++
	if aws.ToString(in.SecretId) != arn {
		return nil, errors.New("wrong secret id " + aws.ToString(in.SecretId))
	}
	if f.fail {
		return nil, errors.New("throttled")
	}
	return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(f.value)}, nil
}

// nopStore takes the audit entry of a refused request; nopSealer and the
// rest of the Store are never reached.
type (
	nopStore  struct{ vsecure.Store }
	nopSealer struct{ vsecure.Sealer }
)

func (nopStore) AppendAudit(context.Context, vsecure.Entry) error { return nil }

func function(t *testing.T, logs *bytes.Buffer) *lambdafn.Function {
	t.Helper()
	f, err := lambdafn.New(lambdafn.Config{PublicURL: "https://api.example.com"}, nopStore{}, nopSealer{}, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func post(h http.Handler) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	// Unsigned: a built handler refuses it (401) before touching the store.
	h.ServeHTTP(w, httptest.NewRequest("POST", "/v1/integrations/slack/interactions", strings.NewReader("payload=%7B%7D")))
	return w
}

func TestCredentialsAreReadOnFirstRequestAndKept(t *testing.T) {
	var logs bytes.Buffer
	const signing = "0123456789abcdef0123456789abcdef"
	sm := &fakeSecrets{fail: true, value: `{"botToken":"","signingSecret":"` + signing + `","unset":"x"}`}
	f := function(t, &logs)
	h := New(f.Gate, f.Log, Config{SecretARN: arn}, sm)
	if sm.calls != 0 {
		t.Fatalf("%d Secrets Manager calls before the first request", sm.calls)
	}
	if w := post(h); w.Code != http.StatusServiceUnavailable {
		t.Errorf("secret unreadable: status %d, want 503", w.Code)
	}
	sm.fail = false
	if w := post(h); w.Code != http.StatusUnauthorized {
		t.Errorf("secret readable, request unsigned: status %d %s, want 401", w.Code, w.Body)
	}
	post(h)
	if sm.calls != 2 {
		t.Errorf("%d Secrets Manager calls, want 2 (a failure is not kept, a success is)", sm.calls)
	}
	if strings.Contains(logs.String(), signing) {
		t.Error("the signing secret is in the logs")
	}
}

func TestSecretWithoutSigningSecretIsRefused(t *testing.T) {
	var logs bytes.Buffer
	for _, v := range []string{`{"botToken":"","signingSecret":""}`, `not json`, `{"botToken":"nope","signingSecret":"0123456789abcdef0123"}`} {
		f := function(t, &logs)
		h := New(f.Gate, f.Log, Config{SecretARN: arn}, &fakeSecrets{value: v})
		if w := post(h); w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), `"unavailable"`) {
			t.Errorf("secret %q: %d %s, want 503 unavailable", v, w.Code, w.Body)
		}
	}
	if strings.Contains(logs.String(), "0123456789abcdef0123") {
		t.Error("a secret value is in the logs")
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if _, err := ConfigFromEnv(env(nil)); err == nil || !strings.Contains(err.Error(), EnvSecretARN) {
		t.Errorf("nothing set: %v, want an error naming %s", err, EnvSecretARN)
	}
	if _, err := ConfigFromEnv(env(map[string]string{EnvSecretARN: "vsecure-slack"})); err == nil {
		t.Error("a secret name that is not an ARN was accepted")
	}
	c, err := ConfigFromEnv(env(map[string]string{EnvSecretARN: arn, slack.EnvChannel: "#approvals"}))
	if err != nil || c.SecretARN != arn || c.Env.DefaultChannel != "#approvals" {
		t.Errorf("%+v %v", c, err)
	}
	if _, err := ConfigFromEnv(env(map[string]string{slack.EnvSigningSecret: "0123456789abcdef0123"})); err != nil {
		t.Errorf("signing secret from the environment (emulators): %v", err)
	}
}
