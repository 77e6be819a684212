//go:build aws

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/auditindex"
	"github.com/vsecure/vsecure/shared/auditlog"
	cryptokms "github.com/vsecure/vsecure/shared/crypto/kms"
	cryptolocal "github.com/vsecure/vsecure/shared/crypto/local"
	"github.com/vsecure/vsecure/shared/store/storetest"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// TestBackendsDynamoDB builds the `vsecure dev --store dynamodb` backends
// from the standard AWS endpoint variables, against the emulators.
func TestBackendsDynamoDB(t *testing.T) {
	env := devDynamoEnv(t, "dev", "VSECURE_KMS_KEY_ID", "VSECURE_TEST_KMS_KEY_ID")
	keys := t.TempDir()
	b, err := backends(t.Context(), "dynamodb", keys, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	store, sealer := b.store, b.sealer
	// The server runs the store's audit indexer (the embedded store has none).
	if b.indexer == nil || b.indexer != store.(auditindex.Indexer) {
		t.Fatalf("indexer %v, want the DynamoDB store's", b.indexer)
	}
	if _, err := store.ListPolicies(t.Context()); err != nil {
		t.Fatalf("ListPolicies: %v", err)
	}
	// The store seals its entries, with MAC keys wrapped by the keys dir's
	// audit-mac.key; the devserver's digest step gets the same keys.
	local, err := cryptolocal.LoadMACKeys(keys)
	if err != nil {
		t.Fatal(err)
	}
	if b.macKeys == nil || b.macKeys.(*cryptolocal.MACKeys).KeyID() != local.KeyID() {
		t.Fatalf("MAC keys %v, want the keys dir's %s", b.macKeys, local.KeyID())
	}
	wantSealed(t, store, b.macKeys, "log_dev_local")
	sc := vsecure.SealContext{URI: "vsecure://secrets/dev/X", Version: 1}
	sd, err := sealer.Seal(t.Context(), []byte("v"), sc)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	if got, err := sealer.Open(t.Context(), sd, sc); err != nil || string(got) != "v" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := backends(t.Context(), "postgres", keys, func(string) string { return "" }); err == nil {
		t.Fatal("unknown store accepted")
	}
	if e, err := backends(t.Context(), "embedded", keys, func(string) string { return "" }); e != (backend{}) || err != nil {
		t.Fatalf("embedded: %v %v", e, err)
	}
}

// With VSECURE_AUDIT_MAC_KEY_ID the dynamodb store's MAC keys come from
// KMS (local-kms here), as in the stack.
func TestBackendsDynamoDBKMSMACKeys(t *testing.T) {
	env := devDynamoEnv(t, "devkms", "VSECURE_AUDIT_MAC_KEY_ID", "VSECURE_TEST_AUDIT_MAC_KEY_ID")
	keys := t.TempDir()
	b, err := backends(t.Context(), "dynamodb", keys, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := b.macKeys.(*cryptokms.MACKeys); !ok {
		t.Fatalf("MAC keys %T, want KMS ones", b.macKeys)
	}
	if _, err := os.Stat(filepath.Join(keys, cryptolocal.MACKeyFile)); err == nil {
		t.Fatal("a local MAC key was made although KMS holds them")
	}
	wantSealed(t, b.store, b.macKeys, "log_dev_kms")
}

// wantSealed appends an entry to store and checks that it is sealed in an
// epoch keys can open.
func wantSealed(t *testing.T, store vsecure.Store, keys auditlog.MACKeys, id string) {
	t.Helper()
	e := vsecure.Entry{ID: id, Timestamp: time.Now().UTC(), Operation: vsecure.AuditListSecrets, Actor: "dev", Success: true}
	if err := store.AppendAudit(t.Context(), e); err != nil {
		t.Fatalf("AppendAudit: %v", err)
	}
	for _, ep := range storetest.Chains(t, t.Context(), store, keys) {
		for _, r := range ep.Records {
			if r.Entry.ID == id {
				return
			}
		}
	}
	t.Fatalf("entry %s is in no sealed chain", id)
}

// devDynamoEnv points the AWS SDK at the emulators and returns the
// environment of `vsecure dev --store dynamodb` on fresh tables named
// after prefix, with variable key set to the emulator's key named by the
// test variable testKey.
func devDynamoEnv(t *testing.T, prefix, key, testKey string) map[string]string {
	t.Helper()
	ddb, kms, id := os.Getenv("VSECURE_TEST_DYNAMODB_ENDPOINT"), os.Getenv("VSECURE_TEST_KMS_ENDPOINT"), os.Getenv(testKey)
	if ddb == "" || kms == "" || id == "" {
		t.Fatalf("VSECURE_TEST_DYNAMODB_ENDPOINT, VSECURE_TEST_KMS_ENDPOINT and %s are not set: "+
			"run the tests with `make test` or `.ci/emulators.sh run go test ./...`", testKey)
	}
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", ddb)
	t.Setenv("AWS_ENDPOINT_URL_KMS", kms)
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_PROFILE", "")
	table := fmt.Sprintf("%s%d", prefix, time.Now().UnixNano())
	return map[string]string{
		"AWS_ENDPOINT_URL_DYNAMODB": ddb, "VSECURE_TABLE": table, "VSECURE_AUDIT_TABLE": table + "-audit",
		"VSECURE_CREATE_TABLES": "true", key: id,
	}
}
