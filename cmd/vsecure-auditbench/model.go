package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// model is every entry that reached the audit table, newest first in the
// order the API pages in (timestamp, then id, descending).
type model struct {
	all  []vsecure.Entry
	sk   []string
	byID map[string]int
}

func sortKey(e vsecure.Entry) string {
	return e.Timestamp.UTC().Format("2006-01-02T15:04:05.000000000Z") + "#" + e.ID
}

func newModel(p *probe, written map[string]bool) (*model, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id := range written {
		if _, ok := p.entries[id]; !ok {
			return nil, fmt.Errorf("entry %s was written but no put of it was seen", id)
		}
	}
	m := &model{byID: map[string]int{}}
	for _, e := range p.entries {
		m.all = append(m.all, e)
	}
	slices.SortFunc(m.all, func(a, b vsecure.Entry) int { return strings.Compare(sortKey(b), sortKey(a)) })
	for i, e := range m.all {
		m.sk = append(m.sk, sortKey(e))
		m.byID[e.ID] = i
	}
	return m, nil
}

// match is vsecure.AuditFilter.Matches without parsing a URI per entry
// (a pattern covers the URIs below its prefix); answers are checked with
// Matches itself too.
func match(f vsecure.AuditFilter) func(e *vsecure.Entry) bool {
	prefix := ""
	if strings.HasSuffix(f.Resource, "/*") {
		prefix = strings.TrimSuffix(f.Resource, "*")
	}
	return func(e *vsecure.Entry) bool {
		switch {
		case f.Actor != "" && e.Actor != f.Actor,
			f.Operation != "" && e.Operation != f.Operation,
			f.Success != nil && e.Success != *f.Success,
			!f.From.IsZero() && e.Timestamp.Before(f.From),
			!f.To.IsZero() && e.Timestamp.After(f.To):
			return false
		case f.Resource == "" || e.Resource == f.Resource:
			return true
		}
		return prefix != "" && strings.HasPrefix(e.Resource, prefix) && e.Resource != prefix+"*"
	}
}

// want is every entry f selects, newest first.
func (m *model) want(f vsecure.AuditFilter) []int {
	ok := match(f)
	var out []int
	for i := range m.all {
		if ok(&m.all[i]) {
			out = append(out, i)
		}
	}
	return out
}

// check tells whether page, read after the entry with sort key after ("":
// the first page), is the next run of want: no entry skipped, none added,
// each as it was written, and no cursor after the last.
func (m *model) check(f vsecure.AuditFilter, want []int, after string, page []vsecure.Entry, more bool, limit int) error {
	start := 0
	if after != "" {
		start, _ = slices.BinarySearchFunc(want, after, func(i int, sk string) int { return strings.Compare(sk, m.sk[i]) })
		for start < len(want) && m.sk[want[start]] >= after {
			start++
		}
	}
	if len(page) > limit {
		return fmt.Errorf("page of %d entries for limit %d", len(page), limit)
	}
	for k, got := range page {
		if !f.Matches(&got) {
			return fmt.Errorf("entry %s does not match the filter", got.ID)
		}
		if start+k >= len(want) {
			return fmt.Errorf("entry %s at %d: the model has only %d entries", got.ID, start+k, len(want))
		}
		exp := m.all[want[start+k]]
		if got.ID != exp.ID {
			return fmt.Errorf("position %d: got %s (%s), want %s (%s)", start+k, got.ID, got.Timestamp.Format(time.RFC3339), exp.ID, exp.Timestamp.Format(time.RFC3339))
		}
		if !same(got, exp) {
			return fmt.Errorf("entry %s differs from what was written", got.ID)
		}
	}
	if !more && start+len(page) != len(want) {
		return fmt.Errorf("no cursor after %d of %d entries", start+len(page), len(want))
	}
	return nil
}

func same(a, b vsecure.Entry) bool {
	if a.ID != b.ID || !a.Timestamp.Equal(b.Timestamp) || a.Resource != b.Resource || a.Operation != b.Operation ||
		a.Actor != b.Actor || a.Success != b.Success || a.Error != b.Error || a.ApprovalID != b.ApprovalID || len(a.Metadata) != len(b.Metadata) {
		return false
	}
	for k, v := range a.Metadata {
		if b.Metadata[k] != v {
			return false
		}
	}
	return true
}
