package main

import (
	"context"
	"time"

	"github.com/vsecure/vsecure/shared/store/dynamo"
)

// This file is what depends on the store's audit layout. On the sharded
// layout an indexer writes the filter index after the entries; the seeded
// entries are dated in the past, so the put budget (an entry's put must
// finish within 5 s of its timestamp) is lifted for the seeding, and the
// indexer runs only once every writer has finished, with no settle and no
// skip rule, until it has caught up.

// clock dates the seeded entries.
type clock struct{ start time.Time }

func newClock(c config) *clock {
	return &clock{start: time.Now().UTC().Truncate(time.Second).Add(-c.span - 2*time.Minute)}
}

func storeOptions(*clock) []dynamo.Option {
	return []dynamo.Option{dynamo.WithAuditPutBudget(0), dynamo.WithIndexTiming(0, 1, 0)}
}

// indexResult is what running the indexer to completion did.
type indexResult struct {
	present                   bool // the layout has an indexer
	passes, entries, segments int
	took                      time.Duration
}

func indexAll(ctx context.Context, s *dynamo.Store, _ *clock, logf func(string, ...any)) (indexResult, error) {
	r := indexResult{present: true}
	t0 := time.Now()
	for {
		st, err := s.IndexAudit(ctx, time.Now())
		if err != nil {
			return r, err
		}
		if st.Entries == 0 {
			break
		}
		r.passes++
		r.entries += st.Entries
		r.segments += st.Segments
		if r.passes%50 == 0 {
			logf("indexer: %d passes, %d entries, through %s", r.passes, r.entries, st.Through.Format(time.RFC3339))
		}
	}
	r.took = time.Since(t0)
	logf("indexer: caught up after %d passes, %d entries, %d segments in %s", r.passes, r.entries, r.segments, r.took.Round(time.Millisecond))
	return r, nil
}
