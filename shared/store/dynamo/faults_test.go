package dynamo_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/auditlog"
	"github.com/vsecure/vsecure/shared/store/dynamo"
	"github.com/vsecure/vsecure/shared/store/storetest"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// faultKind is what the transport does to a matching request.
type faultKind string

const (
	throttle faultKind = "throttle" // 400 ProvisionedThroughputExceededException
	err500   faultKind = "500"      // 500 InternalServerError
	err503   faultKind = "503"      // 503 ServiceUnavailable
	hang     faultKind = "timeout"  // no answer until the client gives up
	lostAck  faultKind = "lost-ack" // DynamoDB commits, the answer is lost (500)
)

// faults is an http.RoundTripper that injects failures into DynamoDB calls
// by operation, below the SDK (its retryer sees them as the network would).
type faults struct {
	base http.RoundTripper
	mu   sync.Mutex
	op   string // X-Amz-Target operation, "" for every operation
	kind faultKind
	left int // requests still to fault; -1 for all
	hits int
}

func (f *faults) set(op string, kind faultKind, times int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.op, f.kind, f.left, f.hits = op, kind, times, 0
}

func (f *faults) clear() { f.set("", "", 0) }

func (f *faults) RoundTrip(req *http.Request) (*http.Response, error) {
	op := strings.TrimPrefix(req.Header.Get("X-Amz-Target"), "DynamoDB_20120810.")
	f.mu.Lock()
	hit := f.left != 0 && (f.op == "" || f.op == op)
	kind := f.kind
	if hit {
		f.hits++
		if f.left > 0 {
			f.left--
		}
	}
	f.mu.Unlock()
	if !hit {
		return f.base.RoundTrip(req)
	}
	switch kind {
	case throttle:
		return awsError(req, 400, "ProvisionedThroughputExceededException"), nil
	case err500:
		return awsError(req, 500, "InternalServerError"), nil
	case err503:
		return awsError(req, 503, "ServiceUnavailable"), nil
	case hang:
		<-req.Context().Done()
		return nil, req.Context().Err()
	case lostAck:
		res, err := f.base.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return awsError(req, 500, "InternalServerError"), nil
	}
	return nil, fmt.Errorf("unknown fault %q", kind)
}

func awsError(req *http.Request, status int, code string) *http.Response {
	body := fmt.Sprintf(`{"__type":"com.amazonaws.dynamodb.v20120810#%s","message":"injected"}`, code)
	return &http.Response{
		StatusCode: status, Status: fmt.Sprintf("%d %s", status, http.StatusText(status)), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:  http.Header{"Content-Type": {"application/x-amz-json-1.0"}, "X-Amzn-Requestid": {"injected"}},
		Body:    io.NopCloser(bytes.NewReader([]byte(body))),
		Request: req, ContentLength: int64(len(body)),
	}
}

// snapshot is the state a failed call must leave untouched.
type snapshot struct {
	accessCount int64
	status      vsecure.Status
	entries     int
	readEntries int
}

func take(t *testing.T, s vsecure.Store, uri, approvalID string) snapshot {
	t.Helper()
	ctx := context.Background()
	u, _ := vsecure.ParseURI(uri)
	// The listing's count: exact before the indexer has run.
	secrets, _, err := s.ListSecrets(ctx, u.String(), "", 1)
	if err != nil || len(secrets) != 1 {
		t.Fatalf("ListSecrets: %v %+v", err, secrets)
	}
	a, err := s.GetApproval(ctx, approvalID)
	if err != nil {
		t.Fatal(err)
	}
	var sn snapshot
	sn.accessCount, sn.status = secrets[0].AccessCount, a.Status
	seen := map[string]bool{}
	cursor := ""
	for {
		page, next, err := s.QueryAudit(ctx, vsecure.AuditFilter{}, cursor, 500)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			if seen[e.ID] {
				t.Fatalf("audit entry %s listed twice", e.ID)
			}
			seen[e.ID] = true
			sn.entries++
			if e.Operation == vsecure.AuditRead && e.Success {
				sn.readEntries++
			}
		}
		if next == "" {
			return sn
		}
		cursor = next
	}
}

// TestFaults injects throttling, 5xx and timeouts into the DynamoDB client
// at the HTTP layer. The bounded retryer gives up, the gate answers 503
// (unavailable or audit_unavailable), and nothing is half-written: no read
// counted without its entry, no decision stored without its entry, and no
// entry lost or duplicated when DynamoDB committed but its answer was lost.
func TestFaults(t *testing.T) {
	f := &faults{base: http.DefaultTransport.(*http.Transport).Clone()}
	db := client(t, func(o *dynamodb.Options) {
		o.HTTPClient = &http.Client{Transport: f, Timeout: 300 * time.Millisecond}
	})
	s := newStore(t, db)
	w := newWorld(t, s)
	granted := w.approve(t)
	pending, err := w.g.RequestApproval(t.Context(), w.agent, api.ApprovalRequest{Resource: "vsecure://secrets/production/OTHER", Operation: "read"})
	if err != nil {
		t.Fatal(err)
	}
	uri := w.uri.String()
	unavailable := func(err error) bool {
		return vsecure.IsCode(err, vsecure.EUnavailable) || vsecure.IsCode(err, vsecure.EAuditUnavailable)
	}

	for _, kind := range []faultKind{throttle, err500, err503, hang} {
		// A read writes its entry with PutItem, a decision with
		// TransactWriteItems: each is faulted where it can fail.
		for _, op := range []string{"", "PutItem", "TransactWriteItems", "BatchGetItem"} {
			t.Run(fmt.Sprintf("%s_on_%s", kind, cmp(op, "every_call")), func(t *testing.T) {
				before := take(t, s, uri, pending.ID)
				f.set(op, kind, -1)
				var rerr, derr error = vsecure.Errorf(vsecure.EUnavailable, "not tried"), vsecure.Errorf(vsecure.EUnavailable, "not tried")
				if op != "TransactWriteItems" {
					_, rerr = w.g.ReadSecret(t.Context(), w.agent, w.uri, 0)
				}
				if op == "" || op == "TransactWriteItems" { // a decision reads with GetItem
					_, derr = w.g.Decide(t.Context(), w.alice, pending.ID, api.Respond{Action: "approve"})
				}
				hits := f.hits
				f.clear()
				if !unavailable(rerr) || !unavailable(derr) {
					t.Fatalf("read: %v; decide: %v; want 503 codes", rerr, derr)
				}
				// At most 3 attempts for each of 5 calls: the read's two
				// BatchGetItems and its refusal's audit put, the decision's
				// GetItem and its audit put.
				if op == "" && (hits < 3 || hits > 15) {
					t.Fatalf("%d faulted requests: the retryer is not bounded as configured", hits)
				}
				after := take(t, s, uri, pending.ID)
				if op == "BatchGetItem" {
					// The refused read is itself audited (PutItem works).
					before.entries++
				}
				if after != before {
					t.Fatalf("state changed by failed calls:\n before %+v\n after  %+v", before, after)
				}
			})
		}
	}

	t.Run("transient_throttle_is_retried_once_written", func(t *testing.T) {
		before := take(t, s, uri, pending.ID)
		f.set("PutItem", throttle, 2)
		r, err := w.g.ReadSecret(t.Context(), w.agent, w.uri, 0)
		f.clear()
		if err != nil || r.ApprovalID != granted.ID {
			t.Fatalf("read after two throttles: %v", err)
		}
		after := take(t, s, uri, pending.ID)
		if after.accessCount != before.accessCount+1 || after.readEntries != before.readEntries+1 || after.entries != before.entries+1 {
			t.Fatalf("before %+v after %+v: want one read, one entry", before, after)
		}
	})

	t.Run("lost_ack_is_not_written_twice", func(t *testing.T) {
		before := take(t, s, uri, pending.ID)
		f.set("PutItem", lostAck, 1)
		_, err := w.g.ReadSecret(t.Context(), w.agent, w.uri, 0)
		f.clear()
		after := take(t, s, uri, pending.ID)
		// DynamoDB committed the first attempt; the SDK's retry finds the
		// very item it wrote (ALL_OLD on the failed condition): success,
		// and written once.
		if err != nil {
			t.Fatalf("read whose first answer was lost: %v", err)
		}
		if after.accessCount != before.accessCount+1 || after.readEntries != before.readEntries+1 || after.entries != before.entries+1 {
			t.Fatalf("before %+v after %+v: want exactly one read and one entry", before, after)
		}
	})
}

func cmp(a, b string) string {
	if a == "" {
		return b
	}
	return a
}

// TestSealOutcomes: a put whose outcome is unknown retires its chain, and
// the next epoch names the retired one as ambiguous; a put that committed
// but whose answer was lost still advances the chain.
func TestSealOutcomes(t *testing.T) {
	f := &faults{base: http.DefaultTransport.(*http.Transport).Clone()}
	db := client(t, func(o *dynamodb.Options) {
		o.HTTPClient = &http.Client{Transport: f, Timeout: 5 * time.Second}
	})
	keys := storetest.MACKeys(t)
	s := newStore(t, db, dynamo.WithSeal(keys, "test", 1), dynamo.WithAuditPutBudget(0))
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	entry := func() vsecure.Entry {
		at = at.Add(time.Second)
		return vsecure.Entry{ID: storetest.NewID("log_", at), Timestamp: at, Operation: vsecure.AuditListSecrets, Actor: "admin", Success: true}
	}
	ctx := t.Context()
	if err := s.AppendAudit(ctx, entry()); err != nil {
		t.Fatal(err)
	}
	f.set("PutItem", lostAck, 1)
	err := s.AppendAudit(ctx, entry())
	f.clear()
	if err != nil {
		t.Fatalf("append whose first answer was lost: %v", err)
	}
	first := storetest.Chains(t, ctx, s, keys)
	if len(first) != 1 {
		t.Fatalf("a lost answer of a committed put opened %d epochs, want 1", len(first))
	}
	var old string
	for name := range first {
		old = name
	}
	f.set("PutItem", err500, -1)
	err = s.AppendAudit(ctx, entry())
	f.clear()
	if !vsecure.IsCode(err, vsecure.EUnavailable) {
		t.Fatalf("append on 500s: %v, want unavailable", err)
	}
	if err := s.AppendAudit(ctx, entry()); err != nil {
		t.Fatal(err)
	}
	epochs := storetest.Chains(t, ctx, s, keys)
	if len(epochs) != 2 || len(epochs[old].Records) != 3 {
		t.Fatalf("%d epochs (old one %d records); want the old one retired with 3 and a new one", len(epochs), len(epochs[old].Records))
	}
	for name, ep := range epochs {
		if name == old {
			continue
		}
		md := ep.Opening.Metadata
		if md[auditlog.MetaPrevEpoch] != old || md[auditlog.MetaPrevNext] != "3" || md[dynamo.MetaPrevAmbiguous] != "true" {
			t.Fatalf("new epoch's opening entry %v: want previousEpoch %s, previousNext 3, previousAmbiguous", md, old)
		}
		if len(ep.Records) != 2 {
			t.Fatalf("new epoch has %d records, want 2", len(ep.Records))
		}
	}
}
