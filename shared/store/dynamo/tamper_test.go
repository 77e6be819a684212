package dynamo_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/store/dynamo"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// TestTamperedItemsFailLoudly edits sealed values in the DynamoDB items
// directly (an insider with table access) and reads through the gate:
// every flipped byte of ciphertext, tag, nonce or wrapped data key in the
// LATEST copy, and a version moved over another, must be an internal
// error with an audited failure, never a value.
func TestTamperedItemsFailLoudly(t *testing.T) {
	db := client(t)
	table, audit := tables(t, db)
	s, err := dynamo.New(db, table, audit)
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, s)
	ctx := t.Context()
	v2 := "postgres://app:pw-two@db/app"
	if _, err := w.g.WriteSecret(ctx, w.admin, w.uri, api.SecretWrite{Value: &v2}); err != nil {
		t.Fatal(err)
	}
	pk := "SECRET#" + w.uri.String()
	get := func(sk string) map[string]types.AttributeValue {
		out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
			Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}, "sk": &types.AttributeValueMemberS{Value: sk}}})
		if err != nil || out.Item == nil {
			t.Fatalf("get %s: %v", sk, err)
		}
		return out.Item
	}
	put := func(it map[string]types.AttributeValue) {
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: it}); err != nil {
			t.Fatal(err)
		}
	}
	withVersion := func(it map[string]types.AttributeValue, fn func(*vsecure.SecretVersion)) map[string]types.AttributeValue {
		var sv vsecure.SecretVersion
		if err := json.Unmarshal([]byte(it["data"].(*types.AttributeValueMemberS).Value), &sv); err != nil {
			t.Fatal(err)
		}
		fn(&sv)
		b, _ := json.Marshal(sv)
		c := map[string]types.AttributeValue{}
		for k, v := range it {
			c[k] = v
		}
		c["data"] = &types.AttributeValueMemberS{Value: string(b)}
		return c
	}
	failures := 0
	mustFail := func(what string, version int) {
		t.Helper()
		got, err := w.g.ReadSecret(ctx, w.admin, w.uri, version)
		if !vsecure.IsCode(err, vsecure.EInternal) || got.Value != "" {
			t.Fatalf("%s: got %q, %v; want an internal error", what, got.Value, err)
		}
		if strings.Contains(err.Error(), v2) || strings.Contains(err.Error(), "pw@db") {
			t.Fatalf("%s: error holds the value: %v", what, err)
		}
		failures++
	}
	latest, ver2, ver1 := get("LATEST"), get(fmt.Sprintf("V#%010d", 2)), get(fmt.Sprintf("V#%010d", 1))
	var sv vsecure.SecretVersion
	_ = json.Unmarshal([]byte(latest["data"].(*types.AttributeValueMemberS).Value), &sv)
	flip := func(b []byte, i int) []byte { c := append([]byte(nil), b...); c[i] ^= 1; return c }
	for i := range sv.Sealed.Ciphertext { // the last 16 bytes are the GCM tag
		put(withVersion(latest, func(s *vsecure.SecretVersion) { s.Sealed.Ciphertext = flip(s.Sealed.Ciphertext, i) }))
		mustFail(fmt.Sprintf("ciphertext/tag byte %d", i), 0)
	}
	for i := range sv.Sealed.Nonce {
		put(withVersion(latest, func(s *vsecure.SecretVersion) { s.Sealed.Nonce = flip(s.Sealed.Nonce, i) }))
		mustFail(fmt.Sprintf("nonce byte %d", i), 0)
	}
	for i := range sv.Sealed.WrappedKey {
		put(withVersion(latest, func(s *vsecure.SecretVersion) { s.Sealed.WrappedKey = flip(s.Sealed.WrappedKey, i) }))
		mustFail(fmt.Sprintf("wrapped key byte %d", i), 0)
	}
	put(latest)
	// Version 1 copied over LATEST and over V#2: verbatim, and relabelled.
	v1AsLatest := withVersion(ver1, func(*vsecure.SecretVersion) {})
	v1AsLatest["sk"] = latest["sk"]
	put(v1AsLatest)
	mustFail("v1 verbatim as LATEST", 0)
	put(withVersion(v1AsLatest, func(s *vsecure.SecretVersion) { s.Version = 2 }))
	mustFail("v1 relabelled v2 as LATEST", 0)
	put(latest)
	v1AsV2 := withVersion(ver1, func(s *vsecure.SecretVersion) { s.Version = 2 })
	v1AsV2["sk"] = ver2["sk"]
	put(v1AsV2)
	mustFail("v1 relabelled over V#2", 2)
	put(ver2)

	got, err := w.g.ReadSecret(ctx, w.admin, w.uri, 0)
	if err != nil || got.Value != v2 {
		t.Fatalf("restored read: %q %v", got.Value, err)
	}
	entries, _, err := w.g.QueryAudit(ctx, w.admin, gate.AuditQuery{Filter: vsecure.AuditFilter{Resource: w.uri.String(), Operation: vsecure.AuditRead, Success: new(bool)}, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if e.Error == "internal" {
			n++
		}
	}
	if n < min(failures, 100) {
		t.Fatalf("%d failed reads audited, want %d", n, failures)
	}
	t.Logf("%d tampered reads, all internal errors and audited", failures)
}
