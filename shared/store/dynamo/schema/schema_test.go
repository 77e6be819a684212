package schema

import (
	"fmt"
	"testing"
)

func TestTables(t *testing.T) {
	names := map[string]bool{}
	for _, tb := range Tables() {
		if tb.Name == "" || tb.PartitionKey == "" || names[tb.Name] {
			t.Fatalf("table %+v: missing name or key, or duplicate", tb)
		}
		names[tb.Name] = true
		ix := map[string]bool{}
		for _, i := range tb.Indexes {
			if i.Name == "" || i.PartitionKey == "" || ix[i.Name] {
				t.Fatalf("%s: index %+v missing name or key, or duplicate", tb.Name, i)
			}
			if i.Projection != ProjectAll && i.Projection != ProjectKeysOnly {
				t.Fatalf("%s: index %s has projection %q", tb.Name, i.Name, i.Projection)
			}
			ix[i.Name] = true
		}
		if len(tb.Indexes) > 20 {
			t.Fatalf("%s: %d indexes, DynamoDB allows 20", tb.Name, len(tb.Indexes))
		}
	}
	if got := State().KeyAttributes(); len(got) != 6 {
		t.Fatalf("state key attributes %v", got)
	}
	if a := Audit(); len(a.Indexes) != 0 || a.PartitionKey != AuditPK || a.SortKey != AuditSK || a.TTLAttribute != AuditTTL {
		t.Fatalf("audit table %+v: want pk/sk, no index, ttl", a)
	}
	seen := map[string]int{}
	for i := range 1000 {
		seen[AuditEntryPK(fmt.Sprint("log_", i))]++
	}
	if len(seen) != AuditShards || len(AuditShardPKs()) != AuditShards {
		t.Fatalf("1000 ids on %d partitions, want %d", len(seen), AuditShards)
	}
	for _, pk := range AuditShardPKs() {
		if seen[pk] == 0 {
			t.Fatalf("no id on shard %s", pk)
		}
	}
}
