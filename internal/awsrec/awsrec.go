// Package awsrec records the AWS requests of functions under test. It is a
// reverse proxy in front of the emulators (DynamoDB Local, local-kms, a
// Step Functions fake, a Secrets Manager fake) for the AWS JSON 1.0/1.1
// protocols, where the X-Amz-Target header names the action: each request
// is forwarded unchanged and recorded with the IAM authorizations it needs
// (iampolicy.Request: action, resource ARN, condition keys), attributed to
// the function whose endpoint it came through. The functions' suite checks
// those against each function's synthesized policy; cmd/vsecure-cost
// measures capacity through the same forwarding.
package awsrec

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/vsecure/vsecure/internal/iampolicy"
)

// Serve runs h on a free loopback port and returns its URL and a stop
// function.
func Serve(h http.Handler) (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(l) }()
	return "http://" + l.Addr().String(), func() { _ = srv.Close() }, nil
}

// Forward sends body to upstream with the request's method, path and
// headers and returns the answer's status, headers and body.
func Forward(upstream string, r *http.Request, body []byte) (int, http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(r.Context(), r.Method, upstream+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	for k, v := range r.Header {
		if k != "Content-Length" {
			req.Header[k] = v
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b, err
}

// Reply writes an answer Forward returned.
func Reply(w http.ResponseWriter, status int, h http.Header, body []byte) {
	for k, v := range h {
		if k != "Content-Length" {
			w.Header()[k] = v
		}
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// Call is one recorded API call.
type Call struct {
	Function string // whose endpoint it came through
	Target   string // X-Amz-Target, e.g. DynamoDB_20120810.TransactWriteItems
	Status   int
	// Requests are the authorizations IAM makes for the call.
	Requests []iampolicy.Request
}

// Upstreams are where a Recorder forwards each service's requests.
type Upstreams struct {
	DynamoDB, KMS, StepFunctions, SecretsManager string
}

// Recorder records calls; one Recorder serves every function.
type Recorder struct {
	Upstreams Upstreams
	Parser    Parser

	mu    sync.Mutex
	calls []Call
}

// Calls returns what was recorded so far.
func (rec *Recorder) Calls() []Call {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]Call(nil), rec.calls...)
}

// For is the endpoint of function fn: every service's requests, told
// apart by X-Amz-Target, forwarded to their upstream and recorded as fn's.
func (rec *Recorder) For(fn string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		target := r.Header.Get("X-Amz-Target")
		svc, _, _ := strings.Cut(target, ".")
		up := map[string]string{
			"DynamoDB_20120810": rec.Upstreams.DynamoDB, "TrentService": rec.Upstreams.KMS,
			"AWSStepFunctions": rec.Upstreams.StepFunctions, "secretsmanager": rec.Upstreams.SecretsManager,
		}[svc]
		if up == "" {
			http.Error(w, "awsrec: no upstream for X-Amz-Target "+target, http.StatusBadGateway)
			return
		}
		var in map[string]any
		_ = json.Unmarshal(body, &in)
		status, h, out, err := Forward(up, r, body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		reqs := rec.Parser.Requests(target, in)
		rec.mu.Lock()
		rec.calls = append(rec.calls, Call{Function: fn, Target: target, Status: status, Requests: reqs})
		rec.mu.Unlock()
		Reply(w, status, h, out)
	})
}

// Secrets is a Secrets Manager stand-in answering GetSecretValue from
// values (secret ARN → SecretString).
func Secrets(values map[string]string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ SecretId string }
		_ = json.NewDecoder(r.Body).Decode(&in)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		v, ok := values[in.SecretId]
		if !strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".GetSecretValue") || !ok {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}`))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"ARN": in.SecretId, "Name": in.SecretId, "SecretString": v, "VersionId": "v1"})
	})
}
