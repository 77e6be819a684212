package gate

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// AuditKey is the public half of the audit digests' signing key:
// crypto/local.Signer and crypto/kms.Signer.
type AuditKey interface {
	KeyID() string
	Algorithm() string
	// PublicKey is the key in PKIX DER.
	PublicKey(ctx context.Context) ([]byte, error)
}

// DefaultExportPageBytes keeps a page of the export well inside Lambda's
// 6 MB response limit: lines are added until the next one would pass it.
const DefaultExportPageBytes = 4 << 20

// exportCursor is the position an export page ends at. The range is fixed
// by the first page (its digest-aligned bounds, and "now" for an open end),
// so every page of one export reads the same range. It travels as JSON
// under the cursor's MAC, keyed by the field names: opaque to callers, so
// not part of the wire contract.
type exportCursor struct {
	From time.Time
	To   time.Time
	// Records phase: resume at timestamp At, skipping the first Skip
	// records stamped At (already sent). Counting, not comparing ids,
	// keeps paging independent of how ids sort.
	At   time.Time
	Skip int
	// Digests phase: the next digest's From.
	Digests  bool
	DigestAt time.Time
}

// ExportAudit returns one page of the audit export of [from, to) (admin,
// auditor) as JSON lines (vsecure.ExportLine): the header, records oldest
// first, then the digests covering the range, and a cursor line when
// another page follows. The range is widened to whole digest windows, so
// an export checks on its own.
func (g *Gate) ExportAudit(ctx context.Context, c Call, from, to time.Time, cursor string) ([]byte, error) {
	e := g.entry(c, vsecure.AuditExport, "")
	if !c.Principal.HasAny(vsecure.RoleAdmin, vsecure.RoleAuditor) {
		return nil, g.fail(ctx, e, vsecure.Errorf(vsecure.EForbidden, "exporting the audit log needs the admin or auditor role"))
	}
	if err := checkRange(from, to); err != nil {
		return nil, g.fail(ctx, e, err)
	}
	scope := "audit-export\x00" + c.Principal.ID + "\x00" + stamp(from) + "\x00" + stamp(to)
	cs, err := g.cursors(ctx)
	if err != nil {
		return nil, g.fail(ctx, e, err)
	}
	raw, err := cs.open(scope, cursor)
	if err != nil {
		return nil, g.fail(ctx, e, err)
	}
	var pos exportCursor
	if raw != "" {
		if json.Unmarshal([]byte(raw), &pos) != nil {
			return nil, g.fail(ctx, e, vsecure.Errorf(vsecure.EInvalid, "invalid cursor"))
		}
	} else if pos, err = g.exportRange(ctx, from, to); err != nil {
		return nil, g.fail(ctx, e, vsecure.Wrap(vsecure.EUnavailable, err, "the audit log could not be read"))
	}
	p := exportPage{limit: g.exportBytes}
	keyID := ""
	if g.auditKey != nil {
		keyID = g.auditKey.KeyID()
	}
	p.add(vsecure.ExportLine{Export: &vsecure.ExportHeader{From: pos.From, To: pos.To, ExportedAt: g.now().UTC(), KeyID: keyID}})
	next, err := g.exportLines(ctx, &p, pos)
	if err != nil {
		return nil, g.fail(ctx, e, vsecure.Wrap(vsecure.EUnavailable, err, "the audit log could not be read"))
	}
	if next != nil {
		b, err := json.Marshal(next)
		if err != nil {
			return nil, g.fail(ctx, e, err)
		}
		p.force(vsecure.ExportLine{Cursor: cs.sign(scope, string(b))})
	}
	e.Metadata["records"] = strconv.Itoa(p.records)
	e.Metadata["digests"] = strconv.Itoa(p.digests)
	if err := g.appendOK(ctx, e); err != nil {
		return nil, err
	}
	return p.buf.Bytes(), nil
}

// exportRange fixes the range of a new export: to defaults to now, and
// both ends move out to the edges of the digests that cover them.
func (g *Gate) exportRange(ctx context.Context, from, to time.Time) (exportCursor, error) {
	if to.IsZero() {
		to = g.now().UTC()
	}
	if !from.IsZero() {
		d, err := g.store.DigestBefore(ctx, from)
		switch {
		case err == nil && d.To.After(from):
			from = d.From
		case err != nil && !vsecure.IsCode(err, vsecure.ENotFound):
			return exportCursor{}, err
		}
	}
	d, err := g.store.DigestBefore(ctx, to)
	switch {
	case err == nil && d.To.After(to):
		to = d.To
	case err != nil && !vsecure.IsCode(err, vsecure.ENotFound):
		return exportCursor{}, err
	}
	return exportCursor{From: from, To: to, At: from, DigestAt: from}, nil
}

// exportLines adds what fits from pos and returns where the next page
// starts (nil: this page ends the export).
func (g *Gate) exportLines(ctx context.Context, p *exportPage, pos exportCursor) (*exportCursor, error) {
	if !pos.Digests {
		var next *exportCursor
		at, run, skip := pos.At, 0, pos.Skip
		err := g.store.AuditRange(ctx, pos.At, pos.To, func(r vsecure.AuditRecord) (bool, error) {
			ts := r.Entry.Timestamp
			if !ts.Equal(at) {
				at, run = ts, 0
			}
			run++
			if skip > 0 && ts.Equal(pos.At) {
				skip--
				return true, nil
			}
			if !p.add(vsecure.ExportLine{Record: &r}) {
				n := pos
				n.At, n.Skip = at, run-1
				next = &n
				return false, nil
			}
			p.records++
			return true, nil
		})
		if err != nil || next != nil {
			return next, err
		}
		pos.Digests = true
	}
	ds, err := g.store.Digests(ctx, pos.DigestAt, pos.To)
	if err != nil {
		return nil, err
	}
	for i := range ds {
		if !p.add(vsecure.ExportLine{Digest: &ds[i]}) {
			n := pos
			n.DigestAt = ds[i].From
			return &n, nil
		}
		p.digests++
	}
	return nil, nil
}

// exportPage collects JSON lines up to limit bytes; the header and one
// line of progress always fit, so every page moves on.
type exportPage struct {
	buf              bytes.Buffer
	limit, lines     int
	records, digests int
}

func (p *exportPage) add(l vsecure.ExportLine) bool {
	b, err := json.Marshal(l)
	if err != nil { // plain strings, times, ints and bytes: cannot fail
		panic("gate: encode export line: " + err.Error())
	}
	if p.lines > 1 && p.buf.Len()+len(b)+1 > p.limit {
		return false
	}
	p.buf.Write(b)
	p.buf.WriteByte('\n')
	p.lines++
	return true
}

func (p *exportPage) force(l vsecure.ExportLine) {
	p.lines = 0
	p.add(l)
}
