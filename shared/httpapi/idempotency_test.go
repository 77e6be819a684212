package httpapi_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/httpapi"
	"github.com/vsecure/vsecure/shared/vsecure"
)

func idemH(key string) http.Header { return http.Header{httpapi.IdempotencyHeader: {key}} }

const stagingURI = "vsecure://secrets/staging/API_TOKEN"

// storedRecord reads the idempotency record the server kept for key.
func (e *env) storedRecord(principal, key string) vsecure.IdempotencyRecord {
	e.t.Helper()
	sum := sha256.Sum256([]byte(key))
	now := e.clock.Now()
	probe := vsecure.IdempotencyRecord{Principal: principal, Key: hex.EncodeToString(sum[:]), Token: "probe", LeaseUntil: now, ExpiresAt: now}
	got, fresh, err := e.store.ReserveIdempotency(e.t.Context(), probe, now)
	if err != nil || fresh {
		e.t.Fatalf("no record for %s: fresh=%v err=%v", key, fresh, err)
	}
	return got
}

func TestIdempotency(t *testing.T) {
	t.Run("secret_write_replays_the_first_response", func(t *testing.T) {
		e, _ := gated(t)
		body := map[string]any{"value": "tok-1", "name": "API token"}
		first := e.must(e.doH("PUT", resPath(stagingURI), e.admin, body, idemH("w-1")), 200)
		if first.Header.Get(httpapi.ReplayedHeader) != "" {
			t.Fatal("first response marked as a replay")
		}
		e.clock.Advance(time.Hour)
		again := e.must(e.doH("PUT", resPath(stagingURI), e.admin, body, idemH("w-1")), 200)
		if again.Header.Get(httpapi.ReplayedHeader) != "true" || !bytes.Equal(again.Raw, first.Raw) {
			t.Fatalf("replay %s (%v), want the first response %s", again.Raw, again.Header, first.Raw)
		}
		if v := e.must(e.do("GET", resPath(stagingURI), e.admin, nil), 200); v.Body["version"].(float64) != 1 {
			t.Fatalf("a replay wrote again: %s", v.Raw)
		}
		if n := len(e.audit("operation=write&resource=" + stagingURI)); n != 1 {
			t.Fatalf("%d write entries, want 1", n)
		}
		if n := len(e.audit("operation=idempotent_replay")); n != 1 {
			t.Fatalf("%d replay entries, want 1", n)
		}
		rec := e.storedRecord("admin", "w-1")
		if bytes.Contains(rec.Body, []byte("tok-1")) {
			t.Fatal("the idempotency record holds the secret value")
		}
	})
	t.Run("same_key_other_body_is_422", func(t *testing.T) {
		e, _ := gated(t)
		e.must(e.doH("PUT", resPath(stagingURI), e.admin, map[string]any{"value": "a"}, idemH("w-2")), 200)
		e.wantErr(e.doH("PUT", resPath(stagingURI), e.admin, map[string]any{"value": "b"}, idemH("w-2")), 422, "idempotency_mismatch")
		e.wantErr(e.doH("PUT", resPath("vsecure://secrets/staging/OTHER"), e.admin, map[string]any{"value": "a"}, idemH("w-2")), 422, "idempotency_mismatch")
		n := 0
		for _, en := range e.audit("success=false") {
			if en["error"] == "idempotency_mismatch" && en["operation"] == "http:resources-put" {
				n++
			}
		}
		if n != 2 {
			t.Fatalf("%d refused idempotent calls audited, want 2", n)
		}
	})
	t.Run("keys_are_scoped_per_principal", func(t *testing.T) {
		e, _ := gated(t)
		other := e.key("admin-2", "admin")
		e.must(e.doH("PUT", resPath(stagingURI), e.admin, map[string]any{"value": "a"}, idemH("k")), 200)
		r := e.must(e.doH("PUT", resPath(stagingURI), other, map[string]any{"value": "a"}, idemH("k")), 200)
		if r.Header.Get(httpapi.ReplayedHeader) != "" || r.Body["version"].(float64) != 2 {
			t.Fatalf("another principal's key was replayed: %s", r.Raw)
		}
	})
	t.Run("key_expires_after_24h", func(t *testing.T) {
		e, _ := gated(t)
		e.must(e.doH("PUT", resPath(stagingURI), e.admin, map[string]any{"value": "a"}, idemH("k")), 200)
		e.clock.Advance(24*time.Hour + time.Second)
		r := e.must(e.doH("PUT", resPath(stagingURI), e.admin, map[string]any{"value": "b"}, idemH("k")), 200)
		if r.Body["version"].(float64) != 2 {
			t.Fatalf("expired key still bound: %s", r.Raw)
		}
	})
	t.Run("invalid_key_is_400", func(t *testing.T) {
		e, _ := gated(t)
		e.wantErr(e.doH("PUT", resPath(stagingURI), e.admin, map[string]any{"value": "a"}, idemH(strings.Repeat("x", 256))), 400, "invalid_request")
		e.wantErr(e.doH("PUT", resPath(stagingURI), e.admin, map[string]any{"value": "a"}, idemH("has space")), 400, "invalid_request")
	})
	t.Run("5xx_is_not_stored_so_a_retry_runs", func(t *testing.T) {
		e, _ := gated(t)
		e.store.broken.Store(true)
		e.wantErr(e.doH("PUT", resPath(stagingURI), e.admin, map[string]any{"value": "a"}, idemH("k")), 503, "audit_unavailable")
		e.store.broken.Store(false)
		r := e.must(e.doH("PUT", resPath(stagingURI), e.admin, map[string]any{"value": "a"}, idemH("k")), 200)
		if r.Header.Get(httpapi.ReplayedHeader) != "" || r.Body["version"].(float64) != 1 {
			t.Fatalf("retry after a 503: %s", r.Raw)
		}
	})
	t.Run("4xx_is_replayed", func(t *testing.T) {
		e, agent := gated(t)
		first := e.doH("PUT", resPath(dbURI), agent, map[string]any{"value": "x"}, idemH("k"))
		e.wantErr(first, 403, "operation_not_permitted")
		again := e.doH("PUT", resPath(dbURI), agent, map[string]any{"value": "x"}, idemH("k"))
		if again.Status != 403 || again.Header.Get(httpapi.ReplayedHeader) != "true" || !bytes.Equal(again.Raw, first.Raw) {
			t.Fatalf("replay of a refusal: %d %s", again.Status, again.Raw)
		}
	})
	t.Run("decision_replay_withholds_the_access_token", func(t *testing.T) {
		e, agent := gated(t)
		alice := e.key("alice", "approver")
		id := e.must(e.doH("POST", "/v1/security/mcp/approve", agent, map[string]any{"resource": dbURI, "operation": "read"}, idemH("req-1")), 201).str("approvalId")
		replayReq := e.must(e.doH("POST", "/v1/security/mcp/approve", agent, map[string]any{"resource": dbURI, "operation": "read"}, idemH("req-1")), 201)
		if replayReq.str("approvalId") != id {
			t.Fatalf("approval request ran twice: %s vs %s", replayReq.str("approvalId"), id)
		}
		path := "/v1/security/mcp/approvals/" + id + "/respond"
		first := e.must(e.doH("POST", path, alice, map[string]any{"action": "approve"}, idemH("d-1")), 200)
		token := first.str("accessToken")
		if !strings.HasPrefix(token, "mcp_at_") {
			t.Fatalf("no token: %s", first.Raw)
		}
		again := e.must(e.doH("POST", path, alice, map[string]any{"action": "approve"}, idemH("d-1")), 200)
		if again.str("accessToken") != "" || again.str("status") != "approved" || again.str("approvalId") != id ||
			again.Header.Get(httpapi.WithheldHeader) != "accessToken" || again.Header.Get(httpapi.ReplayedHeader) != "true" {
			t.Fatalf("replay of a decision: %s %v", again.Raw, again.Header)
		}
		if rec := e.storedRecord("alice", "d-1"); bytes.Contains(rec.Body, []byte(token)) || bytes.Contains(rec.Body, []byte("mcp_at_")) {
			t.Fatal("the idempotency record holds the access token")
		}
		if bytes.Contains(e.logs.Bytes(), []byte(token)) {
			t.Fatal("the access token is in the logs")
		}
		// Without the key the second decision is refused as before.
		e.wantErr(e.do("POST", path, alice, map[string]any{"action": "approve"}), 409, "already_decided")
	})
	t.Run("key_creation_replay_withholds_the_key", func(t *testing.T) {
		e := newEnv(t)
		body := map[string]any{"principal": "agent-9", "roles": []string{"agent"}}
		first := e.must(e.doH("POST", "/v1/security/keys", e.admin, body, idemH("c-1")), 201)
		again := e.must(e.doH("POST", "/v1/security/keys", e.admin, body, idemH("c-1")), 201)
		if again.str("id") != first.str("id") || again.str("key") != "" || again.Header.Get(httpapi.WithheldHeader) != "key" {
			t.Fatalf("replay of a key creation: %s", again.Raw)
		}
		if rec := e.storedRecord("admin", "c-1"); bytes.Contains(rec.Body, []byte(first.str("key"))) {
			t.Fatal("the idempotency record holds the API key")
		}
		keys := e.must(e.do("GET", "/v1/security/keys", e.admin, nil), 200).Body["keys"].([]any)
		if len(keys) != 2 { // the bootstrap admin key and agent-9's
			t.Fatalf("%d keys, want 2", len(keys))
		}
	})
	t.Run("concurrent_duplicates_run_once", func(t *testing.T) {
		e, _ := gated(t)
		const n = 24
		results := make([]resp, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				results[i] = e.doH("PUT", resPath(stagingURI), e.admin, map[string]any{"value": "v"}, idemH("race"))
			})
		}
		wg.Wait()
		ran, replayed, busy := 0, 0, 0
		for _, r := range results {
			switch {
			case r.Status == 200 && r.Header.Get(httpapi.ReplayedHeader) == "":
				ran++
			case r.Status == 200:
				replayed++
			case r.Status == 409 && r.code() == "idempotency_in_progress" && r.Header.Get("Retry-After") == "1":
				busy++
			default:
				t.Fatalf("unexpected %d %s", r.Status, r.Raw)
			}
		}
		if ran != 1 {
			t.Fatalf("ran %d times (replayed %d, busy %d), want exactly once", ran, replayed, busy)
		}
		if v := e.must(e.do("GET", resPath(stagingURI), e.admin, nil), 200); v.Body["version"].(float64) != 1 {
			t.Fatalf("version %v after %d duplicates, want 1", v.Body["version"], n)
		}
		t.Logf("%d concurrent duplicates: 1 ran, %d replayed, %d told to retry (409)", n, replayed, busy)
	})
	t.Run("without_the_header_nothing_changes", func(t *testing.T) {
		e, _ := gated(t)
		e.must(e.do("PUT", resPath(stagingURI), e.admin, map[string]any{"value": "a"}), 200)
		r := e.must(e.do("PUT", resPath(stagingURI), e.admin, map[string]any{"value": "a"}), 200)
		if r.Body["version"].(float64) != 2 {
			t.Fatalf("version %v", r.Body["version"])
		}
	})
}
