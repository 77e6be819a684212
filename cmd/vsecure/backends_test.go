package main

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// TestBackendsDynamoDB builds the `vsecure dev --store dynamodb` backends
// from the standard AWS endpoint variables, against the emulators.
func TestBackendsDynamoDB(t *testing.T) {
	ddb, kms, key := os.Getenv("VSECURE_TEST_DYNAMODB_ENDPOINT"), os.Getenv("VSECURE_TEST_KMS_ENDPOINT"), os.Getenv("VSECURE_TEST_KMS_KEY_ID")
	if ddb == "" || kms == "" || key == "" {
		t.Fatal("VSECURE_TEST_DYNAMODB_ENDPOINT, VSECURE_TEST_KMS_ENDPOINT and VSECURE_TEST_KMS_KEY_ID are not set: " +
			"run the tests with `make test` or `.ci/emulators.sh run go test ./...`")
	}
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", ddb)
	t.Setenv("AWS_ENDPOINT_URL_KMS", kms)
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_PROFILE", "")
	table := fmt.Sprintf("dev%d", time.Now().UnixNano())
	env := map[string]string{
		"AWS_ENDPOINT_URL_DYNAMODB": ddb, "VSECURE_TABLE": table, "VSECURE_AUDIT_TABLE": table + "-audit",
		"VSECURE_CREATE_TABLES": "true", "VSECURE_KMS_KEY_ID": key,
	}
	store, sealer, err := backends(t.Context(), "dynamodb", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.ListPolicies(t.Context()); err != nil {
		t.Fatalf("ListPolicies: %v", err)
	}
	sc := vsecure.SealContext{URI: "vsecure://secrets/dev/X", Version: 1}
	sd, err := sealer.Seal(t.Context(), []byte("v"), sc)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	if got, err := sealer.Open(t.Context(), sd, sc); err != nil || string(got) != "v" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, _, err := backends(t.Context(), "postgres", func(string) string { return "" }); err == nil {
		t.Fatal("unknown store accepted")
	}
	if s, _, err := backends(t.Context(), "embedded", func(string) string { return "" }); s != nil || err != nil {
		t.Fatalf("embedded: %v %v", s, err)
	}
}
