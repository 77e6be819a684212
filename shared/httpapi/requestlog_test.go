package httpapi_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// requestLine is the "request" log line of request id rid, waiting for it
// up to a deadline when wait is set (the line is written as the handler
// returns, which may be just after the client has its answer).
func (e *env) requestLine(rid string, wait bool) map[string]any {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		out := e.logs.String()
		for line := range strings.Lines(out) {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "request" && m["requestId"] == rid {
				return m
			}
		}
		if !wait || time.Now().After(deadline) {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestQuietRequests: a quiet API (prod behind API Gateway, whose access
// log has every request) logs no line for a request answered well and in
// time, and still logs a 5xx answer with its request id; a default API
// (the local server, which has no access log) logs every request.
func TestQuietRequests(t *testing.T) {
	e, agent := gated(t)
	e.put("vsecure://secrets/staging/A", "a-value")
	e.api.QuietRequests = true
	ok := e.must(e.do("GET", resPath("vsecure://secrets/staging/A"), agent, nil), 200)
	refused := e.do("GET", resPath(dbURI), agent, nil)
	e.wantErr(refused, 403, "approval_required")
	e.store.broken.Store(true)
	failed := e.do("GET", resPath("vsecure://secrets/staging/A"), agent, nil)
	e.store.broken.Store(false)
	e.wantErr(failed, 503, "audit_unavailable")
	l := e.requestLine(failed.Header.Get("X-Request-Id"), true)
	if l == nil || l["status"] != float64(503) {
		t.Fatalf("quiet API: the 503 (request id %q) logged %v", failed.Header.Get("X-Request-Id"), l)
	}
	for _, r := range []resp{ok, refused} {
		if l := e.requestLine(r.Header.Get("X-Request-Id"), false); l != nil {
			t.Errorf("quiet API logged a %d: %v", r.Status, l)
		}
	}

	e.api.QuietRequests = false
	r := e.must(e.do("GET", resPath("vsecure://secrets/staging/A"), agent, nil), 200)
	if l := e.requestLine(r.Header.Get("X-Request-Id"), true); l == nil || l["status"] != float64(200) {
		t.Fatalf("default API: the 200 logged %v", l)
	}
}
