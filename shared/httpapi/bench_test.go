package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkAuditedRead measures an authenticated, policy-checked, decrypted
// and durably audited secret read through the real handler on the embedded
// store (bbolt with fsync'd group commits).
func BenchmarkAuditedRead(b *testing.B) {
	e := newEnv(b)
	e.configure(map[string]any{"uri": "vsecure://secrets/staging/*", "permissions": []string{"read"}})
	e.put("vsecure://secrets/staging/API_TOKEN", "value-of-the-token")
	agent := e.key("bench-agent", "agent")
	h := e.handler()
	path := resPath("vsecure://secrets/staging/API_TOKEN")
	b.ReportAllocs()
	b.ResetTimer()
	b.SetParallelism(16) // 32 concurrent readers on 2 cores, like the load run
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.Header.Set("Authorization", "Bearer "+agent)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
	})
}
