// Package sfntest is a recording fake of the Step Functions JSON API for
// tests: point aws-sdk-go-v2's sfn client at it with BaseEndpoint, script
// failures per operation, and assert the exact calls made.
package sfntest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssfn "github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/vsecure/vsecure/shared/workflow/sfn"
)

// Call is one recorded request: the operation (StartExecution, ...) and
// its JSON body.
type Call struct {
	Op   string
	Body map[string]any
}

// Reply scripts one response: an HTTP status and, for errors, the
// Step Functions error type (ExecutionAlreadyExists, ThrottlingException,
// ...).
type Reply struct {
	Status int
	Type   string
}

// Fake is a running fake.
type Fake struct {
	Server *httptest.Server
	mu     sync.Mutex
	calls  []Call
	script map[string][]Reply
	// status is each execution's status by name: StartExecution makes it
	// RUNNING, SetStatus changes it, DescribeExecution reads it.
	status map[string]string
}

// New starts a fake, closed when the test ends.
func New(t testing.TB) *Fake {
	f := &Fake{script: map[string][]Reply{}, status: map[string]string{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Server.Close)
	return f
}

// Script queues replies for op; once they are used up op succeeds.
func (f *Fake) Script(op string, replies ...Reply) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script[op] = append(f.script[op], replies...)
}

// SetStatus sets execution name's status (RUNNING, SUCCEEDED, ...) as
// DescribeExecution reports it; "" makes it not exist.
func (f *Fake) SetStatus(name, status string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if status == "" {
		delete(f.status, name)
		return
	}
	f.status[name] = status
}

// Calls returns the calls so far.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// Ops returns the operations called so far, in order.
func (f *Fake) Ops() []string {
	var ops []string
	for _, c := range f.Calls() {
		ops = append(ops, c.Op)
	}
	return ops
}

// Client returns an sfn client for the fake with SDK retries off (the
// adapter retries itself).
func (f *Fake) Client() *awssfn.Client {
	return awssfn.New(awssfn.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(f.Server.URL),
		Credentials: aws.CredentialsProviderFunc(func(ctx context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "secret"}, nil
		}),
	}, sfn.NoSDKRetries)
}

func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "AWSStepFunctions.")
	raw, _ := io.ReadAll(r.Body)
	body := map[string]any{}
	if err := json.Unmarshal(raw, &body); err != nil || r.Method != http.MethodPost || op == "" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.calls = append(f.calls, Call{Op: op, Body: body})
	var reply Reply
	if q := f.script[op]; len(q) > 0 {
		reply, f.script[op] = q[0], q[1:]
	}
	name, _ := body["name"].(string)
	if op == "StartExecution" && reply.Status < 300 {
		f.status[name] = "RUNNING"
	}
	execArn, _ := body["executionArn"].(string)
	status, known := f.status[execArn[strings.LastIndex(execArn, ":")+1:]]
	if op == "DescribeExecution" && reply.Status == 0 && !known {
		reply = Reply{Status: 400, Type: "ExecutionDoesNotExist"}
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	if reply.Status >= 300 {
		w.Header().Set("X-Amzn-ErrorType", reply.Type)
		w.WriteHeader(reply.Status)
		json.NewEncoder(w).Encode(map[string]string{"__type": "com.amazonaws.swf.service.v2.model#" + reply.Type, "message": "scripted " + reply.Type})
		return
	}
	switch op {
	case "StartExecution":
		arn, _ := body["stateMachineArn"].(string)
		json.NewEncoder(w).Encode(map[string]any{
			"executionArn": strings.Replace(arn, ":stateMachine:", ":execution:", 1) + ":" + name, "startDate": 1.7e9,
		})
	case "StopExecution":
		json.NewEncoder(w).Encode(map[string]any{"stopDate": 1.7e9})
	case "DescribeExecution":
		json.NewEncoder(w).Encode(map[string]any{"executionArn": execArn, "status": status, "startDate": 1.7e9})
	default:
		io.WriteString(w, "{}")
	}
}
