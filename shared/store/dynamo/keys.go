package dynamo

import (
	"context"
	"maps"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vsecure/vsecure/shared/store/dynamo/schema"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// Item keys of API keys (see README.md).
const (
	keyPrefix  = schema.KeyPrefix
	keySK      = "KEY"
	keysGSI    = "KEYS"
	hashPrefix = schema.KeyHashPrefix
	hashSK     = "KEYHASH"
)

func apiKeyKey(id string) item { return key(keyPrefix+id, keySK) }
func hashKey(hash string) item { return key(hashPrefix+hash, hashSK) }

// Top-level attributes of both key items that UpdateKey's conditions
// read: the JSON in data is opaque to a condition expression.
const (
	keyVersionAttr = "version"
	keyRevokedAttr = "revokedAt" // epoch seconds; present only once revoked
)

// keyItems are a key's record and its hash index item (a copy, so
// authentication is one GetItem).
func keyItems(k vsecure.Key) (item, item, error) {
	top := func(it item) {
		it["hash"] = str(k.Hash)
		it[keyVersionAttr] = num(int64(k.Version))
		if k.RevokedAt != nil {
			it[keyRevokedAttr] = num(k.RevokedAt.Unix())
		}
		if k.LastUsedAt != nil {
			it[lastUsedAttr] = num(k.LastUsedAt.UnixNano())
		}
	}
	rec := apiKeyKey(k.ID)
	rec[schema.GSI1PK], rec[schema.GSI1SK] = str(keysGSI), str(k.ID)
	top(rec)
	rec, err := withData(rec, k)
	if err != nil {
		return nil, nil, err
	}
	idx := hashKey(k.Hash)
	idx["keyId"] = str(k.ID)
	top(idx)
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
	err = s.transact(ctx, "CreateKey", []types.TransactWriteItem{s.putNew(rec), s.putNew(idx)}, e, 0)
	if c, ok := err.(*canceled); ok {
		return vsecure.Wrap(vsecure.EConflict, c, "key id or hash already exists")
	}
	return err
}

// BootstrapKey is CreateKey's transaction with the bootstrap marker, which
// names the key (unless breakGlass): absent, it is put on
// attribute_not_exists; naming a key that is no longer active (revoked or
// expired: no admin is left that could mint one), it is replaced on the
// condition that it still names that key. Either way exactly one of
// concurrent bootstraps commits, and one that listed no admin before
// another committed finds the marker naming an active key.
func (s *Store) BootstrapKey(ctx context.Context, k vsecure.Key, e vsecure.Entry, breakGlass bool) error {
	if k.ID == "" || k.Hash == "" {
		return vsecure.Errorf(vsecure.EInvalid, "key has no id or hash")
	}
	rec, idx, err := keyItems(k)
	if err != nil {
		return err
	}
	items := []types.TransactWriteItem{s.putNew(rec), s.putNew(idx)}
	if !breakGlass {
		markerKey := item{schema.PK: str(schema.BootstrapPK), schema.SK: str(schema.BootstrapPK)}
		prev, err := s.getItem(ctx, "BootstrapKey", markerKey)
		if err != nil {
			return err
		}
		marker := item{schema.PK: str(schema.BootstrapPK), schema.SK: str(schema.BootstrapPK), schema.KeyIDAttr: str(k.ID)}
		if prev == nil {
			items = append(items, s.putNew(marker))
		} else {
			prevID := getS(prev, schema.KeyIDAttr)
			pk, err := s.GetKey(ctx, prevID)
			if err != nil && !vsecure.IsCode(err, vsecure.ENotFound) {
				return err
			}
			if err == nil && pk.Active(e.Timestamp) {
				return vsecure.Errorf(vsecure.EAlreadyDecided,
					"an admin key was already bootstrapped (%s) and is active; create further keys with an admin key, or bootstrap with breakGlass", prevID)
			}
			items = append(items, types.TransactWriteItem{Put: &types.Put{
				TableName: aws.String(s.table), Item: marker,
				ConditionExpression:       aws.String("#kid = :prev"),
				ExpressionAttributeNames:  map[string]string{"#kid": schema.KeyIDAttr},
				ExpressionAttributeValues: item{":prev": str(prevID)},
			}})
		}
	}
	err = s.transact(ctx, "BootstrapKey", items, e, 0)
	if c, ok := err.(*canceled); ok {
		if f, _ := c.failed(2); f && !breakGlass {
			return vsecure.Wrap(vsecure.EAlreadyDecided, c, "an admin key was already bootstrapped; create further keys with an admin key, or bootstrap with breakGlass")
		}
		return vsecure.Wrap(vsecure.EConflict, c, "key id or hash already exists")
	}
	return err
}

// putNew puts it unless its key exists.
func (s *Store) putNew(it item) types.TransactWriteItem {
	return types.TransactWriteItem{Put: &types.Put{
		TableName: aws.String(s.table), Item: it,
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": schema.PK},
	}}
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

// UpdateKey replaces both items of an existing key in one transaction,
// each conditional on the stored version being k.Version-1 (a missing
// version attribute, from before versions, counts as 0) and, unless k is
// revoked, on the stored item not being revoked. The hash cannot change.
func (s *Store) UpdateKey(ctx context.Context, k vsecure.Key, e vsecure.Entry) error {
	items, err := updateKeyItems(s.table, k)
	if err != nil {
		return err
	}
	return keyWriteErr(s.transact(ctx, "UpdateKey", items, e, k.Version), k.ID)
}

// RotateKey writes old's update and next's creation, and e, in one
// transaction.
func (s *Store) RotateKey(ctx context.Context, old, next vsecure.Key, e vsecure.Entry) error {
	if next.ID == "" || next.Hash == "" {
		return vsecure.Errorf(vsecure.EInvalid, "key has no id or hash")
	}
	items, err := updateKeyItems(s.table, old)
	if err != nil {
		return err
	}
	rec, idx, err := keyItems(next)
	if err != nil {
		return err
	}
	items = append(items, s.putNew(rec), s.putNew(idx))
	return keyWriteErr(s.transact(ctx, "RotateKey", items, e, old.Version), old.ID)
}

// updateKeyItems are the two conditional Puts of a key update; the
// record's comes first, with its stored value on failure.
func updateKeyItems(table string, k vsecure.Key) ([]types.TransactWriteItem, error) {
	rec, idx, err := keyItems(k)
	if err != nil {
		return nil, err
	}
	cond, extra := "#v = :prev", map[string]string{"#pk": schema.PK, "#v": keyVersionAttr}
	if k.Version == 1 {
		cond = "(attribute_not_exists(#v) OR #v = :prev)"
	}
	if k.RevokedAt == nil {
		cond += " AND attribute_not_exists(#rv)"
		extra["#rv"] = keyRevokedAttr
	}
	put := func(it item, own string, names map[string]string, vals item) types.TransactWriteItem {
		maps.Copy(names, extra)
		vals[":prev"] = num(int64(k.Version - 1))
		return types.TransactWriteItem{Put: &types.Put{
			TableName: aws.String(table), Item: it,
			ConditionExpression:       aws.String("attribute_exists(#pk) AND " + own + " AND " + cond),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: vals,
		}}
	}
	r := put(rec, "#h = :h", map[string]string{"#h": "hash"}, item{":h": str(k.Hash)})
	r.Put.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld
	x := put(idx, "#k = :k", map[string]string{"#k": "keyId"}, item{":k": str(k.ID)})
	return []types.TransactWriteItem{r, x}, nil
}

// keyWriteErr maps a refused key update: a missing record is ENotFound,
// anything else (a newer version, a revocation, a changed hash, a taken
// id or hash of a new key) a lost race.
func keyWriteErr(err error, id string) error {
	c, ok := err.(*canceled)
	if !ok {
		return err
	}
	if f, cur := c.failed(0); f && cur == nil {
		return vsecure.Errorf(vsecure.ENotFound, "key %s not found", id)
	}
	return vsecure.Wrap(vsecure.EConflict, c, "key "+id+" changed since it was read, or is revoked")
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
