package dynamo_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vsecure/vsecure/shared/store/dynamo"
	"github.com/vsecure/vsecure/shared/store/dynamo/schema"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// Key items written before keys had versions carry no version attribute
// (nor a version in their JSON): they must still take updates, as version 0,
// and still refuse a stale one.
func TestKeyWithoutVersionAttribute(t *testing.T) {
	ctx := t.Context()
	db := client(t)
	table, audit := tables(t, db)
	s, err := dynamo.New(db, table, audit)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	k := vsecure.Key{ID: "key_legacy", Principal: "agent-1", Roles: []vsecure.Role{vsecure.RoleAgent}, Hash: "sha256-legacy", CreatedAt: at}
	if err := s.CreateKey(ctx, k, vsecure.Entry{}); err != nil {
		t.Fatal(err)
	}
	for pk, sk := range map[string]string{"KEY#" + k.ID: "KEY", "KEYHASH#" + k.Hash: "KEYHASH"} {
		_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(table),
			Key:       map[string]types.AttributeValue{schema.PK: &types.AttributeValueMemberS{Value: pk}, schema.SK: &types.AttributeValueMemberS{Value: sk}},
			// The JSON of a legacy item has no "version" either; 0 decodes
			// the same, so only the attribute needs removing.
			UpdateExpression:    aws.String("REMOVE version"),
			ConditionExpression: aws.String("attribute_exists(pk)"),
		})
		if err != nil {
			t.Fatalf("strip version of %s: %v", pk, err)
		}
	}
	stale := k
	stale.SlackUserID, stale.Version = "U9", 2
	if err := s.UpdateKey(ctx, stale, vsecure.Entry{}); !vsecure.IsCode(err, vsecure.EConflict) {
		t.Fatalf("update at version 2 of a legacy key: %v, want conflict", err)
	}
	revoked := k
	revoked.RevokedAt, revoked.Version = &at, 1
	if err := s.UpdateKey(ctx, revoked, vsecure.Entry{}); err != nil {
		t.Fatalf("revoke a legacy key at version 1: %v", err)
	}
	got, err := s.KeyByHash(ctx, k.Hash)
	if err != nil || got.RevokedAt == nil || got.Version != 1 {
		t.Fatalf("legacy key after revocation: %+v, %v", got, err)
	}
}
