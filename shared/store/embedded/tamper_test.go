package embedded

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/vsecure/vsecure/shared/crypto/local"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/httpapi"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// TestTamperedStoreFailsLoudly edits sealed values directly in the bbolt
// file (as someone with access to it could) and reads them through the
// HTTP API: every flipped byte of ciphertext, GCM tag, nonce or wrapped
// data key, and every value moved to another URI or version, must give
// 500 internal with no detail and an audited failure, never a value.
func TestTamperedStoreFailsLoudly(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(filepath.Join(dir, "vsecure.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sealer, err := local.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	g, err := gate.New(gate.Config{Store: st, Sealer: sealer, CursorKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	const admin = "vsk_tamper-admin-0123456789abcdefghijklmnopqrstuvwxyz"
	if err := g.EnsureKey(t.Context(), admin, "admin", []vsecure.Role{vsecure.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	api := &httpapi.API{Gate: g, Auth: httpapi.HeaderAuth{Gate: g}, Log: slogTo(logs)}
	srv := httptest.NewServer(api.OwnHandler())
	t.Cleanup(srv.Close)

	do := func(method, path string, body any) (int, []byte) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, srv.URL+path, rd)
		req.Header.Set("Authorization", "Bearer "+admin)
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		return res.StatusCode, raw
	}
	const (
		uriA = "vsecure://secrets/production/ALPHA"
		uriB = "vsecure://secrets/production/BRAVO"
	)
	values := map[string]string{uriA + "#1": "alpha-value-one", uriA + "#2": "alpha-value-two", uriB + "#1": "bravo-value-one"}
	for _, w := range []struct{ uri, v string }{{uriA, values[uriA+"#1"]}, {uriA, values[uriA+"#2"]}, {uriB, values[uriB+"#1"]}} {
		if code, raw := do("PUT", "/v1/security/mcp/resources/"+url.PathEscape(w.uri), map[string]any{"value": w.v}); code != 200 {
			t.Fatalf("put: %d %s", code, raw)
		}
	}

	raw := func(uri string, v int) []byte {
		var out []byte
		if err := st.db.View(func(tx *bolt.Tx) error {
			out = append([]byte(nil), tx.Bucket(bucketVersions).Get([]byte(versionKey(uri, v)))...)
			return nil
		}); err != nil || out == nil {
			t.Fatalf("read %s v%d: %v", uri, v, err)
		}
		return out
	}
	write := func(uri string, v int, data []byte) {
		if err := st.db.Update(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketVersions).Put([]byte(versionKey(uri, v)), data)
		}); err != nil {
			t.Fatal(err)
		}
	}
	edit := func(uri string, v int, fn func(*vsecure.SecretVersion)) (restore func()) {
		orig := raw(uri, v)
		var sv vsecure.SecretVersion
		if err := json.Unmarshal(orig, &sv); err != nil {
			t.Fatal(err)
		}
		fn(&sv)
		b, _ := json.Marshal(sv)
		write(uri, v, b)
		return func() { write(uri, v, orig) }
	}
	failures := 0
	// mustFail reads uri (version 0 = latest) and wants the loud failure.
	mustFail := func(what, uri string, version int) {
		t.Helper()
		path := "/v1/security/mcp/resources/" + url.PathEscape(uri)
		if version > 0 {
			path += fmt.Sprintf("?version=%d", version)
		}
		code, body := do("GET", path, nil)
		var env struct {
			Error struct{ Code, Message string }
		}
		_ = json.Unmarshal(body, &env)
		if code != 500 || env.Error.Code != "internal" || env.Error.Message != "internal error" {
			t.Fatalf("%s: got %d %s, want 500 internal", what, code, body)
		}
		for _, v := range values {
			if bytes.Contains(body, []byte(v)) {
				t.Fatalf("%s: a value reached the caller: %s", what, body)
			}
		}
		failures++
	}
	flip := func(b []byte, i int) []byte {
		c := append([]byte(nil), b...)
		c[i] ^= 0x01
		return c
	}

	var sv vsecure.SecretVersion
	_ = json.Unmarshal(raw(uriA, 2), &sv)
	fields := []struct {
		name string
		n    int
		set  func(*vsecure.SecretVersion, int)
	}{
		{"ciphertext", len(sv.Sealed.Ciphertext) - 16, func(s *vsecure.SecretVersion, i int) { s.Sealed.Ciphertext = flip(s.Sealed.Ciphertext, i) }},
		{"tag", 16, func(s *vsecure.SecretVersion, i int) {
			s.Sealed.Ciphertext = flip(s.Sealed.Ciphertext, len(s.Sealed.Ciphertext)-16+i)
		}},
		{"nonce", len(sv.Sealed.Nonce), func(s *vsecure.SecretVersion, i int) { s.Sealed.Nonce = flip(s.Sealed.Nonce, i) }},
		{"wrapped data key", len(sv.Sealed.WrappedKey), func(s *vsecure.SecretVersion, i int) { s.Sealed.WrappedKey = flip(s.Sealed.WrappedKey, i) }},
	}
	for _, f := range fields {
		for i := range f.n {
			restore := edit(uriA, 2, func(s *vsecure.SecretVersion) { f.set(s, i) })
			mustFail(fmt.Sprintf("%s byte %d flipped (latest)", f.name, i), uriA, 0)
			mustFail(fmt.Sprintf("%s byte %d flipped (version 2)", f.name, i), uriA, 2)
			restore()
		}
	}
	for _, c := range []struct {
		name string
		fn   func(*vsecure.SecretVersion)
	}{
		{"truncated ciphertext", func(s *vsecure.SecretVersion) { s.Sealed.Ciphertext = s.Sealed.Ciphertext[:len(s.Sealed.Ciphertext)-1] }},
		{"empty ciphertext", func(s *vsecure.SecretVersion) { s.Sealed.Ciphertext = nil }},
		{"other key id", func(s *vsecure.SecretVersion) { s.Sealed.KeyID = "local:000000000000" }},
		{"ciphertext of version 1", func(s *vsecure.SecretVersion) {
			var v1 vsecure.SecretVersion
			_ = json.Unmarshal(raw(uriA, 1), &v1)
			s.Sealed = v1.Sealed
		}},
	} {
		restore := edit(uriA, 2, c.fn)
		mustFail(c.name, uriA, 0)
		restore()
	}

	// Moves: a whole record copied to another version or URI, verbatim
	// or relabelled for its new place.
	move := func(name, fromURI string, fromV int, toURI string, toV int, relabel bool, readVersion int) {
		t.Helper()
		orig := raw(toURI, toV)
		data := raw(fromURI, fromV)
		if relabel {
			var m vsecure.SecretVersion
			_ = json.Unmarshal(data, &m)
			m.URI, m.Version = toURI, toV
			data, _ = json.Marshal(m)
		}
		write(toURI, toV, data)
		mustFail(name, toURI, readVersion)
		write(toURI, toV, orig)
	}
	move("v1 moved verbatim over v2 (latest: a rollback)", uriA, 1, uriA, 2, false, 0)
	move("v1 moved verbatim over v2 (version 2)", uriA, 1, uriA, 2, false, 2)
	move("v1 relabelled as v2 (latest)", uriA, 1, uriA, 2, true, 0)
	move("v2 relabelled as v1", uriA, 2, uriA, 1, true, 1)
	move("ALPHA v1 moved verbatim to BRAVO", uriA, 1, uriB, 1, false, 0)
	move("ALPHA v1 relabelled as BRAVO v1", uriA, 1, uriB, 1, true, 0)
	move("BRAVO v1 relabelled as ALPHA v1", uriB, 1, uriA, 1, true, 1)

	// Every failure is audited as a failed read, and the untouched store
	// still reads correctly.
	var refused int
	err = st.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAudit).ForEach(func(_, v []byte) error {
			var e vsecure.Entry
			_ = json.Unmarshal(v, &e)
			if e.Operation == vsecure.AuditRead && !e.Success && e.Error == "internal" {
				refused++
			}
			for _, val := range values {
				if strings.Contains(string(v), val) {
					t.Fatalf("audit entry holds a value: %s", v)
				}
			}
			return nil
		})
	})
	if err != nil || refused != failures {
		t.Fatalf("%d failed reads audited, want %d (%v)", refused, failures, err)
	}
	for k, want := range values {
		uri, v, _ := strings.Cut(k, "#")
		code, body := do("GET", "/v1/security/mcp/resources/"+url.PathEscape(uri)+"?version="+v, nil)
		if code != 200 || !bytes.Contains(body, []byte(`"value":"`+want+`"`)) {
			t.Fatalf("restored %s: %d %s", k, code, body)
		}
	}
	for _, val := range values {
		if bytes.Contains(logs.Bytes(), []byte(val)) {
			t.Fatal("a secret value reached the logs")
		}
	}
	t.Logf("%d tampered reads, all 500 internal and audited", failures)
}

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewJSONHandler(w, nil)) }
