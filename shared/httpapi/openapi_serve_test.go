package httpapi_test

import (
	"bytes"
	"net/http/httptest"
	"testing"

	"github.com/vsecure/vsecure/shared/httpapi"
)

// TestOpenAPIServed: GET /openapi.json is public and answers the document.
func TestOpenAPIServed(t *testing.T) {
	e := newEnv(t)
	want, err := httpapi.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // built once, then from memory
		r := e.do("GET", "/openapi.json", "", nil)
		if r.Status != 200 {
			t.Fatalf("GET /openapi.json without a key → %d: %s", r.Status, r.Raw)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		if !bytes.Equal(r.Raw, want) {
			t.Fatal("the served document differs from httpapi.OpenAPI()")
		}
	}
	// The health function serves it behind API Gateway: no Lambda of its own.
	h, err := e.api.FunctionHandler("health")
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/openapi.json", nil))
	if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), want) {
		t.Fatalf("the health function answers GET /openapi.json with %d", rec.Code)
	}
}
