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
// a size: next packs a ref aside, add keeps the last one packed.
type refsEncoder struct {
	buf, ref []byte
	prev, ns int64
}

func newRefsEncoder() *refsEncoder { return &refsEncoder{buf: []byte{refsV1}} }

// next packs sk after what add kept and returns its size; add(sk) keeps it.
func (e *refsEncoder) next(sk string) int {
	at, id := splitSK(sk)
	e.ns = at.UnixNano()
	d := e.ns
	if len(e.buf) > 1 {
		d = e.prev - e.ns
	}
	e.ref = binary.AppendUvarint(e.ref[:0], uint64(d))
	if b, ok := auditlog.EntryIDBytes(id); ok {
		e.ref = append(append(e.ref, 0), b[:]...)
	} else {
		e.ref = append(e.ref, 1)
		e.ref = binary.AppendUvarint(e.ref, uint64(len(id)))
		e.ref = append(e.ref, id...)
	}
	return len(e.ref)
}

// add keeps the ref that next packed last.
func (e *refsEncoder) add() {
	e.buf = append(e.buf, e.ref...)
	e.prev = e.ns
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
