// Package stores opens fresh, empty stores of both kinds for tests that
// must hold on bbolt and on DynamoDB Local alike but live above the store
// layer (gate, devserver). The conformance suite itself is storetest.
package stores

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/vsecure/vsecure/shared/store/dynamo"
	"github.com/vsecure/vsecure/shared/store/embedded"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// Opener opens a fresh, empty store for one (sub)test. The store outlives
// whatever the test builds on it, so a test can read it after shutdown.
type Opener func(*testing.T) vsecure.Store

// Both runs fn once per store kind: "embedded" (a bbolt file in a temp
// dir) and "dynamodb" (new tables on the DynamoDB Local that
// VSECURE_TEST_DYNAMODB_ENDPOINT names; the subtest fails without it).
// VSECURE_TEST_STORES=embedded leaves the dynamodb half out: `make mutate`
// runs the package's tests once per mutant and starts no emulator; every
// other run keeps both and fails without DynamoDB Local.
func Both(t *testing.T, fn func(t *testing.T, open Opener)) {
	t.Run("embedded", func(t *testing.T) {
		fn(t, func(t *testing.T) vsecure.Store {
			st, err := embedded.Open(filepath.Join(t.TempDir(), "vsecure.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		})
	})
	if os.Getenv("VSECURE_TEST_STORES") == "embedded" {
		return
	}
	t.Run("dynamodb", func(t *testing.T) {
		ep := os.Getenv("VSECURE_TEST_DYNAMODB_ENDPOINT")
		if ep == "" {
			t.Fatal("VSECURE_TEST_DYNAMODB_ENDPOINT is not set: run the tests with `make test` or " +
				"`.ci/emulators.sh run go test ./...`, which start DynamoDB Local")
		}
		o := dynamodb.Options{
			Region: "us-east-1", BaseEndpoint: aws.String(ep),
			Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
			HTTPClient:  &http.Client{Timeout: 60 * time.Second},
		}
		dynamo.ClientOptions(&o)
		db := dynamodb.New(o)
		fn(t, func(t *testing.T) vsecure.Store {
			base := fmt.Sprintf("t%d-%d", time.Now().UnixNano()%1e9, seq.Add(1))
			if err := dynamo.CreateTables(t.Context(), db, base, base+"-audit"); err != nil {
				t.Fatal(err)
			}
			// The tests above the store run fixed clocks: no put budget.
			st, err := dynamo.New(db, base, base+"-audit", dynamo.WithAuditPutBudget(0))
			if err != nil {
				t.Fatal(err)
			}
			return st
		})
	})
}

var seq atomic.Int64
