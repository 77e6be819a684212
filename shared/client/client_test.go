package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/vsecure"
)

func newTest(t *testing.T, h http.Handler, cfg Config) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	cfg.BaseURL = srv.URL
	if cfg.Backoff == nil {
		cfg.Backoff = func(int) time.Duration { return time.Millisecond }
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func envelope(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"code":%q,"message":%q,"requestId":"req_1"}}`, code, msg)
}

func TestGetSecret(t *testing.T) {
	t.Run("full_uri_is_one_percent_encoded_segment", func(t *testing.T) {
		mux := http.NewServeMux()
		var got, raw, auth string
		mux.HandleFunc("GET /v1/security/mcp/resources/{uri...}", func(w http.ResponseWriter, r *http.Request) {
			got, raw, auth = r.PathValue("uri"), r.URL.EscapedPath(), r.Header.Get("Authorization")
			json.NewEncoder(w).Encode(api.SecretRead{URI: got, Value: "v", Version: 3})
		})
		c := newTest(t, mux, Config{Key: "vsk_test"})
		s, err := c.GetSecret(context.Background(), "vsecure://secrets/production/DATABASE_URL", 0)
		if err != nil {
			t.Fatal(err)
		}
		if got != "vsecure://secrets/production/DATABASE_URL" || s.Value != "v" || s.Version != 3 {
			t.Fatalf("server saw %q, client got %+v", got, s)
		}
		if raw != "/v1/security/mcp/resources/vsecure:%2F%2Fsecrets%2Fproduction%2FDATABASE_URL" {
			t.Fatalf("escaped path %q", raw)
		}
		if auth != "Bearer vsk_test" {
			t.Fatalf("authorization %q", auth)
		}
	})
	t.Run("approval_required_is_a_typed_error", func(t *testing.T) {
		c := newTest(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			envelope(w, 403, "approval_required", "read on x requires approval")
		}), Config{})
		_, err := c.GetSecret(context.Background(), "vsecure://secrets/p/x", 0)
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeApprovalRequired || e.StatusCode != 403 || e.RequestID != "req_1" {
			t.Fatalf("err = %#v", err)
		}
		if !IsApprovalRequired(err) || !vsecure.IsCode(err, vsecure.EApprovalRequired) {
			t.Fatal("helpers do not see approval_required")
		}
	})
}

func TestRetries(t *testing.T) {
	cases := []struct {
		name     string
		method   string
		status   int
		wantHits int32
	}{
		{"get_retries_5xx", "GET", 503, 3},
		{"get_retries_429", "GET", 429, 3},
		{"get_does_not_retry_4xx", "GET", 403, 1},
		{"post_never_retries", "POST", 503, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var hits atomic.Int32
			c := newTest(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				envelope(w, tc.status, "x", "no")
			}), Config{})
			var err error
			if tc.method == "GET" {
				_, err = c.GetApproval(context.Background(), "appr_1")
			} else {
				_, err = c.RequestApproval(context.Background(), api.ApprovalRequest{Resource: "vsecure://secrets/a/b"})
			}
			if err == nil || hits.Load() != tc.wantHits {
				t.Fatalf("err=%v hits=%d want %d", err, hits.Load(), tc.wantHits)
			}
		})
	}
	t.Run("get_succeeds_after_transient_failure", func(t *testing.T) {
		var hits atomic.Int32
		c := newTest(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if hits.Add(1) == 1 {
				envelope(w, 500, "internal", "internal error")
				return
			}
			w.Write([]byte(`{"status":"ok"}`))
		}), Config{})
		if err := c.Health(context.Background()); err != nil || hits.Load() != 2 {
			t.Fatalf("err=%v hits=%d", err, hits.Load())
		}
	})
	t.Run("network_error_is_unavailable", func(t *testing.T) {
		c, err := New(Config{BaseURL: "http://127.0.0.1:1", Retries: -1})
		if err != nil {
			t.Fatal(err)
		}
		err = c.Health(context.Background())
		if !IsUnavailable(err) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("context_cancel_stops_backoff", func(t *testing.T) {
		c := newTest(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			envelope(w, 503, "unavailable", "down")
		}), Config{Backoff: func(int) time.Duration { return time.Hour }})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		if err := c.Health(ctx); err == nil || time.Since(start) > 5*time.Second {
			t.Fatalf("err=%v after %v", err, time.Since(start))
		}
	})
}

func TestNonEnvelopeError(t *testing.T) {
	c := newTest(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", "gw-9")
		http.Error(w, "<html>bad gateway</html>", http.StatusNotFound)
	}), Config{})
	_, err := c.ListResources(context.Background())
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeNotFound || e.RequestID != "gw-9" {
		t.Fatalf("err = %#v", err)
	}
}

func TestAllFollowsCursors(t *testing.T) {
	var cursors []string
	c := newTest(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cur := r.URL.Query().Get("cursor")
		cursors = append(cursors, cur)
		if r.URL.Query().Get("status") != "pending" || r.URL.Query().Get("resource") != "vsecure://secrets/a/b" {
			t.Errorf("query %v", r.URL.Query())
		}
		next := map[string]string{"": "c1", "c1": "c2", "c2": ""}[cur]
		fmt.Fprintf(w, `{"data":[{"approvalId":"appr_%s"}],"pagination":{"cursor":%q,"hasMore":%v}}`, cur, next, next != "")
	}), Config{})
	items, err := Collect(c.AllApprovals(context.Background(), api.ApprovalsQuery{Status: "pending", Resource: "vsecure://secrets/a/b"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 3 || items[2].ID != "appr_c2" || fmt.Sprint(cursors) != "[ c1 c2]" {
		t.Fatalf("items=%v cursors=%q", items, cursors)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{{BaseURL: "ftp://x"}, {BaseURL: "localhost:8080"}, {Key: "vsk_a b"}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}
