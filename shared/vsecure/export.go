package vsecure

import "time"

// ExportHeader is the first line of an audit export: the range it covers,
// when it was taken, and the key its digests are signed with.
type ExportHeader struct {
	From       time.Time `json:"from"`
	To         time.Time `json:"to"`
	ExportedAt time.Time `json:"exportedAt"`
	KeyID      string    `json:"keyId"`
}

// ExportLine is one JSON line of an audit export (audit:export): exactly
// one field is set. A file is one Export line, the records oldest first,
// then the digests covering the range. A page of the export API carries
// the same lines, and Cursor as its last line when another page follows
// (never written to a file).
type ExportLine struct {
	Export *ExportHeader `json:"export,omitempty"`
	Record *AuditRecord  `json:"record,omitempty"`
	Digest *Digest       `json:"digest,omitempty"`
	Cursor string        `json:"cursor,omitempty"`
}
