package httpapi_test

import (
	"testing"
	"time"
)

func TestKeyLifecycle(t *testing.T) {
	t.Run("rotate_answers_the_new_key_and_the_old_ones_end", func(t *testing.T) {
		e := newEnv(t)
		c := e.must(e.do("POST", "/v1/security/keys", e.admin, map[string]any{"principal": "agent-1", "roles": []string{"agent"}, "slackUserId": "U1"}), 201)
		oldKey, oldID := c.str("key"), c.str("id")
		r := e.must(e.do("POST", "/v1/security/keys/"+oldID+"/rotate", e.admin, map[string]any{"overlapSeconds": 60}), 201)
		newKey := r.str("key")
		rep, _ := r.Body["replaces"].(map[string]any)
		if r.str("principal") != "agent-1" || r.str("slackUserId") != "U1" || r.str("rotatedFrom") != oldID || r.str("id") == oldID ||
			newKey == "" || newKey == oldKey || rep["id"] != oldID || rep["expiresAt"] != "2024-03-15T10:31:00Z" {
			t.Fatalf("rotate response: %s", r.Raw)
		}
		if roles, _ := r.Body["roles"].([]any); len(roles) != 1 || roles[0] != "agent" {
			t.Fatalf("roles %v", r.Body["roles"])
		}
		e.must(e.do("GET", "/v1/security/mcp/resources", newKey, nil), 200)
		if n := len(e.audit("operation=key_rotate")); n != 1 {
			t.Fatalf("%d key_rotate entries, want 1", n)
		}
	})
	t.Run("refusals", func(t *testing.T) {
		e := newEnv(t)
		id := e.must(e.do("POST", "/v1/security/keys", e.admin, map[string]any{"principal": "agent-2", "roles": []string{"agent"}}), 201).str("id")
		e.wantErr(e.do("POST", "/v1/security/keys/key_nope/rotate", e.admin, nil), 404, "not_found")
		e.wantErr(e.do("POST", "/v1/security/keys/"+id+"/rotate", e.admin, map[string]any{"overlapSeconds": -1}), 400, "invalid_request")
		e.wantErr(e.do("POST", "/v1/security/keys/"+id+"/rotate", e.admin, map[string]any{"overlap": 1}), 400, "invalid_request")
	})
	t.Run("patch_answers_the_changed_key", func(t *testing.T) {
		e := newEnv(t)
		c := e.must(e.do("POST", "/v1/security/keys", e.admin, map[string]any{"principal": "agent-1", "roles": []string{"agent"}, "slackUserId": "U1"}), 201)
		id := c.str("id")
		r := e.must(e.do("PATCH", "/v1/security/keys/"+id, e.admin, map[string]any{"roles": []string{"admin", "agent", "admin"}}), 200)
		if roles, _ := r.Body["roles"].([]any); len(roles) != 2 || roles[0] != "admin" || roles[1] != "agent" || r.str("slackUserId") != "U1" || r.str("id") != id {
			t.Fatalf("roles patch: %s", r.Raw)
		}
		r = e.must(e.do("PATCH", "/v1/security/keys/"+id, e.admin, map[string]any{"slackUserId": "U2"}), 200)
		if r.str("slackUserId") != "U2" {
			t.Fatalf("slack patch: %s", r.Raw)
		}
	})
	t.Run("patch_refusals_are_audited", func(t *testing.T) {
		e := newEnv(t)
		id := e.must(e.do("POST", "/v1/security/keys", e.admin, map[string]any{"principal": "agent-2", "roles": []string{"agent"}}), 201).str("id")
		path := "/v1/security/keys/" + id
		// A body the strict decoder refuses is audited as the operation too.
		e.wantErr(e.do("PATCH", path, e.admin, map[string]any{"roles": []string{"agent"}, "expiresAt": "2030-01-01T00:00:00Z"}), 400, "invalid_request")
		e.wantErr(e.do("PATCH", "/v1/security/keys/key_nope", e.admin, map[string]any{"roles": []string{"agent"}}), 404, "not_found")
		e.must(e.do("DELETE", path, e.admin, nil), 200)
		e.wantErr(e.do("PATCH", path, e.admin, map[string]any{"roles": []string{"admin"}}), 409, "already_decided")
		if n := len(e.audit("operation=key_update&success=false")); n != 3 {
			t.Fatalf("%d refused key_update entries, want 3", n)
		}
	})
	t.Run("last_used_is_written_at_most_once_a_minute", func(t *testing.T) {
		e := newEnv(t)
		c := e.must(e.do("POST", "/v1/security/keys", e.admin, map[string]any{"principal": "agent-1", "roles": []string{"agent"}}), 201)
		key, id := c.str("key"), c.str("id")
		lastUsed := func() any {
			for _, k := range e.must(e.do("GET", "/v1/security/keys", e.admin, nil), 200).Body["keys"].([]any) {
				if k.(map[string]any)["id"] == id {
					return k.(map[string]any)["lastUsedAt"]
				}
			}
			t.Fatal("key not listed")
			return nil
		}
		if lastUsed() != nil {
			t.Fatal("an unused key has a last use")
		}
		before := e.store.marks.Load()
		const requests = 100
		for range requests {
			e.must(e.do("GET", "/v1/security/mcp/resources", key, nil), 200)
		}
		if got := lastUsed(); got != "2024-03-15T10:30:00Z" {
			t.Fatalf("lastUsedAt %v", got)
		}
		e.clock.Advance(30 * time.Second)
		e.must(e.do("GET", "/v1/security/mcp/resources", key, nil), 200)
		if got := lastUsed(); got != "2024-03-15T10:30:00Z" {
			t.Fatalf("lastUsedAt %v moved within the minute", got)
		}
		e.clock.Advance(31 * time.Second)
		e.must(e.do("GET", "/v1/security/mcp/resources", key, nil), 200)
		if got := lastUsed(); got != "2024-03-15T10:31:01Z" {
			t.Fatalf("lastUsedAt %v, want it moved after a minute", got)
		}
		// 102 requests by the agent key: 2 writes. (The admin's list calls
		// add at most one per minute of the admin key.)
		if got := e.store.marks.Load() - before; got > 3 {
			t.Fatalf("%d last-used writes for %d requests", got, requests+2)
		}
		t.Logf("last-used writes: %d for %d requests over 61 s", e.store.marks.Load()-before, requests+2)
	})
	t.Run("a_failed_last_used_write_never_fails_the_request", func(t *testing.T) {
		e := newEnv(t)
		e.store.markFails.Store(true)
		agent := e.key("agent-1", "agent")
		e.must(e.do("GET", "/v1/security/mcp/resources", agent, nil), 200)
		if e.store.marks.Load() == 0 {
			t.Fatal("no last-used write attempted")
		}
	})
}
