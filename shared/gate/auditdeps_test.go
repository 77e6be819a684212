package gate_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// signingKey is the audit digests' signing key as the gate sees it; its
// public key cannot be read while down.
type signingKey struct{ down bool }

func (k signingKey) KeyID() string     { return "alias/vsecure-audit-signing" }
func (k signingKey) Algorithm() string { return "ECDSA_SHA_256" }
func (k signingKey) PublicKey(context.Context) ([]byte, error) {
	if k.down {
		return nil, errors.New("kms: throttled")
	}
	return []byte{0x30, 0x59, 0x01}, nil
}

// TestVerificationNamesTheSigningKey: a verification report names the key
// the digests are signed with; when that key cannot be read the
// verification is refused as unavailable, audited, before the log is
// checked.
func TestVerificationNamesTheSigningKey(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	from, to := start.Add(-time.Hour), start.Add(time.Hour)
	v := &verifier{}
	g := w.gateWith(func(c *gate.Config) { c.AuditVerifier, c.AuditKey = v, signingKey{} })
	r, err := g.VerifyAudit(ctx, w.as("auditor-1"), from, to)
	if err != nil || r.TrustedKey.KeyID != "alias/vsecure-audit-signing" || r.TrustedKey.Algorithm != "ECDSA_SHA_256" || !bytes.Equal(r.TrustedKey.PublicKey, []byte{0x30, 0x59, 0x01}) {
		t.Fatalf("verification %+v, %v; want the signing key named", r, err)
	}

	g = w.gateWith(func(c *gate.Config) { c.AuditVerifier, c.AuditKey = v, signingKey{down: true} })
	r, err = g.VerifyAudit(ctx, w.as("admin"), from, to)
	want(t, err, vsecure.EUnavailable, "verify with the signing key unreadable")
	if v.calls.Load() != 1 || r.Report.Digests != 0 {
		t.Fatalf("verifier called %d times, report %+v; want no second verification", v.calls.Load(), r)
	}
	if e := w.refusal(vsecure.AuditVerify, "admin"); e.Error != string(vsecure.EUnavailable) {
		t.Fatalf("refusal entry %+v", e)
	}
}

// TestExportNeedsTheDigests: an export's range moves out to the digests
// covering its ends, so an export whose digests cannot be looked up
// fails (unavailable, no page) rather than start or end inside a digest.
func TestExportNeedsTheDigests(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	from, to := start.Add(-time.Hour), start.Add(time.Hour)
	for _, tc := range []struct {
		name string
		from time.Time
		down time.Time // the end whose lookup fails
	}{
		{"from_down", from, from},
		{"to_down", from, to},
		{"to_down_no_from", time.Time{}, to},
	} {
		w.st.digestDownAt.Store(&tc.down)
		page, err := w.g.ExportAudit(ctx, w.as("auditor-1"), tc.from, to, "")
		want(t, err, vsecure.EUnavailable, tc.name+": export with a digest lookup failing")
		if len(page) != 0 {
			t.Fatalf("%s: a page of %d bytes with the error", tc.name, len(page))
		}
	}
}
