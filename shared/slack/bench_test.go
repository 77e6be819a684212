package slack_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/slack"
	"github.com/vsecure/vsecure/shared/store/storetest"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// BenchmarkInteractionAck measures how long the interactions route takes
// to acknowledge a valid press by a mapped approver, through the real
// router (signature check, replay guard, Slack user lookup, gate.Decide
// with its fsynced state change and audit entry) on the embedded store.
// The chat.update runs after the acknowledgement, as in vsecure dev.
// p50/p99 are reported as metrics (Slack's limit is 3 s).
func BenchmarkInteractionAck(b *testing.B) {
	e := startSlack(b)
	h, err := e.srv.API.Handler()
	if err != nil {
		b.Fatal(err)
	}
	store := e.srv.Gate.Store()
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		now := time.Now().UTC().Truncate(time.Second)
		a := vsecure.Approval{
			ID: storetest.NewID("appr_", now), Resource: prodURI, Operation: vsecure.OpRead,
			RequestedBy: "agent-1", RequestedAt: now, ExpiresAt: now.Add(time.Hour), TTL: 3600,
			Status: vsecure.StatusPending, Approvers: []string{"alice"}, RequiredApprovals: 1, Version: 1,
		}
		if err := store.CreateApproval(ctx, a, vsecure.Entry{}); err != nil {
			b.Fatal(err)
		}
		body := payload("U0ALICE", slack.ActionApprove, a.ID, "C0PROD", "1700000000.000001", "")
		req := httptest.NewRequest(http.MethodPost, "/v1/integrations/slack/interactions", strings.NewReader(body))
		ts := strconv.FormatInt(now.Unix(), 10)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(slack.HeaderTimestamp, ts)
		req.Header.Set(slack.HeaderSignature, slack.SignatureHeader([]byte(signingSecret), ts, []byte(body)))
		rec := httptest.NewRecorder()
		b.StartTimer()
		t0 := time.Now()
		h.ServeHTTP(rec, req)
		lat = append(lat, time.Since(t0))
		b.StopTimer()
		if rec.Code != 200 {
			b.Fatalf("press %d: status %d %s", i, rec.Code, rec.Body)
		}
		b.StartTimer()
	}
	b.StopTimer()
	e.srv.Slack.Wait()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
