package auditlog

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"strings"
	"time"
)

// SumJSON is Sum over entry JSON the caller already encoded with
// encoding/json (a store encodes the entry once, to store it, and MACs the
// same bytes rather than marshalling it twice).
func SumJSON(key, entryJSON []byte, epoch string, seq uint64, prev []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(sumDomain))
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(epoch)))
	m.Write(n[:])
	m.Write([]byte(epoch))
	binary.BigEndian.PutUint64(n[:], seq)
	m.Write(n[:])
	binary.BigEndian.PutUint64(n[:], uint64(len(prev)))
	m.Write(n[:])
	m.Write(prev)
	m.Write(entryJSON)
	return m.Sum(nil)
}

// SealJSON is Seal for an entry given as its json.Marshal bytes.
func (k Key) SealJSON(h Head, entryJSON []byte) (Seal, Head) {
	mac := SumJSON(k.mac, entryJSON, k.Epoch, h.Next, h.Prev)
	return Seal{Epoch: k.Epoch, Seq: h.Next, Prev: h.Prev, MAC: mac}, Head{Epoch: k.Epoch, Next: h.Next + 1, Prev: mac}
}

var b32 = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// NewEpoch names a fresh epoch opened at t: "ep_" + 48 bits of t's Unix
// milliseconds (to the second, as entries are timestamped) and 80 random
// bits. The time lets any reader find the epoch's opening entry (and so its
// key) from the id alone: a sealer or verifier that meets an epoch no
// digest it read mentions (a writer idle for a while, a reader just
// started) reads the one second the id names instead of the whole log.
func NewEpoch(t time.Time) string {
	var b [16]byte
	putMillis(b[:6], t.UTC().Truncate(time.Second))
	rand.Read(b[6:])
	return "ep_" + b32.EncodeToString(b[:])
}

// EpochOpened is the time NewEpoch encoded in epoch (false for an id not
// of that form).
func EpochOpened(epoch string) (time.Time, bool) {
	rest, ok := strings.CutPrefix(epoch, "ep_")
	if !ok {
		return time.Time{}, false
	}
	b, err := b32.DecodeString(rest)
	if err != nil || len(b) != 16 {
		return time.Time{}, false
	}
	var ms uint64
	for _, c := range b[:6] {
		ms = ms<<8 | uint64(c)
	}
	return time.UnixMilli(int64(ms)).UTC(), true
}

func putMillis(b []byte, t time.Time) {
	ms := uint64(t.UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
}

// NewEntryID is an id for an opening entry in the layout the gate gives
// audit entries ("log_" + 48 bits of milliseconds and 80 random bits, the
// ULID layout), so it sorts by time among them.
func NewEntryID(t time.Time) string {
	var b [16]byte
	putMillis(b[:6], t)
	rand.Read(b[6:])
	return "log_" + b32.EncodeToString(b[:])
}

// EntryIDBytes returns the 16 bytes a NewEntryID id encodes, and whether id
// is of that form (ids written by other means, e.g. fixed sample ids, are
// not).
func EntryIDBytes(id string) (b [16]byte, ok bool) {
	rest, found := strings.CutPrefix(id, "log_")
	if !found || len(rest) != b32.EncodedLen(16) {
		return b, false
	}
	raw, err := b32.DecodeString(rest)
	if err != nil || len(raw) != 16 || b32.EncodeToString(raw) != rest {
		return b, false
	}
	copy(b[:], raw)
	return b, true
}

// EntryIDFromBytes is the id whose bytes are b (EntryIDBytes' inverse).
func EntryIDFromBytes(b [16]byte) string { return "log_" + b32.EncodeToString(b[:]) }
