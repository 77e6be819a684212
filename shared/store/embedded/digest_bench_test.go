package embedded_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/auditlog"
	"github.com/vsecure/vsecure/shared/crypto/local"
	"github.com/vsecure/vsecure/shared/digest"
	"github.com/vsecure/vsecure/shared/store/embedded"
	"github.com/vsecure/vsecure/shared/store/storetest"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// benchLog fills a store with n entries, 10 a second from a 5-minute
// boundary, and returns it with a clock an hour past the last.
func benchLog(b *testing.B, n int, opts ...embedded.Option) (*embedded.Store, func() time.Time) {
	return benchLogFrom(b, n, time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), func(at time.Time, j int) string {
		return fmt.Sprintf("log_%013d%06d", at.UnixMilli(), j)
	}, opts...)
}

// benchLogFrom is benchLog from base with ids from id.
func benchLogFrom(b *testing.B, n int, base time.Time, id func(time.Time, int) string, opts ...embedded.Option) (*embedded.Store, func() time.Time) {
	b.Helper()
	s := open(b, filepath.Join(b.TempDir(), "vsecure.db"), opts...)
	const chunk = 1000
	for i := 0; i < n; i += chunk {
		errs := make(chan error, chunk)
		for j := i; j < min(i+chunk, n); j++ {
			go func() {
				at := base.Add(time.Duration(j) * 100 * time.Millisecond)
				errs <- s.AppendAudit(b.Context(), vsecure.Entry{
					ID: id(at, j), Timestamp: at.Truncate(time.Second),
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

// BenchmarkVerifySealed is online verification of 100,000 sealed entries:
// every MAC checked, every record matched to its digest, chains by Seq.
func BenchmarkVerifySealed(b *testing.B) {
	const n = 100_000
	keys := storetest.MACKeys(b)
	// After the store's opening entry (written now), with the ids the
	// gate mints: the store reads ranges by id order.
	base := time.Now().UTC().Truncate(time.Minute).Add(time.Minute)
	s, now := benchLogFrom(b, n, base, func(at time.Time, _ int) string { return auditlog.NewEntryID(at) }, embedded.WithSeal(keys, "bench"))
	signer, err := local.LoadSigner(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	cfg := digest.Config{Store: s, Signer: signer, Now: now, MaxDigests: 1 << 20, MACKeys: keys}
	sealer, _ := digest.NewSealer(cfg)
	if _, err := sealer.Seal(b.Context()); err != nil {
		b.Fatal(err)
	}
	v, _ := digest.NewVerifier(cfg)
	for b.Loop() {
		r, err := v.Verify(b.Context(), time.Time{}, time.Time{})
		if err != nil || !r.OK() || r.Entries != n+1 {
			b.Fatalf("%d entries, %d findings, %v", r.Entries, len(r.Findings), err)
		}
	}
	b.ReportMetric(float64((n+1)*b.N)/b.Elapsed().Seconds(), "entries/s")
}
