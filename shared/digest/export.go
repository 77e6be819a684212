package digest

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// ExportHeader is the first line of an export (the type the export API
// writes).
type ExportHeader = vsecure.ExportHeader

// Export is an exported log: records oldest first, then the digests
// covering them (AUDIT2.md decision 5).
type Export struct {
	Header  ExportHeader
	Records []vsecure.AuditRecord
	Digests []vsecure.Digest
}

// ExportLine is one JSON line of an export; exactly one field is set (a
// Cursor line belongs to API pages only and is refused in a file).
type ExportLine = vsecure.ExportLine

// ReadExport parses an export (JSON lines; a digest line may be hundreds
// of KB, so it is read as a stream of values, not lines).
func ReadExport(r io.Reader) (*Export, error) {
	dec := json.NewDecoder(r)
	exp := &Export{}
	for n := 1; ; n++ {
		var l ExportLine
		if err := dec.Decode(&l); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("export: value %d: %w", n, err)
		}
		switch {
		case l.Export != nil && n == 1:
			exp.Header = *l.Export
		case n == 1:
			return nil, errors.New(`export: the first line must be {"export": {...}}`)
		case l.Record != nil:
			exp.Records = append(exp.Records, *l.Record)
		case l.Digest != nil:
			exp.Digests = append(exp.Digests, *l.Digest)
		case l.Cursor != "":
			return nil, fmt.Errorf("export: value %d is a page cursor: export with audit:export, which follows them", n)
		default:
			return nil, fmt.Errorf("export: value %d is neither a record nor a digest", n)
		}
	}
	if len(exp.Records) == 0 && len(exp.Digests) == 0 && exp.Header.ExportedAt.IsZero() {
		return nil, errors.New("export: empty")
	}
	return exp, nil
}

// WriteExport writes exp in the format ReadExport reads.
func WriteExport(w io.Writer, exp *Export) error {
	enc := json.NewEncoder(w)
	if err := enc.Encode(ExportLine{Export: &exp.Header}); err != nil {
		return err
	}
	for i := range exp.Records {
		if err := enc.Encode(ExportLine{Record: &exp.Records[i]}); err != nil {
			return err
		}
	}
	for i := range exp.Digests {
		if err := enc.Encode(ExportLine{Digest: &exp.Digests[i]}); err != nil {
			return err
		}
	}
	return nil
}

// VerifyOffline checks an export with the signing public key alone: digest
// signatures and chain, sealed hashes, chain links and positions, and the
// witness's records if given. MACs are not checkable without the MAC keys,
// so entries after the last digest are counted as unsealed. "Now" is the
// export's time, so the result does not depend on when it is run.
func VerifyOffline(ctx context.Context, exp *Export, pub SignatureVerifier, witness ...WitnessRecord) (Report, error) {
	if exp == nil || pub == nil {
		return Report{}, errors.New("verify: an export and a public key are required")
	}
	now := exp.Header.ExportedAt
	if now.IsZero() {
		now = time.Now()
	}
	r := Report{From: exp.Header.From, To: exp.Header.To, Findings: []Finding{}, KeyID: pub.KeyID()}
	ds := append([]vsecure.Digest(nil), exp.Digests...)
	sort.SliceStable(ds, func(i, j int) bool { return ds[i].From.Before(ds[j].From) })
	k := &check{pub: pub, recs: exp.Records, ds: ds, witness: witness, window: DefaultWindow, grace: DefaultGrace, now: now.UTC(), r: &r}
	k.full = exp.Header.From.IsZero()
	// A partial export starts after a digest it does not carry: the first
	// digest's link to it is taken as given; the chain is checked from there.
	k.trustFirstLink = !k.full
	if err := k.run(ctx); err != nil {
		return r, err
	}
	r.Head = head(ds, nil)
	return r, nil
}

// PublicKey verifies digest signatures with a public key only.
type PublicKey struct {
	keyID, alg string
	ed         ed25519.PublicKey
	ec         *ecdsa.PublicKey
}

// ParsePublicKey reads an Ed25519 or ECDSA P-256 public key given as PEM,
// base64 of a PKIX (DER) key, or base64 of a raw 32-byte Ed25519 key (what
// audit:verify prints).
func ParsePublicKey(s string) (*PublicKey, error) {
	s = strings.TrimSpace(s)
	var der []byte
	if b, _ := pem.Decode([]byte(s)); b != nil {
		der = b.Bytes
	} else {
		raw, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("public key: neither PEM nor base64: %w", err)
		}
		if len(raw) == ed25519.PublicKeySize {
			return edKey(ed25519.PublicKey(raw)), nil
		}
		der = raw
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	switch k := k.(type) {
	case ed25519.PublicKey:
		return edKey(k), nil
	case *ecdsa.PublicKey:
		if k.Curve.Params().Name != "P-256" {
			return nil, fmt.Errorf("public key: ECDSA curve %s, want P-256", k.Curve.Params().Name)
		}
		// A KMS key's id is its ARN, which the key does not know: any id
		// is accepted, the signature decides.
		return &PublicKey{alg: "ECDSA_SHA_256", ec: k}, nil
	default:
		return nil, fmt.Errorf("public key: %T, want Ed25519 or ECDSA P-256", k)
	}
}

// edKey names the key as crypto/local.Signer does.
func edKey(pub ed25519.PublicKey) *PublicKey {
	sum := sha256.Sum256(pub)
	return &PublicKey{keyID: "local-ed25519:" + hex.EncodeToString(sum[:8]), alg: "Ed25519", ed: pub}
}

// KeyID is the local key id of an Ed25519 key; empty (any) for ECDSA.
func (p *PublicKey) KeyID() string { return p.keyID }

// Algorithm is "Ed25519" or "ECDSA_SHA_256".
func (p *PublicKey) Algorithm() string { return p.alg }

// Verify checks sig over msg (ECDSA: ASN.1 over SHA-256, as KMS signs).
func (p *PublicKey) Verify(_ context.Context, msg, sig []byte) error {
	ok := false
	if p.ed != nil {
		ok = ed25519.Verify(p.ed, msg, sig)
	} else {
		sum := sha256.Sum256(msg)
		ok = ecdsa.VerifyASN1(p.ec, sum[:], sig)
	}
	if !ok {
		return errors.New("signature does not verify")
	}
	return nil
}
