package embedded_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/crypto/local"
	"github.com/vsecure/vsecure/shared/digest"
	"github.com/vsecure/vsecure/shared/store/embedded"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// benchLog fills a store with n entries, 10 a second from a 5-minute
// boundary, and returns it with a clock an hour past the last.
func benchLog(b *testing.B, n int) (*embedded.Store, func() time.Time) {
	b.Helper()
	s := open(b, filepath.Join(b.TempDir(), "vsecure.db"))
	base := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	const chunk = 1000
	for i := 0; i < n; i += chunk {
		errs := make(chan error, chunk)
		for j := i; j < min(i+chunk, n); j++ {
			go func() {
				at := base.Add(time.Duration(j) * 100 * time.Millisecond)
				errs <- s.AppendAudit(b.Context(), vsecure.Entry{
					ID: fmt.Sprintf("log_%013d%06d", at.UnixMilli(), j), Timestamp: at.Truncate(time.Second),
					Resource: "vsecure://secrets/production/DATABASE_URL", Operation: vsecure.AuditRead, Actor: "agent-1",
					Success: true, Metadata: map[string]string{"requestId": fmt.Sprintf("req_%d", j), "ipAddress": "127.0.0.1"},
				})
			}()
		}
		for j := i; j < min(i+chunk, n); j++ {
			if err := <-errs; err != nil {
				b.Fatal(err)
			}
		}
	}
	end := base.Add(time.Duration(n)*100*time.Millisecond + time.Hour)
	return s, func() time.Time { return end }
}

// BenchmarkDigest measures sealing and verifying 100,000 entries (≈ 2.8 h
// at 10 audited calls a second: 34 windows of 3,000).
func BenchmarkDigest(b *testing.B) {
	const n = 100_000
	s, now := benchLog(b, n)
	signer, err := local.LoadSigner(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	cfg := digest.Config{Store: s, Signer: signer, Now: now, MaxDigests: 1 << 20}
	b.Run("seal", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			s2, now2 := benchLog(b, n)
			c := cfg
			c.Store, c.Now = s2, now2
			sealer, _ := digest.NewSealer(c)
			b.StartTimer()
			ds, err := sealer.Seal(b.Context())
			if err != nil || len(ds) == 0 {
				b.Fatal(len(ds), err)
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "entries/s")
	})
	sealer, _ := digest.NewSealer(cfg)
	if _, err := sealer.Seal(b.Context()); err != nil {
		b.Fatal(err)
	}
	v, _ := digest.NewVerifier(cfg)
	b.Run("verify", func(b *testing.B) {
		for b.Loop() {
			r, err := v.Verify(b.Context(), time.Time{}, time.Time{})
			if err != nil || !r.OK() || r.Entries != n {
				b.Fatalf("%d entries, %d findings, %v", r.Entries, len(r.Findings), err)
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "entries/s")
	})
}
