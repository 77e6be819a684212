package auditlog

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
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

// NewEpoch names a fresh epoch ("ep_" + 128 random bits).
func NewEpoch() string {
	var b [16]byte
	rand.Read(b[:])
	return "ep_" + b32.EncodeToString(b[:])
}

// NewEntryID is an id for an opening entry in the layout the gate gives
// audit entries ("log_" + 48 bits of milliseconds and 80 random bits, the
// ULID layout), so it sorts by time among them.
func NewEntryID(t time.Time) string {
	var b [16]byte
	ms := uint64(t.UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	rand.Read(b[6:])
	return "log_" + b32.EncodeToString(b[:])
}
