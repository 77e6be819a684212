package main

import (
	"fmt"
	"io"
	"time"

	"github.com/vsecure/vsecure/shared/store/dynamo/schema"
)

func report(w io.Writer, c config, p *probe, m *model, writes, indexing tally, idx indexResult, rs []kindResult, took time.Duration) {
	n := float64(len(m.all))
	fmt.Fprintf(w, "### Audit queries: %d entries, %d pages of %d per filter kind\n\n", len(m.all), c.queries, c.limit)
	fmt.Fprintln(w, "| filter | Query/page | BatchGetItem/page | other calls | returned/page | items read/returned | RRU/page (Local) | RRU/page (AWS) | AWS RRU per entry returned | short pages | p50 ms | p99 ms | wrong pages |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rs {
		q := float64(r.queries)
		other := 0
		for op, k := range r.cost.calls {
			if op != "Query" && op != "BatchGetItem" {
				other += k
			}
		}
		ratio, per := "–", "–"
		if r.returned > 0 {
			ratio = fmt.Sprintf("%.2f", float64(r.cost.itemsRead)/float64(r.returned))
			per = fmt.Sprintf("%.3f", r.cost.awsRRU/float64(r.returned))
		}
		name := r.kind
		if !r.common {
			name += " ¹"
		}
		fmt.Fprintf(w, "| %s | %.2f | %.2f | %d | %.1f | %s | %.2f | %.2f | %s | %d | %.1f | %.1f | %d |\n",
			name, float64(r.cost.calls["Query"])/q, float64(r.cost.calls["BatchGetItem"])/q, other, float64(r.returned)/q, ratio,
			r.cost.localRRU/q, r.cost.awsRRU/q, per, r.short, ms(pct(r.lat, 50)), ms(pct(r.lat, 99)), r.wrong)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Items read counts every item DynamoDB returned to a Query or BatchGetItem (an index segment is one item however many refs it holds);")
	fmt.Fprintln(w, "AWS RRU is billed from the answers' item sizes (Query: ⌈Σ sizes / 4 KB⌉, ½ if eventually consistent; BatchGetItem: per item).")
	fmt.Fprintln(w, "¹ not a common filter: the rest of the filter is applied to what the chosen key returns.")
	fmt.Fprintf(w, "Latency is wall time of QueryAudit, one query at a time, on this machine (load average %s).\n", c.load)
	if offs := p.offences(); len(offs) > 0 {
		fmt.Fprintf(w, "\n**FAILED: %d Scan/FilterExpression calls, first: %s**\n", len(offs), offs[0])
	} else {
		fmt.Fprintln(w, "\nNo Scan and no FilterExpression in any of the calls above (checked on every request).")
	}

	fmt.Fprintf(w, "\n### Audit writes: %d entries (%d writers, %.0f entries/s on DynamoDB Local)\n\n", len(m.all), c.writers, (n-500)/took.Seconds())
	fmt.Fprintln(w, "| phase | audit WRU/entry (Local) | of which GSIs (Local) | audit WRU/entry (AWS) | state WRU/entry (Local) | state WRU/entry (AWS) | calls |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---|")
	row := func(name string, t tally) {
		fmt.Fprintf(w, "| %s | %.2f | %.2f | %.2f | %.2f | %.2f | %s |\n", name, t.localAuditWRU/n, t.localAuditGSIWRU/n, t.awsAuditWRU/n,
			t.localStateWRU/n, t.awsStateWRU/n, calls(t.calls, n))
	}
	row("write path (RecordRead, PutSecret, AppendAudit)", writes)
	if idx.present {
		row(fmt.Sprintf("indexer (%d passes, %d segments, amortized)", idx.passes, idx.segments), indexing)
		total := newTally()
		total.add(writes)
		total.add(indexing)
		row("together", total)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Audit table: %d GSIs. Entry items: %.0f B on average, %d B at most (≤ 1024 B: one WRU per put).\n",
		len(schema.Audit().Indexes), float64(p.entryBytes)/float64(max(p.entryItems, 1)), p.entryMax)
	fmt.Fprintln(w, "AWS WRU follow AWS's published rules from the requests: 1 WRU per KB per item, 2 inside TransactWriteItems, 1 per KB per GSI the item is")
	fmt.Fprintln(w, "projected into; the state table's items (secret heads, versions) are counted as one KB each, their GSI writes only in the Local column.")
	if idx.present && idx.passes > 0 {
		nc := 0
		for _, k := range indexing.calls {
			nc += k
		}
		fmt.Fprintf(w, "Indexer: %d passes of %.0f entries on average, %.1f calls per pass (run one after another: a pass starts where the last ended), %.0f entries/s on DynamoDB Local.\n",
			idx.passes, float64(idx.entries)/float64(idx.passes), float64(nc)/float64(idx.passes), float64(idx.entries)/idx.took.Seconds())
	}
	if !idx.present {
		fmt.Fprintln(w, "This layout has no indexer: DynamoDB writes the GSIs with every put.")
	}
}

func calls(m map[string]int, n float64) string {
	s := ""
	for _, op := range []string{"PutItem", "TransactWriteItems", "BatchWriteItem", "UpdateItem", "Query", "GetItem", "BatchGetItem"} {
		if m[op] > 0 {
			if s != "" {
				s += ", "
			}
			s += fmt.Sprintf("%s %.3f", op, float64(m[op])/n)
		}
	}
	return s + " per entry"
}
