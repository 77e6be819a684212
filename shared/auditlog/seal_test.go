package auditlog

import (
	"bytes"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/vsecure"
)

func TestSealChainsAndChecks(t *testing.T) {
	k, err := NewKey("ep_1", bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	e0 := vsecure.Entry{ID: "log_0", Timestamp: at, Operation: OpEpoch, Actor: Actor, Success: true, Metadata: map[string]string{}}
	e1 := vsecure.Entry{ID: "log_1", Timestamp: at, Operation: "read", Actor: "agent", Success: true, Metadata: map[string]string{"ipAddress": "203.0.113.1"}}
	s0, h := k.Seal(Head{Epoch: "ep_1"}, e0)
	s1, h := k.Seal(h, e1)
	if s0.Seq != 0 || s1.Seq != 1 || h.Next != 2 || !bytes.Equal(s1.Prev, s0.MAC) || !bytes.Equal(h.Prev, s1.MAC) {
		t.Fatalf("chain: %+v %+v head %+v", s0, s1, h)
	}
	if !k.Check(e0, s0) || !k.Check(e1, s1) {
		t.Fatal("valid seals refused")
	}
	edited := e1
	edited.Metadata = map[string]string{"ipAddress": "198.51.100.9"}
	moved := s1
	moved.Seq = 5
	relinked := s1
	relinked.Prev = []byte("x")
	other, _ := NewKey("ep_1", bytes.Repeat([]byte{8}, 32))
	for name, bad := range map[string]bool{
		"edited entry":  k.Check(edited, s1),
		"moved seq":     k.Check(e1, moved),
		"relinked prev": k.Check(e1, relinked),
		"other key":     other.Check(e1, s1),
		"swapped entry": k.Check(e0, s1),
	} {
		if bad {
			t.Errorf("%s passed the check", name)
		}
	}
	if _, err := NewKey("ep_1", []byte("short")); err == nil {
		t.Error("a short key was accepted")
	}
}
