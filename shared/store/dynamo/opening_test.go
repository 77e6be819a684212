package dynamo_test

import (
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/crypto/local"
	"github.com/vsecure/vsecure/shared/digest"
	"github.com/vsecure/vsecure/shared/store/dynamo"
	"github.com/vsecure/vsecure/shared/store/storetest"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// An epoch's opening entry is dated no later than the entry it was opened
// for, so the sealer finds the epoch's key in that entry's window: an entry
// stamped just before a window boundary (or, as the sample world's, well
// before it) whose epoch opened after it is not taken for an insertion.
func TestOpeningEntryPrecedesItsFirstEntry(t *testing.T) {
	keys := storetest.MACKeys(t)
	s := newStore(t, client(t), dynamo.WithSeal(keys, "test", 1))
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Minute).Add(59 * time.Second)
	e := vsecure.Entry{ID: "log_backdated", Timestamp: at, Operation: vsecure.AuditKeyCreate, Actor: "bootstrap", Success: true}
	if err := s.AppendAudit(t.Context(), e); err != nil {
		t.Fatal(err)
	}
	epochs := storetest.Chains(t, t.Context(), s, keys)
	for _, ep := range epochs {
		if ep.Opening.Timestamp.After(at) {
			t.Errorf("opening entry at %s, after its first entry at %s", ep.Opening.Timestamp, at)
		}
	}
	signer, err := local.LoadSigner(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := digest.Config{Store: s, Signer: signer, MACKeys: keys}
	sealer, err := digest.NewSealer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sealer.Seal(t.Context()); err != nil {
		t.Fatal(err)
	}
	v, err := digest.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := v.Verify(t.Context(), time.Time{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Findings) != 0 {
		t.Fatalf("findings on a clean log: %+v", r.Findings)
	}
}
