package vsecure

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// DigestVersion is the layout of Digest that SignedBytes covers.
const DigestVersion = 2

// Digest seals the audit entries of one closed time window [From, To), in
// the spirit of CloudTrail's log-file integrity digests: the ordered list of
// the entries' ids with the SHA-256 of each entry's canonical JSON, the
// count, and the hash of the previous digest, signed. A deleted, changed,
// inserted or reordered entry, or a removed or altered digest, no longer
// matches. Digests are written by a periodic step after the window closed,
// so audit appends never wait on (or contend for) a chain head.
type Digest struct {
	Version int       `json:"version"`
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	Count   int       `json:"count"`
	// Entries in the store's time order: by timestamp, ties by id.
	Entries []DigestEntry `json:"entries"`
	// Heads is, per epoch with an entry sealed here, the head after the
	// highest Seq sealed so far (over this and every earlier digest): an
	// entry of that epoch below Next that is gone was deleted.
	Heads []DigestHead `json:"heads,omitempty"`
	// Previous is PreviousHash of the digest before this one; empty for
	// the first digest of a log.
	Previous string    `json:"previous"`
	SealedAt time.Time `json:"sealedAt"`
	// KeyID and Algorithm name the signing key ("local:…" Ed25519, or a
	// KMS key ARN with ECDSA_SHA_256).
	KeyID     string `json:"keyId"`
	Algorithm string `json:"algorithm"`
	Signature []byte `json:"signature,omitempty"`
}

// DigestEntry is one sealed entry: the key the store keeps it under, the
// SHA-256 of its record (RecordHash; of the entry alone in version 1), and
// its place in its chain. Flag is set when the sealer found the entry
// already tampered with (its MAC failed): it is sealed as what it is, so
// that every later verification names it once, online or offline.
type DigestEntry struct {
	ID   string `json:"id"`
	Hash []byte `json:"sha256"`
	// Epoch is an index into Digest.Heads (-1: the entry has no seal).
	Epoch int    `json:"e"`
	Seq   uint64 `json:"s"`
	Flag  string `json:"flag,omitempty"`
}

// DigestHead is a chain's head as the sealer last sealed it: the next Seq
// and the MAC of the entry before it.
type DigestHead struct {
	Epoch string `json:"epoch"`
	Next  uint64 `json:"next"`
	Prev  []byte `json:"prev,omitempty"`
	// Opened is the timestamp of the epoch's opening entry, where a
	// verifier finds the epoch's wrapped key.
	Opened time.Time `json:"opened"`
}

// RecordHash is what a version-2 digest seals of a record: the SHA-256 of
// the entry's canonical JSON and of its seal, so an edited entry or a
// rewritten seal no longer matches.
func RecordHash(e Entry, s *AuditSeal) []byte {
	h := sha256.New()
	eb, err := json.Marshal(e)
	if err != nil {
		panic("vsecure: encode entry: " + err.Error())
	}
	sb, _ := json.Marshal(s) // null for no seal
	h.Write(eb)
	h.Write([]byte{'\n'})
	h.Write(sb)
	return h.Sum(nil)
}

// SignedBytes is what the signature covers: the digest's JSON without the
// signature.
func (d Digest) SignedBytes() []byte {
	d.Signature = nil
	b, err := json.Marshal(d)
	if err != nil { // only plain strings, times, ints and bytes: cannot fail
		panic("vsecure: encode digest: " + err.Error())
	}
	return b
}

// Hash is what the next digest records as Previous: the SHA-256 of the
// signed bytes and the signature, so replacing either breaks the chain.
func (d Digest) Hash() string {
	h := sha256.New()
	h.Write(d.SignedBytes())
	h.Write(d.Signature)
	return hex.EncodeToString(h.Sum(nil))
}

// EntryHash is the SHA-256 of e's canonical JSON (encoding/json: fixed
// field order, sorted metadata keys).
func EntryHash(e Entry) []byte {
	b, err := json.Marshal(e)
	if err != nil {
		panic("vsecure: encode entry: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return sum[:]
}

// AuditSeal is what an audit entry carries besides itself from the moment
// it is written: its place in its writer's chain and a MAC under that
// chain's key (see package auditlog). It is stored beside the entry, never
// in the entry's API JSON.
type AuditSeal struct {
	// Epoch names the writer's chain ("ep_…").
	Epoch string `json:"epoch"`
	// Seq is the entry's position in the epoch; 0 is the opening entry.
	Seq uint64 `json:"seq"`
	// Prev is the MAC of entry Seq-1 (empty for Seq 0).
	Prev []byte `json:"prev,omitempty"`
	// MAC is HMAC-SHA256 under the epoch's key of the entry's canonical
	// JSON, the epoch, Seq and Prev (auditlog.Sum).
	MAC []byte `json:"mac"`
}

// AuditRecord is an entry as a store or an export holds it: the key it is
// stored under (normally its id), the entry, and its seal (nil for entries
// written before seals existed, or stripped by tampering).
type AuditRecord struct {
	Key   string     `json:"key"`
	Entry Entry      `json:"entry"`
	Seal  *AuditSeal `json:"seal,omitempty"`
}
