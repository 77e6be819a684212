package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vsecure/vsecure/shared/strictjson"
)

// FuzzRequestBodies sends arbitrary bodies to every route that decodes
// one, as an admin: the answer is always a success or a well-formed error
// envelope below 500, and nothing panics.
func FuzzRequestBodies(f *testing.F) {
	e := newEnv(f)
	e.configure(map[string]any{"uri": "vsecure://secrets/staging/*", "permissions": []string{"read", "write"}})
	h := e.handler()
	routes := []struct{ method, path string }{
		{"POST", "/v1/security/mcp/resources"},
		{"PUT", "/v1/security/mcp/resources/secrets/staging/FUZZ"},
		{"POST", "/v1/security/mcp/approve"},
		{"POST", "/v1/security/mcp/approvals/appr_x/respond"},
		{"POST", "/v1/security/mcp/approvals/appr_x/revoke"},
		{"POST", "/v1/security/mcp/approvals/appr_x/cancel"},
		{"POST", "/v1/security/keys"},
	}
	for i := range routes {
		f.Add(uint8(i), `{"uri":"vsecure://secrets/a/*","permissions":["read"]}`)
		f.Add(uint8(i), `{"value":"x","metadata":{"a":"b"}}`)
		f.Add(uint8(i), `{"resource":"vsecure://secrets/staging/A","operation":"read","ttl":60}`)
		f.Add(uint8(i), `{"action":"approve"}`)
		f.Add(uint8(i), `{"principal":"p","roles":["agent"]}`)
		f.Add(uint8(i), `{"ttl":1e400}`)
		f.Add(uint8(i), `[`)
		f.Add(uint8(i), `{"principal":"p","roles":["agent"],"Roles":["admin"]}`)
		f.Add(uint8(i), `{"value":"x","metadata":{"a":"1","a":"2","A":"3"}}`)
		f.Add(uint8(i), `{"uri":"vsecure://secrets/a/*","permissions":["read"],"autoApprove":{"enabled":true,"conditions":{"requester":["a"],"r\u0065quester":["b"]}}}`)
	}
	f.Fuzz(func(t *testing.T, route uint8, body string) {
		rt := routes[int(route)%len(routes)]
		req := httptest.NewRequest(rt.method, rt.path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+adminKey)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s %q → %d %s", rt.method, rt.path, body, rec.Code, rec.Body)
		}
		// A body with a duplicate key never succeeds (FuzzStrictJSON checks
		// strictjson against a reference on untyped JSON).
		var anyJSON any
		if rec.Code < 300 && body != "" && strictjson.Unmarshal([]byte(body), &anyJSON) != nil {
			t.Fatalf("%s %s %q with a duplicate key → %d", rt.method, rt.path, body, rec.Code)
		}
		if rec.Code >= 400 {
			var env struct {
				Error struct{ Code, Message, RequestID string }
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || env.Error.Code == "" || env.Error.RequestID == "" {
				t.Fatalf("bad envelope %d %s", rec.Code, rec.Body)
			}
		}
	})
}

// FuzzCredential: any Authorization / X-API-Key header either
// authenticates (only the real key) or yields 401 — never a panic or 500.
func FuzzCredential(f *testing.F) {
	e := newEnv(f)
	h := e.handler()
	f.Add("Bearer "+adminKey, "")
	f.Add("Bearer mcp_at_AAAA", "")
	f.Add("", "vsk_"+strings.Repeat("a", 43))
	f.Add("Basic dXNlcjpwYXNz", "")
	f.Add("Bearer ", "mcp_at_")
	f.Fuzz(func(t *testing.T, authz, apiKey string) {
		req := httptest.NewRequest("GET", "/v1/security/keys", nil)
		if authz != "" {
			req.Header["Authorization"] = []string{authz}
		}
		if apiKey != "" {
			req.Header["X-Api-Key"] = []string{apiKey}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
			if !strings.Contains(authz, adminKey) && !strings.Contains(apiKey, adminKey) {
				t.Fatalf("authenticated without the key: %q %q", authz, apiKey)
			}
		case http.StatusUnauthorized:
		default:
			t.Fatalf("%q %q → %d %s", authz, apiKey, rec.Code, rec.Body)
		}
	})
}
