package dynamo_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/vsecure/vsecure/internal/ddbcapacity"
	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/crypto/local"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/store/dynamo/schema"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// calls counts SDK operations (not HTTP attempts: the Initialize step runs
// once per call, before the retryer).
type calls struct {
	mu      sync.Mutex
	n       map[string]int
	batches []batchGet
}

func (c *calls) option(o *dynamodb.Options) {
	o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("vsecureCount",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				c.mu.Lock()
				c.n[awsmiddleware.GetOperationName(ctx)]++
				c.mu.Unlock()
				return next.HandleInitialize(ctx, in)
			}), middleware.Before)
	})
}

// batchGet is one BatchGetItem as sent: its consistency and the kind of
// each key ("POLICY", "SECRET/HEAD", "SECRET/LATEST", "SECRET/V", "GRANT",
// "KEY", "APPR"), sorted.
type batchGet struct {
	consistent bool
	kinds      []string
}

func (b batchGet) String() string {
	c := "eventual"
	if b.consistent {
		c = "strong"
	}
	return c + "[" + strings.Join(b.kinds, " ") + "]"
}

// recordBatchGets remembers every BatchGetItem, to show which items a
// decision fetched together and how consistently.
func (c *calls) recordBatchGets(o *dynamodb.Options) {
	o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("vsecureBatchKeys",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				if bg, ok := in.Parameters.(*dynamodb.BatchGetItemInput); ok {
					for _, ka := range bg.RequestItems {
						b := batchGet{consistent: ka.ConsistentRead != nil && *ka.ConsistentRead}
						for _, k := range ka.Keys {
							pk, _ := k[schema.PK].(*types.AttributeValueMemberS)
							sk, _ := k[schema.SK].(*types.AttributeValueMemberS)
							if pk == nil || sk == nil {
								continue
							}
							kind, _, _ := strings.Cut(pk.Value, "#")
							if kind == "SECRET" {
								s, _, _ := strings.Cut(sk.Value, "#")
								kind += "/" + s
							}
							b.kinds = append(b.kinds, kind)
						}
						slices.Sort(b.kinds)
						c.mu.Lock()
						c.batches = append(c.batches, b)
						c.mu.Unlock()
					}
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.Before)
	})
}

// takeBatches returns and forgets the BatchGetItems recorded so far,
// strongly consistent ones first.
func (c *calls) takeBatches() []batchGet {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.batches
	c.batches = nil
	slices.SortStableFunc(out, func(a, b batchGet) int {
		if a.consistent == b.consistent {
			return 0
		}
		if a.consistent {
			return -1
		}
		return 1
	})
	return out
}

func (c *calls) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.n
	c.n = map[string]int{}
	return out
}

func render(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s×%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

// world is a gate over a dynamo store with a policy, a secret and keys.
type world struct {
	g                    *gate.Gate
	admin, agent, alice  gate.Call
	uri                  vsecure.URI
	adminKey, agentToken string
}

func newWorld(t testing.TB, s vsecure.Store) *world {
	t.Helper()
	ctx := t.Context()
	sealer, err := local.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	g, err := gate.New(gate.Config{Store: s, Sealer: sealer, CursorKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	w := &world{g: g}
	w.uri, _ = vsecure.ParseURI("vsecure://secrets/production/DATABASE_URL")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// Each principal holds a real key: secret reads and writes check the
	// caller's key record, not only the roles a principal claims.
	bootstrap := gate.Call{Principal: vsecure.Principal{ID: "bootstrap", Roles: []vsecure.Role{vsecure.RoleAdmin}}}
	call := func(principal string, role vsecure.Role) (gate.Call, string) {
		t.Helper()
		k, err := g.CreateKey(ctx, bootstrap, api.KeyRequest{Principal: principal, Roles: []string{string(role)}})
		must(err)
		return gate.Call{Principal: vsecure.Principal{ID: principal, Roles: k.Roles, KeyID: k.ID}}, k.Secret
	}
	w.admin, w.adminKey = call("admin", vsecure.RoleAdmin)
	w.agent, _ = call("agent-1", vsecure.RoleAgent)
	w.alice, _ = call("alice", vsecure.RoleApprover)
	_, err = g.ConfigurePolicy(ctx, w.admin, vsecure.Policy{
		URI: "vsecure://secrets/production/*", Permissions: []vsecure.Operation{vsecure.OpRead, vsecure.OpWrite},
		RequiresApproval: true, Approvers: []string{"alice", "bob"},
	})
	must(err)
	val := "postgres://app:pw@db/app"
	_, err = g.WriteSecret(ctx, w.admin, w.uri, api.SecretWrite{Value: &val})
	must(err)
	return w
}

// approve requests read access as the agent and approves it as alice.
func (w *world) approve(t testing.TB) api.ApprovalView {
	t.Helper()
	a, err := w.g.RequestApproval(t.Context(), w.agent, api.ApprovalRequest{Resource: w.uri.String(), Operation: "read", Reason: "deploy"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := w.g.Decide(t.Context(), w.alice, a.ID, api.Respond{Action: "approve"})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestRoundTrips holds every API operation to its DynamoDB call budget,
// counted by SDK middleware: a read decision is two parallel BatchGetItems
// (one round trip of latency) split by consistency, every
// state change one TransactWriteItems with its audit entry, a list page one
// Query, and nothing ever scans.
func TestRoundTrips(t *testing.T) {
	c := &calls{n: map[string]int{}}
	s := newStore(t, client(t, c.option, c.recordBatchGets))
	w := newWorld(t, s)
	ctx := t.Context()
	prodPattern, _ := vsecure.ParseURI("vsecure://secrets/production/*")
	var approvalID, token string
	var tokenCall gate.Call
	// A decision reads in two BatchGetItems sent together: strongly
	// consistent what revocation depends on (the grant, the caller's key,
	// a token's approval), eventually consistent the policy candidates,
	// the head and the value (docs/SECURITY.md "Read consistency"). The
	// policy candidates come from the process's cache while the policy-set
	// version (POLICYSET) has not moved: newWorld's write warmed it.
	shape := func(strong, value string) string {
		return "strong[" + strong + "] + eventual[POLICYSET SECRET/HEAD " + value + "]"
	}
	steps := []struct {
		name  string
		do    func() error
		want  map[string]int
		reads string // the BatchGetItems, as batchGet renders them
	}{
		// The first use of a key in a minute records its last use (two
		// Updates in one transaction); every other use only reads.
		{"authenticate (first use a minute)", func() error {
			_, err := w.g.Authenticate(ctx, w.adminKey, gate.Call{})
			return err
		}, map[string]int{"GetItem": 1, "TransactWriteItems": 1}, ""},
		{"authenticate (API key)", func() error {
			_, err := w.g.Authenticate(ctx, w.adminKey, gate.Call{})
			return err
		}, map[string]int{"GetItem": 1}, ""},
		// The read decision, the requester's rate bucket (a GetItem and
		// the PutItem that takes its token: vsecure.ApprovalRequestLimit),
		// then the approval with its entry.
		{"request approval", func() error {
			a, err := w.g.RequestApproval(ctx, w.agent, api.ApprovalRequest{Resource: w.uri.String(), Operation: "read", Reason: "deploy"})
			approvalID = a.ID
			return err
		}, map[string]int{"BatchGetItem": 2, "GetItem": 1, "PutItem": 1, "TransactWriteItems": 1}, shape("GRANT", "SECRET/LATEST")},
		{"decide (approve)", func() error {
			a, err := w.g.Decide(ctx, w.alice, approvalID, api.Respond{Action: "approve"})
			token = a.AccessToken
			return err
		}, map[string]int{"GetItem": 1, "TransactWriteItems": 1}, ""},
		{"read secret (latest)", func() error {
			_, err := w.g.ReadSecret(ctx, w.agent, w.uri, 0)
			return err
		}, map[string]int{"BatchGetItem": 2, "PutItem": 1}, shape("GRANT KEY", "SECRET/LATEST")}, // the audit entry is the read's only write
		{"read secret (version 1)", func() error {
			_, err := w.g.ReadSecret(ctx, w.agent, w.uri, 1)
			return err
		}, map[string]int{"BatchGetItem": 2, "PutItem": 1}, shape("GRANT KEY", "SECRET/V")},
		{"authenticate (access token)", func() error {
			if token == "" {
				return fmt.Errorf("no access token issued")
			}
			p, err := w.g.Authenticate(ctx, token, gate.Call{})
			tokenCall = gate.Call{Principal: p}
			return err
		}, map[string]int{"GetItem": 2}, ""}, // the token, then the key that requested it
		{"read secret (access token)", func() error {
			_, err := w.g.ReadSecret(ctx, tokenCall, w.uri, 0)
			return err
		}, map[string]int{"BatchGetItem": 2, "PutItem": 1}, shape("APPR GRANT KEY", "SECRET/LATEST")},
		{"write secret", func() error {
			v := "postgres://app:pw2@db/app"
			_, err := w.g.WriteSecret(ctx, w.admin, w.uri, api.SecretWrite{Value: &v})
			return err
		}, map[string]int{"BatchGetItem": 2, "TransactWriteItems": 1}, shape("GRANT KEY", "SECRET/LATEST")},
		{"list approvals (agent page)", func() error {
			_, _, err := w.g.ListApprovals(ctx, w.agent, gate.ApprovalQuery{Limit: 10})
			return err
		}, map[string]int{"Query": 1, "PutItem": 1}, ""},
		{"list approvals (admin, pending)", func() error {
			_, _, err := w.g.ListApprovals(ctx, w.admin, gate.ApprovalQuery{Status: "pending", Limit: 10})
			return err
		}, map[string]int{"Query": 1, "PutItem": 1}, ""},
		{"list secrets (admin page)", func() error {
			_, _, err := w.g.ListSecrets(ctx, w.admin, &prodPattern, "", 10)
			return err
		}, map[string]int{"Query": 18, "PutItem": 1}, ""}, // the page, the watermark, the 16 shards' unindexed tail
		{"audit by resource pattern", func() error {
			_, _, err := w.g.QueryAudit(ctx, w.admin, gate.AuditQuery{Filter: vsecure.AuditFilter{Resource: "vsecure://secrets/production/*"}, Limit: 5})
			return err
		}, map[string]int{"Query": 17, "PutItem": 1}, ""}, // the watermark, the tail of 16 shards (nothing indexed yet)
		{"audit by actor", func() error {
			_, _, err := w.g.QueryAudit(ctx, w.admin, gate.AuditQuery{Filter: vsecure.AuditFilter{Actor: "agent-1"}, Limit: 5})
			return err
		}, map[string]int{"Query": 17, "PutItem": 1}, ""},
		{"index the log", func() error {
			st, err := s.IndexAudit(ctx, time.Now().Add(time.Hour))
			if err == nil && st.Entries == 0 {
				err = fmt.Errorf("nothing indexed")
			}
			return err
			// The watermark, the 16 shards' oldest entries (a first pass
			// only), the claim, the window from 16 shards; the claim's Put,
			// the segments, an UpdateItem per read secret (one here), the
			// watermark's Put.
		}, map[string]int{"Query": 34, "PutItem": 2, "BatchWriteItem": 1, "UpdateItem": 1}, ""},
		{"audit by actor (indexed)", func() error {
			_, _, err := w.g.QueryAudit(ctx, w.admin, gate.AuditQuery{Filter: vsecure.AuditFilter{Actor: "agent-1"}, Limit: 5})
			return err
		}, map[string]int{"Query": 18, "BatchGetItem": 1, "PutItem": 1}, "eventual[T T T T T]"}, // + the segments, then their entries (immutable: eventually consistent)
		// Each shard is asked for limit/16+2 entries and read again only
		// if the page needs more of it: at limit 1 (2 entries wanted) never.
		{"audit, time only", func() error {
			_, _, err := w.g.QueryAudit(ctx, w.admin, gate.AuditQuery{Limit: 1})
			return err
		}, map[string]int{"Query": 16, "PutItem": 1}, ""},
		{"get approval", func() error {
			_, err := w.g.GetApproval(ctx, w.agent, approvalID)
			return err
		}, map[string]int{"GetItem": 1, "PutItem": 1}, ""},
		{"revoke", func() error {
			_, err := w.g.Revoke(ctx, w.alice, approvalID)
			return err
		}, map[string]int{"GetItem": 1, "TransactWriteItems": 1}, ""},
		{"refused read (after revoke)", func() error {
			_, err := w.g.ReadSecret(ctx, w.agent, w.uri, 0)
			if !vsecure.IsCode(err, vsecure.EApprovalRequired) {
				return fmt.Errorf("got %v, want approval_required", err)
			}
			return nil
		}, map[string]int{"BatchGetItem": 2, "PutItem": 1}, shape("GRANT KEY", "SECRET/LATEST")},
	}
	c.take()
	c.takeBatches()
	var table strings.Builder
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		got := c.take()
		var reads []string
		for _, b := range c.takeBatches() {
			reads = append(reads, b.String())
		}
		fmt.Fprintf(&table, "  %-32s %s %s\n", st.name, render(got), strings.Join(reads, " + "))
		if r := strings.Join(reads, " + "); r != st.reads {
			t.Errorf("%s: reads %s, want %s", st.name, r, st.reads)
		}
		if got["Scan"] > 0 {
			t.Errorf("%s scanned", st.name)
		}
		if !maps.Equal(got, st.want) {
			t.Errorf("%s: calls %s, want %s", st.name, render(got), render(st.want))
		}
	}
	t.Logf("DynamoDB calls per API operation:\n%s", table.String())
}

// capacity sums consumed capacity per DynamoDB API operation.
type capacity struct {
	mu       sync.Mutex
	rru, wru map[string]float64
}

func (c *capacity) record(op string, cc []types.ConsumedCapacity) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, x := range cc {
		if x.ReadCapacityUnits != nil {
			c.rru[op] += *x.ReadCapacityUnits
		}
		if x.WriteCapacityUnits != nil {
			c.wru[op] += *x.WriteCapacityUnits
		}
		if x.ReadCapacityUnits == nil && x.WriteCapacityUnits == nil && x.CapacityUnits != nil {
			if strings.Contains(op, "Get") || op == "Query" || op == "Scan" {
				c.rru[op] += *x.CapacityUnits
			} else {
				c.wru[op] += *x.CapacityUnits
			}
		}
	}
}

func (c *capacity) take() (map[string]float64, map[string]float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, w := c.rru, c.wru
	c.rru, c.wru = map[string]float64{}, map[string]float64{}
	return r, w
}

// TestCapacity measures ReturnConsumedCapacity (table and indexes) of an
// audited read, an approval request and a decision, for the cost model.
// DynamoDB Local reports what DynamoDB would charge for the item sizes.
func TestCapacity(t *testing.T) {
	cap := &capacity{rru: map[string]float64{}, wru: map[string]float64{}}
	s := newStore(t, client(t, ddbcapacity.Record(cap.record)))
	w := newWorld(t, s)
	ctx := t.Context()
	cap.take()
	var lines []string
	measure := func(name string, do func() error) {
		t.Helper()
		if err := do(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		r, wr := cap.take()
		var rs, ws float64
		for _, v := range r {
			rs += v
		}
		for _, v := range wr {
			ws += v
		}
		lines = append(lines, fmt.Sprintf("  %-22s RRU %5.1f  WRU %5.1f   (read %v, write %v)", name, rs, ws, r, wr))
		if rs+ws == 0 {
			t.Errorf("%s: no consumed capacity reported", name)
		}
	}
	var id string
	measure("approval request", func() error {
		a, err := w.g.RequestApproval(ctx, w.agent, api.ApprovalRequest{Resource: w.uri.String(), Operation: "read"})
		id = a.ID
		return err
	})
	measure("decision (approve)", func() error {
		_, err := w.g.Decide(ctx, w.alice, id, api.Respond{Action: "approve"})
		return err
	})
	measure("audited secret read", func() error {
		_, err := w.g.ReadSecret(ctx, w.agent, w.uri, 0)
		return err
	})
	// The read's only write is its entry: one PutItem of one 1 KB unit,
	// with no index to pay for.
	if got := lastWRU(lines); got != 1 {
		t.Errorf("an audited read's write consumed %v WRU, want 1: %s", got, lines[len(lines)-1])
	}
	sort.Strings(lines)
	t.Logf("consumed capacity (2 approvers, ~100-byte secret):\n%s", strings.Join(lines, "\n"))
}

// lastWRU is the write units of the last measured line.
func lastWRU(lines []string) float64 {
	var r, w float64
	l := lines[len(lines)-1]
	if i := strings.Index(l, "RRU"); i >= 0 {
		fmt.Sscanf(l[i:], "RRU %f  WRU %f", &r, &w)
	}
	return w
}

// BenchmarkAuditedRead is LoadAccess + RecordRead through the gate (policy,
// grant check, local unseal, audit) against DynamoDB Local; it reports
// p50 and p99 latency.
func BenchmarkAuditedRead(b *testing.B) {
	s := newStore(b, client(b))
	w := newWorld(b, s)
	w.approve(b)
	ctx := b.Context()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if _, err := w.g.ReadSecret(ctx, w.agent, w.uri, 0); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
