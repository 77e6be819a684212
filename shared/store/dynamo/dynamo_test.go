package dynamo_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/vsecure/vsecure/shared/auditlog"
	"github.com/vsecure/vsecure/shared/store/dynamo"
	"github.com/vsecure/vsecure/shared/store/storetest"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// endpoint is DynamoDB Local's URL; .ci/emulators.sh starts it and exports
// it. Without it the tests fail: a skipped store suite proves nothing.
func endpoint(t testing.TB) string {
	t.Helper()
	ep := os.Getenv("VSECURE_TEST_DYNAMODB_ENDPOINT")
	if ep == "" {
		t.Fatal("VSECURE_TEST_DYNAMODB_ENDPOINT is not set: run the tests with `make test` or " +
			"`.ci/emulators.sh run go test ./...`, which start DynamoDB Local")
	}
	return ep
}

// client returns a DynamoDB client for the emulator with the store's
// bounded retryer; opts adjust it (an HTTP client, middleware).
func client(t testing.TB, opts ...func(*dynamodb.Options)) *dynamodb.Client {
	o := dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint(t)),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		// Generous: DynamoDB Local under the whole suite in parallel with
		// -race can stall for seconds; latency is not what these tests test.
		HTTPClient: &http.Client{Timeout: 60 * time.Second},
	}
	dynamo.ClientOptions(&o)
	for _, f := range opts {
		f(&o)
	}
	return dynamodb.New(o)
}

var tableSeq atomic.Int64

// tables creates a fresh pair of tables from the schema and returns their
// names.
func tables(t testing.TB, db *dynamodb.Client) (string, string) {
	t.Helper()
	n := tableSeq.Add(1)
	base := fmt.Sprintf("t%d-%d", time.Now().UnixNano()%1e9, n)
	if err := dynamo.CreateTables(t.Context(), db, base, base+"-audit"); err != nil {
		t.Fatalf("create tables: %v", err)
	}
	return base, base + "-audit"
}

func newStore(t testing.TB, db *dynamodb.Client, opts ...dynamo.Option) *dynamo.Store {
	t.Helper()
	table, audit := tables(t, db)
	s, err := dynamo.New(db, table, audit, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fixtures are the options of a store under the suites, whose entries
// carry a fixed test clock's timestamps: no put budget (the entries are
// months old), and an indexer that indexes up to the given now at once.
var fixtures = []dynamo.Option{dynamo.WithAuditPutBudget(0), dynamo.WithIndexTiming(0, 0, 0)}

// flushing is a store whose reads the suite can have counted
// (storetest.AuditFlusher): it runs indexer passes until none is left.
type flushing struct{ *dynamo.Store }

func (f flushing) FlushAudit(ctx context.Context, now time.Time) error {
	for range 1000 {
		st, err := f.IndexAudit(ctx, now)
		if err != nil || st.Entries == 0 {
			return err
		}
	}
	return errors.New("FlushAudit: the indexer never caught up")
}

func TestConformance(t *testing.T) {
	db := client(t)
	storetest.Run(t, func(t *testing.T) vsecure.Store { return flushing{newStore(t, db, fixtures...)} })
}

func TestSealConformance(t *testing.T) {
	db := client(t)
	storetest.RunSeal(t, func(t *testing.T, keys auditlog.MACKeys) vsecure.Store {
		return flushing{newStore(t, db, append(fixtures, dynamo.WithSeal(keys, "test", 4))...)}
	})
}
