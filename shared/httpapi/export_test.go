package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/client"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// TestAuditExportPages exports a log too big for one page, many entries
// sharing one timestamp, and checks that following the cursors yields
// every record of the range exactly once, in the store's order, with one
// header; that each page is audited; and that agents may not export.
func TestAuditExportPages(t *testing.T) {
	e := newEnv(t, func(c *gate.Config) { c.ExportPageBytes = 2000 })
	for range 25 {
		e.must(e.do("GET", "/v1/security/whoami", e.admin, nil), 200)
	}
	e.clock.Advance(time.Second) // the export's own entries fall after its range
	var want []string
	err := e.store.AuditRange(t.Context(), time.Time{}, e.clock.Now(), func(r vsecure.AuditRecord) (bool, error) {
		want = append(want, r.Key)
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Config{BaseURL: e.srv.URL, Key: e.admin})
	if err != nil {
		t.Fatal(err)
	}
	var file bytes.Buffer
	if err := c.ExportAudit(t.Context(), "", "", &file); err != nil {
		t.Fatal(err)
	}
	var got []string
	headers := 0
	for _, l := range strings.Split(strings.TrimSpace(file.String()), "\n") {
		var el vsecure.ExportLine
		if err := json.Unmarshal([]byte(l), &el); err != nil {
			t.Fatal(err)
		}
		switch {
		case el.Export != nil:
			headers++
		case el.Record != nil:
			got = append(got, el.Record.Key)
		case el.Cursor != "":
			t.Fatalf("a cursor line in the file: %s", l)
		}
	}
	if headers != 1 || strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("%d headers; records\n%v\nwant\n%v", headers, got, want)
	}
	pages := 0
	err = e.store.AuditRange(t.Context(), e.clock.Now(), e.clock.Now().Add(time.Second), func(r vsecure.AuditRecord) (bool, error) {
		if r.Entry.Operation == vsecure.AuditExport && r.Entry.Success {
			pages++
		}
		return true, nil
	})
	if err != nil || pages < 3 {
		t.Fatalf("%d audited export pages (%v), want several", pages, err)
	}

	agent := e.key("agent-9", "agent")
	r := e.do("GET", "/v1/security/mcp/audit/export", agent, nil)
	e.wantErr(r, http.StatusForbidden, "forbidden")
	r = e.do("GET", "/v1/security/mcp/audit/export?cursor=bm9wZQ.bm9wZQ", e.admin, nil)
	e.wantErr(r, http.StatusBadRequest, "invalid_request")
}
