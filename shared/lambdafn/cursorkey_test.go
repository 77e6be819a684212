package lambdafn

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/vsecure/vsecure/shared/crypto/local"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// secretsFake records Secrets Manager calls (JSON 1.1 protocol) and answers
// GetSecretValue with value, or with a 500 while failing is set.
type secretsFake struct {
	*httptest.Server
	mu      sync.Mutex
	calls   []map[string]any
	value   string
	failing bool
}

func newSecretsFake(t *testing.T, value string) *secretsFake {
	f := &secretsFake{value: value}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		body := map[string]any{}
		_ = json.Unmarshal(raw, &body)
		body["op"] = r.Header.Get("X-Amz-Target")
		f.mu.Lock()
		f.calls = append(f.calls, body)
		failing := f.failing
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		if failing {
			w.Header().Set("X-Amzn-ErrorType", "InternalServiceError")
			w.WriteHeader(500)
			io.WriteString(w, `{"__type":"InternalServiceError","message":"down"}`)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"ARN": body["SecretId"], "Name": "CursorKey", "SecretString": f.value})
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *secretsFake) set(failing bool) { f.mu.Lock(); f.failing = failing; f.mu.Unlock() }

func (f *secretsFake) recorded() []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string]any(nil), f.calls...)
}

func (f *secretsFake) client() *secretsmanager.Client {
	return secretsmanager.New(secretsmanager.Options{
		Region: "eu-west-1", BaseEndpoint: aws.String(f.URL), RetryMaxAttempts: 1,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "secret"}, nil
		}),
	})
}

const cursorSecretARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:CursorKey-AbCdEf"

// TestCursorKeyFromSecretsManager: the key is read on the first paginated
// call (never at init), once per container, and a failed read answers 500
// without caching the failure.
func TestCursorKeyFromSecretsManager(t *testing.T) {
	const value = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZab"
	fake := newSecretsFake(t, value)
	fake.set(true)
	st := &fakeStore{keys: map[string]vsecure.Key{"h": {ID: "key_1", Principal: "auditor-1", Roles: []vsecure.Role{vsecure.RoleAuditor}}}}
	sealer, err := local.Load(strings.Repeat("A", 43)+"=", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	f, err := NewWith(Config{PublicURL: "https://api.example.com"}, st, sealer,
		Deps{CursorKeys: NewSecretCursorKey(fake.client(), cursorSecretARN)}, NewLogger(&logs, "INFO"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := f.Endpoint("audit-list")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(fake.recorded()); n != 0 {
		t.Fatalf("%d Secrets Manager calls at init, want none", n)
	}
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "l-1"})
	auditor := EncodePrincipal(vsecure.Principal{ID: "auditor-1", Roles: []vsecure.Role{vsecure.RoleAuditor}, KeyID: "key_1"})
	call := func() int {
		resp, err := e.Handle(ctx, endpointEvent("GET", "/v1/security/mcp/audit", auditor))
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode
	}
	if got := call(); got != 500 {
		t.Fatalf("secret unreadable: status %d, want 500", got)
	}
	fake.set(false)
	for i := range 3 {
		if got := call(); got != 200 {
			t.Fatalf("call %d: status %d, want 200", i, got)
		}
	}
	calls := fake.recorded()
	if len(calls) != 2 {
		t.Fatalf("%d GetSecretValue calls, want 2 (the failed one, then one cached read): %v", len(calls), calls)
	}
	for _, c := range calls {
		if c["op"] != "secretsmanager.GetSecretValue" || c["SecretId"] != cursorSecretARN || len(c) != 2 {
			t.Errorf("call %v, want exactly GetSecretValue of the cursor secret", c)
		}
	}
	if strings.Contains(logs.String(), value) {
		t.Error("the cursor key reached the logs")
	}
}

func TestSecretCursorKeyRefusesShortValues(t *testing.T) {
	fake := newSecretsFake(t, "too-short-a-key")
	k := NewSecretCursorKey(fake.client(), cursorSecretARN)
	if _, err := k.CursorKey(t.Context()); err == nil || strings.Contains(err.Error(), "too-short") {
		t.Fatalf("err = %v, want a refusal that does not echo the value", err)
	}
}

// TestOpenWiresWorkflowAndTasks: with a state machine ARN the gate gets the
// Step Functions workflow and workflow-notify can be served; without it
// workflow-notify refuses to start, naming the variable. Open makes no
// network call (every endpoint points at a closed port).
func TestOpenWiresWorkflowAndTasks(t *testing.T) {
	base := Config{
		Table: "t", AuditTable: "a", PublicURL: "https://api.example.com", Region: "eu-west-1",
		AccessKeyID: "AKID", SecretAccessKey: "s", DynamoDBEndpoint: "http://127.0.0.1:1",
		SFNEndpoint: "http://127.0.0.1:1", SecretsEndpoint: "http://127.0.0.1:1", CursorSecretARN: cursorSecretARN,
	}
	f, err := Open(base, NewLogger(io.Discard, "INFO"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Workflow != nil {
		t.Fatal("a workflow without VSECURE_STATE_MACHINE_ARN")
	}
	if _, err := f.TaskHandler("workflow-notify"); err == nil || !strings.Contains(err.Error(), "VSECURE_STATE_MACHINE_ARN") {
		t.Fatalf("notify without a state machine: %v", err)
	}
	for _, name := range []string{"workflow-expire", "workflow-revoke"} {
		if _, err := f.TaskHandler(name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := f.TaskHandler("health"); err == nil {
		t.Error("a route function accepted as a task")
	}
	withSM := base
	withSM.StateMachineARN = "arn:aws:states:eu-west-1:123456789012:stateMachine:approvals"
	f, err = Open(withSM, NewLogger(io.Discard, "INFO"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Workflow == nil || f.Workflow.ExecutionARN("appr_1") != "arn:aws:states:eu-west-1:123456789012:execution:approvals:appr_1" {
		t.Fatalf("workflow %v", f.Workflow)
	}
	for _, name := range TaskFunctions() {
		if _, err := f.TaskHandler(name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
