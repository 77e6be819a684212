package digest_test

import (
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/digest"
)

// BenchmarkVerifyOffline verifies an export of 100,000 entries sealed
// across 4 writer epochs (10 entries a second: ≈ 2.8 h, 1-minute windows
// of 600), every digest signed with Ed25519: what an external auditor
// runs, with nothing but the export and the public key.
func BenchmarkVerifyOffline(b *testing.B) {
	const n, epochs = 100_000, 4
	f := newFixture(b)
	for i := range epochs {
		if i > 0 {
			prev := f.w.head
			f.w.open(f.w.at.Add(100*time.Millisecond), &prev, map[string]string{})
		}
		f.w.append(n/epochs, 100*time.Millisecond)
	}
	f.now = f.w.at.Add(time.Hour)
	cfg := f.cfg()
	cfg.MaxDigests = 1 << 20
	s, _ := digest.NewSealer(cfg)
	ds, err := s.Seal(b.Context())
	if err != nil || len(ds) == 0 {
		b.Fatal(len(ds), err)
	}
	exp := f.export()
	pub, _ := digest.ParsePublicKey(f.signer.PublicKeyBase64())
	total := len(exp.Records)
	for b.Loop() {
		r, err := digest.VerifyOffline(b.Context(), exp, pub)
		if err != nil || !r.OK() || r.Entries != total {
			b.Fatalf("%d entries, %d findings, %v", r.Entries, len(r.Findings), err)
		}
	}
	b.ReportMetric(float64(total*b.N)/b.Elapsed().Seconds(), "entries/s")
	b.ReportMetric(float64(len(ds)), "digests")
}
