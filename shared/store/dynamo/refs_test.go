package dynamo

import (
	"slices"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/auditlog"
)

// Packed refs unpack to exactly the sort keys packed, for ids of
// NewEntryID's form and others, equal and out-of-order stamps included,
// at about a third of their text size.
func TestRefsRoundTrip(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 22, 0, 0, 123456789, time.UTC)
	var sks []string
	for i := range 200 {
		at := t0.Add(-time.Duration(i) * 7 * time.Millisecond)
		sks = append(sks, stamp(at)+"#"+auditlog.NewEntryID(at))
	}
	sks = append(sks, stamp(t0.Add(-time.Hour))+"#log_sample_key_x_1", stamp(t0.Add(-time.Hour))+"#log_sample_key_x_2",
		stamp(t0)+"#"+auditlog.NewEntryID(t0), stamp(time.Unix(0, 0))+"#log_zero")
	enc := newRefsEncoder()
	text := 0
	for _, sk := range sks {
		before := len(enc.bytes())
		n := enc.next(sk)
		enc.add()
		if got := len(enc.bytes()) - before; got != n {
			t.Fatalf("%s: next said %d bytes, add took %d", sk, n, got)
		}
		text += len(sk) + 1
	}
	got, err := decodeRefs(enc.bytes())
	if err != nil || !slices.Equal(got, sks) {
		t.Fatalf("decode: %v\n%v\nwant\n%v", err, got, sks)
	}
	if packed := len(enc.bytes()); packed*2 > text {
		t.Errorf("packed %d bytes for %d bytes of text, want under half", packed, text)
	}
	for _, bad := range [][]byte{nil, {2}, {refsV1, 0x80}, {refsV1, 5}, {refsV1, 5, 0, 1, 2}, {refsV1, 5, 1, 9, 'a'}, {refsV1, 5, 7}} {
		if _, err := decodeRefs(bad); err == nil {
			t.Errorf("decodeRefs(%v) accepted corrupt refs", bad)
		}
	}
}
