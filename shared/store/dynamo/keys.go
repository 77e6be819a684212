package dynamo

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vsecure/vsecure/shared/store/dynamo/schema"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// Item keys of API keys (see README.md).
const (
	keyPrefix  = "KEY#"
	keySK      = "KEY"
	keysGSI    = "KEYS"
	hashPrefix = "KEYHASH#"
	hashSK     = "KEYHASH"
)

func apiKeyKey(id string) item { return key(keyPrefix+id, keySK) }
func hashKey(hash string) item { return key(hashPrefix+hash, hashSK) }

// keyItems are a key's record and its hash index item (a copy, so
// authentication is one GetItem).
func keyItems(k vsecure.Key) (item, item, error) {
	rec := apiKeyKey(k.ID)
	rec[schema.GSI1PK], rec[schema.GSI1SK] = str(keysGSI), str(k.ID)
	rec["hash"] = str(k.Hash)
	if k.LastUsedAt != nil {
		rec[lastUsedAttr] = num(k.LastUsedAt.UnixNano())
	}
	rec, err := withData(rec, k)
	if err != nil {
		return nil, nil, err
	}
	idx := hashKey(k.Hash)
	idx["keyId"], idx["hash"] = str(k.ID), str(k.Hash)
	if k.LastUsedAt != nil {
		idx[lastUsedAttr] = num(k.LastUsedAt.UnixNano())
	}
	slackIndex(idx, k)
	idx, err = withData(idx, k)
	return rec, idx, err
}

func decodeKey(it item) (vsecure.Key, error) {
	var k vsecure.Key
	err := decodeData(it, &k)
	k.Hash = getS(it, "hash") // not in the JSON: the type hides it
	if t := lastUsedOf(it); t != nil {
		k.LastUsedAt = t // MarkKeyUsed updates the attribute, not the JSON
	}
	return k, err
}

// CreateKey stores k and its hash index item if neither id nor hash exists.
func (s *Store) CreateKey(ctx context.Context, k vsecure.Key, e vsecure.Entry) error {
	if k.ID == "" || k.Hash == "" {
		return vsecure.Errorf(vsecure.EInvalid, "key has no id or hash")
	}
	rec, idx, err := keyItems(k)
	if err != nil {
		return err
	}
	notExists := func(it item) types.TransactWriteItem {
		return types.TransactWriteItem{Put: &types.Put{
			TableName: aws.String(s.table), Item: it,
			ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
			ExpressionAttributeNames: map[string]string{"#pk": schema.PK},
		}}
	}
	err = s.transact(ctx, "CreateKey", []types.TransactWriteItem{notExists(rec), notExists(idx)}, e, 0)
	if c, ok := err.(*canceled); ok {
		return vsecure.Wrap(vsecure.EConflict, c, "key id or hash already exists")
	}
	return err
}

// KeyByHash reads the hash index item (GetItem, strongly consistent, so
// a revocation takes effect at once).
func (s *Store) KeyByHash(ctx context.Context, hash string) (vsecure.Key, error) {
	if hash == "" {
		return vsecure.Key{}, vsecure.Errorf(vsecure.ENotFound, "unknown key")
	}
	return s.getKey(ctx, "KeyByHash", hashKey(hash))
}

// GetKey reads a key record (GetItem).
func (s *Store) GetKey(ctx context.Context, id string) (vsecure.Key, error) {
	return s.getKey(ctx, "GetKey", apiKeyKey(id))
}

func (s *Store) getKey(ctx context.Context, op string, k item) (vsecure.Key, error) {
	it, err := s.getItem(ctx, op, k)
	if err != nil {
		return vsecure.Key{}, err
	}
	if it == nil {
		return vsecure.Key{}, vsecure.Errorf(vsecure.ENotFound, "key not found")
	}
	return decodeKey(it)
}

// UpdateKey replaces both items of an existing key; its hash cannot change.
func (s *Store) UpdateKey(ctx context.Context, k vsecure.Key, e vsecure.Entry) error {
	rec, idx, err := keyItems(k)
	if err != nil {
		return err
	}
	items := []types.TransactWriteItem{
		{Put: &types.Put{
			TableName: aws.String(s.table), Item: rec,
			ConditionExpression:                 aws.String("attribute_exists(#pk) AND #h = :h"),
			ExpressionAttributeNames:            map[string]string{"#pk": schema.PK, "#h": "hash"},
			ExpressionAttributeValues:           item{":h": str(k.Hash)},
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		}},
		{Put: &types.Put{
			TableName: aws.String(s.table), Item: idx,
			ConditionExpression:       aws.String("attribute_exists(#pk) AND #k = :k"),
			ExpressionAttributeNames:  map[string]string{"#pk": schema.PK, "#k": "keyId"},
			ExpressionAttributeValues: item{":k": str(k.ID)},
		}},
	}
	err = s.transact(ctx, "UpdateKey", items, e, 0)
	if c, ok := err.(*canceled); ok {
		if f, cur := c.failed(0); f && cur == nil {
			return vsecure.Errorf(vsecure.ENotFound, "key %s not found", k.ID)
		}
		return vsecure.Wrap(vsecure.EConflict, c, "key "+k.ID+" cannot change its hash")
	}
	return err
}

// ListKeys lists keys oldest first (ids sort by time): one Query on gsi1.
func (s *Store) ListKeys(ctx context.Context, cursor string, limit int) ([]vsecure.Key, string, error) {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		IndexName:                 aws.String(schema.IndexGSI),
		KeyConditionExpression:    aws.String("#p = :p"),
		ExpressionAttributeNames:  map[string]string{"#p": schema.GSI1PK},
		ExpressionAttributeValues: item{":p": str(keysGSI)},
	}
	items, next, err := s.page(ctx, "ListKeys", in, gsiKeys, schema.GSI1PK, keysGSI, nil, cursor, limit, false, nil)
	if err != nil {
		return nil, "", err
	}
	out := make([]vsecure.Key, 0, len(items))
	for _, it := range items {
		k, err := decodeKey(it)
		if err != nil {
			return nil, "", err
		}
		out = append(out, k)
	}
	return out, next, nil
}
