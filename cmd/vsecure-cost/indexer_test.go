package main

import (
	"os"
	"testing"

	"github.com/vsecure/vsecure/internal/awsrec"
	"github.com/vsecure/vsecure/internal/sample"
)

// The indexer's measurement seeds the workload through the real store and
// bills the passes by AWS's rules: every entry is indexed, a sealed entry
// is one 1-WRU put, and the passes' writes are counted per entry.
func TestIndexerMeasures(t *testing.T) {
	env, err := sample.EmulatorEnv(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	ddbURL, stopDDB, err := awsrec.Serve(&ddbProxy{upstream: env["AWS_ENDPOINT_URL_DYNAMODB"], rec: rec})
	if err != nil {
		t.Fatal(err)
	}
	defer stopDDB()
	kmsURL, stopKMS, err := awsrec.Serve(kmsProxy(env["AWS_ENDPOINT_URL_KMS"], rec))
	if err != nil {
		t.Fatal(err)
	}
	defer stopKMS()
	const n = 600 // 150 s at 4 a second: two passes of the 120 s rule
	r, err := measureIndexer(t.Context(), env, ddbURL, kmsURL, rec, n)
	if err != nil {
		t.Fatal(err)
	}
	if r.entries != n || r.reads == 0 || r.reads == n {
		t.Fatalf("entries %d, reads %d: want %d entries, some of them not reads", r.entries, r.reads, n)
	}
	// One 1-WRU put per entry, plus the audit chain's epoch item once per writer.
	if got := units(r.hot, "WRU"); got < n || got > n+1 {
		t.Errorf("hot path %g WRU for %d entries (%v), want one put of an item under 1 KB each", got, n, r.hot)
	}
	if r.passes < 2 || r.segments == 0 || r.perEntry("WRU") <= 0 || r.passOps["BatchWriteItem"] == 0 || r.passOps["UpdateItem"] == 0 {
		t.Errorf("passes %d, segments %d, %.2f WRU per entry, requests %v: want passes that write segments and move the watermark",
			r.passes, r.segments, r.perEntry("WRU"), r.passOps)
	}
	if units(r.emptyIdle, "RRU") == 0 || units(r.emptyIdle, "WRU") != 0 {
		t.Errorf("idle call %v: want reads only", r.emptyIdle)
	}
	t.Logf("%d passes, %d idle; %.2f WRU + %.2f RRU per entry; idle %v", r.passes, r.idle, r.perEntry("WRU"), r.perEntry("RRU"), r.emptyIdle)
}
