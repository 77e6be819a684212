package schema

import "testing"

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
	if Audit().TTLAttribute != "" {
		t.Fatal("audit entries must never expire by TTL")
	}
}
