package gate_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vsecure/vsecure/internal/testclock"
	"github.com/vsecure/vsecure/shared/crypto/local"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/store/storetest/stores"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// breakable fails audit appends while broken is set.
type breakable struct {
	vsecure.Store
	broken atomic.Bool
}

func (b *breakable) AppendAudit(ctx context.Context, e vsecure.Entry) error {
	if b.broken.Load() {
		return vsecure.Wrap(vsecure.EUnavailable, io.ErrUnexpectedEOF, "store unavailable")
	}
	return b.Store.AppendAudit(ctx, e)
}

type fixture struct {
	t     *testing.T
	gate  *gate.Gate
	store *breakable
	clock *testclock.Clock
}

func newFixture(t *testing.T, st vsecure.Store, opts ...func(*gate.Config)) *fixture {
	t.Helper()
	sealer, err := local.Load("", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	clk := testclock.New(time.Date(2024, 3, 15, 10, 30, 0, 0, time.UTC))
	b := &breakable{Store: st}
	cfg := gate.Config{Store: b, Sealer: sealer, CursorKey: bytes.Repeat([]byte("k"), 32), Now: clk.Now}
	for _, o := range opts {
		o(&cfg)
	}
	g, err := gate.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, gate: g, store: b, clock: clk}
}

// badKey is refused as unauthenticated (no such key).
const badKey = "vsk_no-such-key-000000000000000000000000000000"

func (f *fixture) authenticate(ip, cred string) error {
	f.t.Helper()
	_, err := f.gate.Authenticate(f.t.Context(), cred, gate.Call{IP: ip, UserAgent: "flood/1", RequestID: "req_" + strconv.Itoa(int(f.clock.Now().UnixNano()))})
	return err
}

// entries returns the audit entries of op, oldest first.
func (f *fixture) entries(op string) []vsecure.Entry {
	f.t.Helper()
	var out []vsecure.Entry
	cursor := ""
	for {
		page, next, err := f.store.Store.QueryAudit(f.t.Context(), vsecure.AuditFilter{Operation: op}, cursor, 100)
		if err != nil {
			f.t.Fatal(err)
		}
		out = append(out, page...)
		if next == "" {
			break
		}
		cursor = next
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// count is how many refusals an entry stands for.
func count(t *testing.T, e vsecure.Entry) int {
	t.Helper()
	s, ok := e.Metadata["count"]
	if !ok {
		return 1
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("entry %s: count %q", e.ID, s)
	}
	return n
}

// totals sums the counts per source address.
func totals(t *testing.T, es []vsecure.Entry) map[string]int {
	out := map[string]int{}
	for _, e := range es {
		out[e.Metadata["ipAddress"]] += count(t, e)
	}
	return out
}

func TestUnauthenticatedRefusalsAggregate(t *testing.T) {
	stores.Both(t, func(t *testing.T, open stores.Opener) {
		t.Run("flood_of_bad_keys_is_one_entry_and_one_summary", func(t *testing.T) {
			f := newFixture(t, open(t))
			start := f.clock.Now()
			for i := range 300 {
				if err := f.authenticate("203.0.113.7", badKey); !vsecure.IsCode(err, vsecure.EUnauthenticated) {
					t.Fatalf("refusal %d: %v", i, err)
				}
				f.clock.Advance(10 * time.Millisecond) // 3 s in all: one window
			}
			es := f.entries(vsecure.AuditAuthenticate)
			if len(es) != 1 || count(t, es[0]) != 1 || es[0].Metadata["requestId"] == "" {
				t.Fatalf("while the window is open: %d entries, want the first one alone: %+v", len(es), es)
			}
			f.clock.Advance(gate.DefaultRefusalWindow)
			if err := f.gate.FlushRefusals(t.Context()); err != nil {
				t.Fatal(err)
			}
			es = f.entries(vsecure.AuditAuthenticate)
			if len(es) != 2 {
				t.Fatalf("%d entries, want the first and one summary: %+v", len(es), es)
			}
			s := es[1]
			if count(t, s) != 299 || s.Success || s.Error != string(vsecure.EUnauthenticated) || s.Actor != vsecure.Anonymous ||
				s.Metadata["ipAddress"] != "203.0.113.7" {
				t.Fatalf("summary = %+v", s)
			}
			if want := start.Add(10 * time.Millisecond).Format(time.RFC3339); s.Metadata["firstAt"] != want {
				t.Fatalf("firstAt = %q, want %q", s.Metadata["firstAt"], want)
			}
			if want := start.Add(2990 * time.Millisecond).Format(time.RFC3339); s.Metadata["lastAt"] != want {
				t.Fatalf("lastAt = %q, want %q", s.Metadata["lastAt"], want)
			}
			if s.Timestamp.Before(f.clock.Now().Truncate(time.Second)) {
				t.Fatalf("summary stamped %v, in the past of its writing (%v): it could land in a sealed window", s.Timestamp, f.clock.Now())
			}
			if totals(t, es)["203.0.113.7"] != 300 {
				t.Fatalf("totals = %v, want 300", totals(t, es))
			}
			// Nothing left to flush.
			if err := f.gate.CloseRefusals(t.Context()); err != nil {
				t.Fatal(err)
			}
			if n := len(f.entries(vsecure.AuditAuthenticate)); n != 2 {
				t.Fatalf("%d entries after close, want 2", n)
			}
		})
		t.Run("sources_and_reasons_are_separate", func(t *testing.T) {
			f := newFixture(t, open(t))
			for range 5 {
				f.authenticate("198.51.100.1", badKey)
				f.authenticate("198.51.100.2", badKey)
				f.authenticate("198.51.100.1", "") // missing credential: the same reason, unauthenticated
				f.gate.RecordRefusal(t.Context(), gate.Call{IP: "198.51.100.1"}, vsecure.AuditAuthenticate, "",
					vsecure.RateLimited(time.Second, "too many requests"))
				f.gate.RecordSlack(t.Context(), gate.Call{IP: "198.51.100.1"}, "",
					vsecure.Errorf(vsecure.EUnauthenticated, "the request is not a valid signed Slack request"))
			}
			if err := f.gate.CloseRefusals(t.Context()); err != nil {
				t.Fatal(err)
			}
			type reason struct{ ip, op, code string }
			got := map[reason][]int{}
			for _, op := range []string{vsecure.AuditAuthenticate, vsecure.AuditSlack} {
				for _, e := range f.entries(op) {
					k := reason{e.Metadata["ipAddress"], e.Operation, e.Error}
					got[k] = append(got[k], count(t, e))
				}
			}
			want := map[reason][]int{
				{"198.51.100.1", vsecure.AuditAuthenticate, string(vsecure.EUnauthenticated)}: {1, 9},
				{"198.51.100.2", vsecure.AuditAuthenticate, string(vsecure.EUnauthenticated)}: {1, 4},
				{"198.51.100.1", vsecure.AuditAuthenticate, string(vsecure.ERateLimited)}:     {1, 4},
				{"198.51.100.1", vsecure.AuditSlack, string(vsecure.EUnauthenticated)}:        {1, 4},
			}
			for _, c := range got {
				slices.Sort(c) // a summary and a first entry may share a timestamp
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("entries per source and reason:\n got %v\nwant %v", got, want)
			}
		})
		t.Run("authenticated_and_detailed_refusals_are_one_entry_each", func(t *testing.T) {
			f := newFixture(t, open(t))
			agent := vsecure.Principal{ID: "agent-1", Roles: []vsecure.Role{vsecure.RoleAgent}}
			for range 4 {
				f.gate.RecordRefusal(t.Context(), gate.Call{IP: "192.0.2.1", Principal: agent}, vsecure.AuditAuthenticate, "",
					vsecure.RateLimited(time.Second, "too many requests"))
				// A signed press by an unmapped Slack user: its metadata
				// says who, which an aggregate would lose.
				f.gate.RecordSlack(t.Context(), gate.Call{IP: "192.0.2.1", Metadata: map[string]string{"slackUserId": "U1"}}, "appr_1",
					vsecure.Errorf(vsecure.EUnauthenticated, "this Slack user is not mapped"))
			}
			if es := f.entries(vsecure.AuditAuthenticate); len(es) != 4 {
				t.Fatalf("%d authenticated refusals, want 4", len(es))
			}
			if es := f.entries(vsecure.AuditSlack); len(es) != 4 {
				t.Fatalf("%d detailed Slack refusals, want 4", len(es))
			}
		})
		t.Run("next_refusal_after_the_window_writes_the_summary", func(t *testing.T) {
			f := newFixture(t, open(t), func(c *gate.Config) { c.RefusalWindow = time.Minute })
			for range 3 {
				f.authenticate("192.0.2.9", badKey)
			}
			f.clock.Advance(time.Minute)
			f.authenticate("192.0.2.9", badKey) // closes the window, opens the next
			// The summary and the new window's first entry share a
			// timestamp, so only the set of counts is ordered.
			var got []int
			for _, e := range f.entries(vsecure.AuditAuthenticate) {
				got = append(got, count(t, e))
			}
			slices.Sort(got)
			if fmt.Sprint(got) != "[1 1 2]" {
				t.Fatalf("counts = %v, want the first, a summary of 2 and the next window's first", got)
			}
		})
		t.Run("first_write_failing_answers_audit_unavailable_and_opens_no_window", func(t *testing.T) {
			f := newFixture(t, open(t))
			f.store.broken.Store(true)
			if err := f.authenticate("192.0.2.20", badKey); !vsecure.IsCode(err, vsecure.EAuditUnavailable) {
				t.Fatalf("err = %v, want audit_unavailable", err)
			}
			f.store.broken.Store(false)
			if err := f.authenticate("192.0.2.20", badKey); !vsecure.IsCode(err, vsecure.EUnauthenticated) {
				t.Fatalf("err = %v", err)
			}
			if es := f.entries(vsecure.AuditAuthenticate); len(es) != 1 || count(t, es[0]) != 1 {
				t.Fatalf("entries = %+v, want the second refusal written at once", es)
			}
		})
		t.Run("summary_that_cannot_be_written_is_kept_for_the_next_try", func(t *testing.T) {
			f := newFixture(t, open(t))
			for range 5 {
				f.authenticate("192.0.2.30", badKey)
			}
			f.clock.Advance(gate.DefaultRefusalWindow)
			f.store.broken.Store(true)
			if err := f.gate.FlushRefusals(t.Context()); err == nil {
				t.Fatal("flush reported no error with the store down")
			}
			f.store.broken.Store(false)
			if err := f.gate.CloseRefusals(t.Context()); err != nil {
				t.Fatal(err)
			}
			if got := totals(t, f.entries(vsecure.AuditAuthenticate))["192.0.2.30"]; got != 5 {
				t.Fatalf("total = %d, want 5", got)
			}
		})
		t.Run("full_table_writes_new_sources_one_by_one", func(t *testing.T) {
			f := newFixture(t, open(t), func(c *gate.Config) { c.RefusalWindows = 1 })
			for range 3 {
				f.authenticate("192.0.2.40", badKey)
				f.authenticate("192.0.2.41", badKey)
			}
			if err := f.gate.CloseRefusals(t.Context()); err != nil {
				t.Fatal(err)
			}
			n := map[string]int{}
			for _, e := range f.entries(vsecure.AuditAuthenticate) {
				n[e.Metadata["ipAddress"]]++
			}
			if n["192.0.2.40"] != 2 || n["192.0.2.41"] != 3 {
				t.Fatalf("entries per source = %v, want 2 (first + summary) and 3 (one each)", n)
			}
		})
	})
}

// TestRefusalAggregationConcurrent floods from several sources at once
// while the clock moves and flushes run: under -race, and with every
// refusal accounted for exactly once.
func TestRefusalAggregationConcurrent(t *testing.T) {
	stores.Both(t, func(t *testing.T, open stores.Opener) {
		f := newFixture(t, open(t), func(c *gate.Config) { c.RefusalWindow = time.Second })
		const sources, workers, each = 3, 8, 100
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					ip := "10.0.0." + strconv.Itoa((w+i)%sources)
					err := f.authenticate(ip, badKey)
					if !vsecure.IsCode(err, vsecure.EUnauthenticated) {
						t.Errorf("refusal: %v", err)
						return
					}
				}
			})
		}
		// The clock moves a whole window at a time, a few times, while the
		// flood runs, and flushes race with the refusals.
		const moves = 5
		var bg sync.WaitGroup
		bg.Go(func() {
			for range moves {
				runtime.Gosched()
				f.clock.Advance(time.Second)
				if err := f.gate.FlushRefusals(t.Context()); err != nil {
					t.Errorf("flush: %v", err)
				}
			}
		})
		bg.Go(func() {
			for range 50 {
				if err := f.gate.FlushRefusals(t.Context()); err != nil {
					t.Errorf("flush: %v", err)
				}
			}
		})
		wg.Wait()
		bg.Wait()
		if err := f.gate.CloseRefusals(t.Context()); err != nil {
			t.Fatal(err)
		}
		es := f.entries(vsecure.AuditAuthenticate)
		got, sum := totals(t, es), 0
		for _, n := range got {
			sum += n
		}
		if sum != workers*each || len(got) != sources {
			t.Fatalf("totals %v (sum %d), want %d over %d sources", got, sum, workers*each, sources)
		}
		// Per source, each clock position opens at most one window, whose
		// first refusals (at most one per worker, racing to open it) are
		// written, and one summary.
		if max := sources * (moves + 1) * (workers + 1); len(es) > max {
			t.Fatalf("%d entries for %d refusals, want at most %d", len(es), workers*each, max)
		}
	})
}

// TestRefusalWindowsCloseOnTime: each source's window is summarised by
// the first flush after it closes, whichever source opened first, except
// that a flush looks again no sooner than a tenth of a window after the
// last one that took windows; a window holding only its first (written)
// refusal leaves no summary.
func TestRefusalWindowsCloseOnTime(t *testing.T) {
	stores.Both(t, func(t *testing.T, open stores.Opener) {
		f := newFixture(t, open(t))
		ctx := t.Context()
		const a, b, c, d = "198.51.100.10", "198.51.100.11", "198.51.100.12", "198.51.100.13"
		per := func() map[string]int {
			n := map[string]int{} // every entry of the log, by source
			es, _, err := f.store.Store.QueryAudit(ctx, vsecure.AuditFilter{}, "", 100)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range es {
				n[e.Metadata["ipAddress"]]++
			}
			return n
		}
		t0 := f.clock.Now()
		flushAt := func(at time.Duration, want map[string]int) {
			t.Helper()
			f.clock.Set(t0.Add(at))
			if err := f.gate.FlushRefusals(ctx); err != nil {
				t.Fatal(err)
			}
			if got := per(); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("entries per source at +%s: %v, want %v", at, got, want)
			}
		}
		f.authenticate(a, badKey)
		f.authenticate(a, badKey)
		f.authenticate(c, badKey) // alone in its window
		f.clock.Advance(time.Millisecond)
		f.authenticate(b, badKey)
		f.authenticate(b, badKey)
		w := gate.DefaultRefusalWindow
		f.clock.Set(t0.Add(w / 2)) // d's window closes last: the next flush is b's, the earliest left
		f.authenticate(d, badKey)
		f.authenticate(d, badKey)
		flushAt(w-time.Millisecond, map[string]int{a: 1, b: 1, c: 1, d: 1})
		flushAt(w, map[string]int{a: 2, b: 1, c: 1, d: 1})                    // a's window closed, b's not yet
		flushAt(w+2*time.Millisecond, map[string]int{a: 2, b: 1, c: 1, d: 1}) // b's closed, but within a tenth of a window
		flushAt(w+w/10, map[string]int{a: 2, b: 2, c: 1, d: 1})
		flushAt(w+w/2-time.Millisecond, map[string]int{a: 2, b: 2, c: 1, d: 1})
		flushAt(w+w/2, map[string]int{a: 2, b: 2, c: 1, d: 2})
		if err := f.gate.CloseRefusals(ctx); err != nil {
			t.Fatal(err)
		}
		if got := per(); fmt.Sprint(got) != fmt.Sprint(map[string]int{a: 2, b: 2, c: 1, d: 2}) {
			t.Fatalf("entries per source after close: %v", got)
		}
	})
}

// summaryFails fails the first refusal summary it is asked to append,
// after running during: what happens between the flush taking a window and
// putting it back.
type summaryFails struct {
	vsecure.Store
	armed  atomic.Bool
	during func()
}

func (s *summaryFails) AppendAudit(ctx context.Context, e vsecure.Entry) error {
	if _, summary := e.Metadata["count"]; summary && s.armed.CompareAndSwap(true, false) {
		s.during()
		return vsecure.Wrap(vsecure.EUnavailable, io.ErrUnexpectedEOF, "store unavailable")
	}
	return s.Store.AppendAudit(ctx, e)
}

// TestUnwrittenSummaryMergesIntoANewWindow: a summary that cannot be
// written goes back; when the source has opened a new window meanwhile
// (its refusal written, and maybe more counted), the counts merge into it
// and the one summary spans the earliest and the latest refusal of both.
func TestUnwrittenSummaryMergesIntoANewWindow(t *testing.T) {
	const ip = "198.51.100.20"
	for _, tc := range []struct {
		name             string
		countedMeanwhile int
		count            string
		first, last      time.Duration // after the window's first refusal
	}{
		{"new_window_counted_nothing", 0, "2", time.Second, 2 * time.Second},
		{"new_window_counted_one", 1, "3", time.Second, 13 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stores.Both(t, func(t *testing.T, open stores.Opener) {
				s := &summaryFails{Store: open(t)}
				f := newFixture(t, s)
				t0 := f.clock.Now()
				w := gate.DefaultRefusalWindow
				f.authenticate(ip, badKey) // written; the window opens
				f.clock.Set(t0.Add(time.Second))
				f.authenticate(ip, badKey) // counted
				f.clock.Set(t0.Add(2 * time.Second))
				f.authenticate(ip, badKey) // counted
				s.during = func() {
					f.authenticate(ip, badKey) // written: a new window
					for range tc.countedMeanwhile {
						f.clock.Set(t0.Add(13 * time.Second))
						f.authenticate(ip, badKey)
					}
				}
				s.armed.Store(true)
				f.clock.Set(t0.Add(w))
				if err := f.gate.FlushRefusals(t.Context()); err == nil {
					t.Fatal("a summary that could not be written flushed without an error")
				}
				f.clock.Set(t0.Add(2*w + 5*time.Second))
				if err := f.gate.FlushRefusals(t.Context()); err != nil {
					t.Fatal(err)
				}
				var summaries []map[string]string
				for _, e := range f.entries(vsecure.AuditAuthenticate) {
					if _, ok := e.Metadata["count"]; ok {
						summaries = append(summaries, e.Metadata)
					}
				}
				at := func(d time.Duration) string { return t0.Add(d).UTC().Format(time.RFC3339) }
				if len(summaries) != 1 || summaries[0]["count"] != tc.count || summaries[0]["firstAt"] != at(tc.first) || summaries[0]["lastAt"] != at(tc.last) {
					t.Fatalf("summaries %v, want one of count %s from %s to %s", summaries, tc.count, at(tc.first), at(tc.last))
				}
			})
		})
	}
}
