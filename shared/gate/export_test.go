package gate_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// TestAuditExport: an export widens its range to the digests covering
// its ends, and its pages, however small, hold every record of the range
// once, oldest first (many share a timestamp), then the digests; each page
// but the last ends in a cursor to the next. A page holds lines up to
// ExportPageBytes (the header and one line always), and each page's audit
// entry counts its records and digests.
func TestAuditExport(t *testing.T) {
	w := newWorld(t) // dozens of entries stamped start
	ctx := t.Context()
	for _, at := range []time.Duration{time.Second, 2 * time.Second, 70 * time.Second, 130 * time.Second} {
		w.clock.Set(start.Add(at))
		if _, err := w.read(w.as("admin"), stagingURI); err != nil {
			t.Fatal(err)
		}
	}
	var digests []time.Time
	for i := -1; i < 3; i++ {
		from := start.Add(time.Duration(i) * time.Minute)
		if err := w.st.Store.PutDigest(ctx, vsecure.Digest{Version: 1, From: from, To: from.Add(time.Minute), SealedAt: from.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		digests = append(digests, from)
	}
	// [start+30s, start+90s) widens to the digests [start, start+1m) and
	// [start+1m, start+2m).
	from, to := start.Add(30*time.Second), start.Add(90*time.Second)
	wantFrom, wantTo := start, start.Add(2*time.Minute)
	wantDigests := digests[1:3]
	var wantRecords []string
	err := w.st.Store.AuditRange(ctx, wantFrom, wantTo, func(r vsecure.AuditRecord) (bool, error) {
		wantRecords = append(wantRecords, r.Entry.ID)
		return true, nil
	})
	if err != nil || len(wantRecords) < 10 {
		t.Fatalf("%d records in range (%v)", len(wantRecords), err)
	}
	w.clock.Set(start.Add(time.Hour)) // the export's own entries fall outside the range
	admin := w.as("admin")

	// export pages through everything with page bytes limit; it returns
	// each page's lines.
	export := func(t *testing.T, g *gate.Gate) [][][]byte {
		t.Helper()
		var pages [][][]byte
		var records []string
		var dgs []time.Time
		seen := map[string]bool{}
		for _, e := range w.entries(vsecure.AuditExport) {
			seen[e.ID] = true
		}
		cursor := ""
		for len(pages) <= len(wantRecords)+len(wantDigests) {
			page, err := g.ExportAudit(ctx, admin, from, to, cursor)
			if err != nil {
				t.Fatalf("page %d: %v", len(pages)+1, err)
			}
			lines := bytes.Split(bytes.TrimSuffix(page, []byte("\n")), []byte("\n"))
			pages = append(pages, lines)
			cursor = ""
			for i, l := range lines {
				var line vsecure.ExportLine
				if err := json.Unmarshal(l, &line); err != nil {
					t.Fatalf("page %d line %d: %v", len(pages), i+1, err)
				}
				switch {
				case i == 0:
					if h := line.Export; h == nil || !h.From.Equal(wantFrom) || !h.To.Equal(wantTo) {
						t.Fatalf("page %d header %s, want the range [%s, %s)", len(pages), l, wantFrom, wantTo)
					}
				case line.Record != nil:
					if len(dgs) > 0 {
						t.Fatalf("page %d: a record after the digests", len(pages))
					}
					records = append(records, line.Record.Entry.ID)
				case line.Digest != nil:
					dgs = append(dgs, line.Digest.From)
				case line.Cursor != "" && i == len(lines)-1:
					cursor = line.Cursor
				default:
					t.Fatalf("page %d line %d: %s", len(pages), i+1, l)
				}
			}
			if cursor == "" {
				break
			}
		}
		if !slices.Equal(records, wantRecords) {
			t.Fatalf("exported records %q, want %q", records, wantRecords)
		}
		if len(dgs) != len(wantDigests) || !dgs[0].Equal(wantDigests[0]) || !dgs[1].Equal(wantDigests[1]) {
			t.Fatalf("exported digests from %v, want %v", dgs, wantDigests)
		}
		nr, nd, np := 0, 0, 0
		for _, e := range w.entries(vsecure.AuditExport) {
			if seen[e.ID] {
				continue
			}
			np++
			r, _ := strconv.Atoi(e.Metadata["records"])
			d, _ := strconv.Atoi(e.Metadata["digests"])
			nr, nd = nr+r, nd+d
		}
		if np != len(pages) || nr != len(wantRecords) || nd != len(wantDigests) {
			t.Fatalf("%d export entries for %d pages count %d records and %d digests, want %d and %d", np, len(pages), nr, nd, len(wantRecords), len(wantDigests))
		}
		return pages
	}
	limited := func(n int) *gate.Gate {
		return w.gateWith(func(c *gate.Config) { c.ExportPageBytes = n })
	}

	whole := export(t, w.g) // the default page size holds it all
	if len(whole) != 1 {
		t.Fatalf("the default page size took %d pages", len(whole))
	}
	lines := whole[0]
	for _, n := range []int{1, 700} {
		for i, p := range export(t, limited(n)) {
			size := 0
			for _, l := range p[:len(p)-1] {
				size += len(l) + 1
			}
			if len(p) > 3 && size > n || n == 1 && len(p) > 3 {
				t.Fatalf("limit %d: page %d holds %d lines, %d bytes before its cursor", n, i+1, len(p), size)
			}
		}
	}
	// A limit the header and two records fill exactly holds both; a byte
	// less holds one.
	exact := len(lines[0]) + len(lines[1]) + len(lines[2]) + 3
	if p := export(t, limited(exact))[0]; len(p) != 4 {
		t.Fatalf("a page of exactly %d bytes holds %d lines, want the header, 2 records and the cursor", exact, len(p))
	}
	if p := export(t, limited(exact-1))[0]; len(p) != 3 {
		t.Fatalf("a page of %d bytes holds %d lines, want the header, 1 record and the cursor", exact-1, len(p))
	}
}

// entries are the audit entries of op, newest first.
func (w *world) entries(op string) []vsecure.Entry {
	w.t.Helper()
	es, _, err := w.st.Store.QueryAudit(w.t.Context(), vsecure.AuditFilter{Operation: op}, "", 100)
	if err != nil {
		w.t.Fatal(err)
	}
	return es
}
