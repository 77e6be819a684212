package gate_test

import (
	"slices"
	"testing"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// TestPagination: every listing pages through all of its items exactly
// once; hasMore and the cursor say whether a page follows, and the last
// page says none does.
func TestPagination(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	for range 3 {
		w.pending(dbURI)
	}
	admin := w.as("admin")
	lists := map[string]func(cursor string, limit int) ([]string, api.Pagination, error){
		"approvals": func(cursor string, limit int) ([]string, api.Pagination, error) {
			items, p, err := w.g.ListApprovals(ctx, admin, gate.ApprovalQuery{Cursor: cursor, Limit: limit})
			var ids []string
			for _, a := range items {
				ids = append(ids, a.ID)
			}
			return ids, p, err
		},
		"audit": func(cursor string, limit int) ([]string, api.Pagination, error) {
			items, p, err := w.g.QueryAudit(ctx, admin, gate.AuditQuery{Filter: vsecure.AuditFilter{Operation: vsecure.AuditKeyCreate}, Cursor: cursor, Limit: limit})
			var ids []string
			for _, e := range items {
				ids = append(ids, e.ID)
			}
			return ids, p, err
		},
		"keys": func(cursor string, limit int) ([]string, api.Pagination, error) {
			items, p, err := w.g.ListKeys(ctx, admin, cursor, limit)
			var ids []string
			for _, k := range items {
				ids = append(ids, k.ID)
			}
			return ids, p, err
		},
		"secrets": func(cursor string, limit int) ([]string, api.Pagination, error) {
			items, p, err := w.g.ListSecrets(ctx, admin, nil, cursor, limit)
			var ids []string
			for _, s := range items {
				ids = append(ids, s.URI)
			}
			return ids, p, err
		},
	}
	for name, list := range lists {
		t.Run(name, func(t *testing.T) {
			all, p, err := list("", api.MaxLimit)
			if err != nil || p.HasMore || p.Cursor != "" || len(all) < 3 {
				t.Fatalf("whole listing: %d items, %+v, %v", len(all), p, err)
			}
			var paged []string
			cursor := ""
			for page := 1; ; page++ {
				ids, p, err := list(cursor, 2)
				if err != nil {
					t.Fatalf("page %d: %v", page, err)
				}
				paged = append(paged, ids...)
				last := len(paged) == len(all)
				if p.HasMore == last || (p.Cursor == "") != last {
					t.Fatalf("page %d (%d of %d items): %+v", page, len(paged), len(all), p)
				}
				if last || page > len(all) {
					break
				}
				cursor = p.Cursor
			}
			slices.Sort(all)
			slices.Sort(paged)
			if !slices.Equal(all, paged) {
				t.Fatalf("pages hold %q, want %q", paged, all)
			}
		})
	}
}
