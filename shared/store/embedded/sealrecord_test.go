package embedded

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// TestSealedRecordIsEncodingJSON: the hand-built record is byte for byte
// what encoding/json writes for the same record, so readers and exports
// see one format.
func TestSealedRecordIsEncodingJSON(t *testing.T) {
	entry := []byte(`{"id":"log_1","timestamp":"2026-12-01T10:00:00Z","operation":"read","actor":"a","success":true,"metadata":{}}`)
	for _, s := range []vsecure.AuditSeal{
		{Epoch: "ep_abc", Seq: 0, MAC: bytes.Repeat([]byte{0xfb}, 32)},
		{Epoch: "ep_abc", Seq: 18446744073709551615, Prev: []byte{1, 2, 3}, MAC: bytes.Repeat([]byte{7}, 32)},
	} {
		want, err := json.Marshal(struct {
			Entry json.RawMessage    `json:"entry"`
			Seal  *vsecure.AuditSeal `json:"seal,omitempty"`
		}{entry, &s})
		if err != nil {
			t.Fatal(err)
		}
		if got := sealedRecord(entry, s); !bytes.Equal(got, want) {
			t.Errorf("sealedRecord:\n got %s\nwant %s", got, want)
		}
	}
}
