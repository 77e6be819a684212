package dynamo

import (
	"encoding/binary"
	"errors"
	"strings"
	"time"

	"github.com/vsecure/vsecure/shared/auditlog"
)

// A segment's refs are the sort keys "<stamp>#<id>" of its entries, newest
// first. As text they are ≈ 62 bytes each, and they are most of what the
// indexer writes (each entry is a ref in ≈ 6 segments), so they are stored
// packed (≈ 20 bytes): per ref, the uvarint of its stamp in Unix
// nanoseconds (the first ref) or of how much older it is than the one
// before, then its id as the 16 bytes NewEntryID encodes (tag 0) or, for an
// id of another form, its length and bytes (tag 1). The first byte is the
// format's version.
const refsV1 = 1

// refsEncoder packs refs one at a time, so the caller can cut a segment at
// a size.
type refsEncoder struct {
	buf  []byte
	prev int64
}

func newRefsEncoder() *refsEncoder { return &refsEncoder{buf: []byte{refsV1}} }

// add appends sk and returns the bytes it took.
func (e *refsEncoder) add(sk string) int {
	n0 := len(e.buf)
	at, id := splitSK(sk)
	ns := at.UnixNano()
	d := ns
	if n0 > 1 {
		d = e.prev - ns
	}
	e.prev = ns
	e.buf = binary.AppendUvarint(e.buf, uint64(d))
	if b, ok := auditlog.EntryIDBytes(id); ok {
		e.buf = append(e.buf, 0)
		e.buf = append(e.buf, b[:]...)
	} else {
		e.buf = append(e.buf, 1)
		e.buf = binary.AppendUvarint(e.buf, uint64(len(id)))
		e.buf = append(e.buf, id...)
	}
	return len(e.buf) - n0
}

// size is what adding sk would take, without adding it.
func (e *refsEncoder) size(sk string) int {
	at, id := splitSK(sk)
	ns := at.UnixNano()
	d := ns
	if len(e.buf) > 1 {
		d = e.prev - ns
	}
	var tmp [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(tmp[:], uint64(d)) + 1
	if _, ok := auditlog.EntryIDBytes(id); ok {
		return n + 16
	}
	return n + binary.PutUvarint(tmp[:], uint64(len(id))) + len(id)
}

// bytes is the packed refs.
func (e *refsEncoder) bytes() []byte { return e.buf }

func splitSK(sk string) (time.Time, string) {
	st, id, _ := strings.Cut(sk, "#")
	return skTime(st), id
}

var errRefs = errors.New("segment refs are corrupt")

// decodeRefs unpacks what refsEncoder packed.
func decodeRefs(b []byte) ([]string, error) {
	if len(b) == 0 || b[0] != refsV1 {
		return nil, errRefs
	}
	b = b[1:]
	var out []string
	var prev int64
	for len(b) > 0 {
		d, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, errRefs
		}
		b = b[n:]
		ns := int64(d)
		if out != nil {
			ns = prev - int64(d)
		}
		prev = ns
		if len(b) == 0 {
			return nil, errRefs
		}
		tag := b[0]
		b = b[1:]
		var id string
		switch tag {
		case 0:
			if len(b) < 16 {
				return nil, errRefs
			}
			id = auditlog.EntryIDFromBytes([16]byte(b[:16]))
			b = b[16:]
		case 1:
			l, n := binary.Uvarint(b)
			if n <= 0 || uint64(len(b)-n) < l {
				return nil, errRefs
			}
			id = string(b[n : n+int(l)])
			b = b[n+int(l):]
		default:
			return nil, errRefs
		}
		out = append(out, stamp(time.Unix(0, ns))+"#"+id)
	}
	return out, nil
}
