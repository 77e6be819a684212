package main

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/vsecure/vsecure/shared/auditlog"
	"github.com/vsecure/vsecure/shared/store/dynamo"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// A filter kind draws the filters of its queries.
type filterKind struct {
	name string
	// common filters are held to reading at most twice what they return.
	common bool
	draw   func(r *mrand.Rand) vsecure.AuditFilter
}

func kinds(w *world, m *model) []filterKind {
	oldest, newest := m.all[len(m.all)-1].Timestamp, m.all[0].Timestamp
	span := newest.Sub(oldest)
	pick := func(r *mrand.Rand, l []string) string { return l[r.IntN(len(l))] }
	window := func(r *mrand.Rand, minD, maxD time.Duration) (time.Time, time.Time) {
		d := minD + time.Duration(r.Int64N(int64(maxD-minD)))
		from := oldest.Add(time.Duration(r.Int64N(int64(max(span-d, time.Second)))))
		return from, from.Add(d)
	}
	f := false
	ops := []string{vsecure.AuditRead, vsecure.AuditWrite, vsecure.AuditRequestApproval, vsecure.AuditApprove, vsecure.AuditDeny,
		vsecure.AuditListSecrets, vsecure.AuditGetApproval, vsecure.AuditGetResource, vsecure.AuditKeyCreate, vsecure.AuditConfigure,
		vsecure.AuditQuery, vsecure.AuditAuthenticate, auditlog.OpEpoch}
	return []filterKind{
		{"time range", true, func(r *mrand.Rand) vsecure.AuditFilter {
			from, to := window(r, 5*time.Minute, 2*time.Hour)
			return vsecure.AuditFilter{From: from, To: to}
		}},
		{"actor", true, func(r *mrand.Rand) vsecure.AuditFilter {
			if r.IntN(10) == 0 {
				return vsecure.AuditFilter{Actor: pick(r, humans)}
			}
			return vsecure.AuditFilter{Actor: pick(r, w.agents)}
		}},
		{"exact resource", true, func(r *mrand.Rand) vsecure.AuditFilter {
			return vsecure.AuditFilter{Resource: pick(r, w.secrets)}
		}},
		{"pattern level 1 (kind/*)", true, func(r *mrand.Rand) vsecure.AuditFilter {
			return vsecure.AuditFilter{Resource: pick(r, []string{"vsecure://secrets/*", "vsecure://custom/*", "vsecure://api-keys/*"})}
		}},
		{"pattern level 2 (kind/x/*)", true, func(r *mrand.Rand) vsecure.AuditFilter {
			if r.IntN(5) == 0 {
				return vsecure.AuditFilter{Resource: "vsecure://custom/" + pick(r, ctypes) + "/*"}
			}
			return vsecure.AuditFilter{Resource: "vsecure://secrets/" + pick(r, envs) + "/*"}
		}},
		{"operation", true, func(r *mrand.Rand) vsecure.AuditFilter {
			return vsecure.AuditFilter{Operation: pick(r, ops)}
		}},
		{"success=false", true, func(r *mrand.Rand) vsecure.AuditFilter {
			return vsecure.AuditFilter{Success: &f}
		}},
		{"pattern level 2 + read + time range", true, func(r *mrand.Rand) vsecure.AuditFilter {
			from, to := window(r, 30*time.Minute, 2*time.Hour)
			return vsecure.AuditFilter{Resource: "vsecure://secrets/" + pick(r, envs) + "/*", Operation: vsecure.AuditRead, From: from, To: to}
		}},
		{"actor + success=false (selective)", false, func(r *mrand.Rand) vsecure.AuditFilter {
			return vsecure.AuditFilter{Actor: pick(r, w.agents), Success: &f}
		}},
	}
}

// kindResult is one filter kind's measurements.
type kindResult struct {
	kind       string
	common     bool
	queries    int
	cost       tally
	returned   int
	short      int // pages not full that had a cursor
	lat        []time.Duration
	wrong      int
	firstWrong string
}

// pagesPerValue: each drawn filter is paged through this many pages (if
// it has them), so later pages and cursors are measured and checked too.
const pagesPerValue = 3

func runQueries(ctx context.Context, s *dynamo.Store, p *probe, m *model, w *world, c config, logf func(string, ...any)) ([]kindResult, error) {
	r := mrand.New(mrand.NewPCG(c.seed, 0xbe4c))
	ks := kinds(w, m)
	// Warm the connections and DynamoDB Local's caches, untimed.
	for i := range 3 * len(ks) {
		if _, _, err := s.QueryAudit(ctx, ks[i%len(ks)].draw(r), "", c.limit); err != nil {
			return nil, err
		}
	}
	p.take()
	logf("load average before the queries: %s", loadavg())
	var out []kindResult
	for _, k := range ks {
		res := kindResult{kind: k.name, common: k.common, cost: newTally()}
		for res.queries < c.queries {
			f := k.draw(r)
			want := m.want(f)
			cursor, after := "", ""
			for page := 0; page < pagesPerValue && res.queries < c.queries; page++ {
				t0 := time.Now()
				got, next, err := s.QueryAudit(ctx, f, cursor, c.limit)
				d := time.Since(t0)
				if err != nil {
					return nil, fmt.Errorf("%s %+v: %w", k.name, f, err)
				}
				res.cost.add(p.take())
				res.queries++
				res.lat = append(res.lat, d)
				res.returned += len(got)
				if len(got) < c.limit && next != "" {
					res.short++
				}
				if err := m.check(f, want, after, got, next != "", c.limit); err != nil {
					res.wrong++
					if res.firstWrong == "" {
						res.firstWrong = fmt.Sprintf("%+v page %d: %v", f, page+1, err)
					}
				}
				if len(got) > 0 {
					after = sortKey(got[len(got)-1])
				}
				if next == "" {
					break
				}
				cursor = next
			}
		}
		slices.Sort(res.lat)
		logf("%-40s p50 %5.1f ms  p99 %5.1f ms  %d wrong", k.name, ms(pct(res.lat, 50)), ms(pct(res.lat, 99)), res.wrong)
		out = append(out, res)
	}
	return out, nil
}

// loadavg is the machine's load (the latencies are wall time on a shared
// machine, so the report says how busy it was).
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[min(max(i-1, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
