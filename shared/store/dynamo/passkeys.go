package dynamo

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vsecure/vsecure/shared/store/dynamo/schema"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// Items of passkeys and their ceremonies (see README.md).
const (
	passkeyPrefix     = "PASSKEY#"
	passkeyCredPrefix = "CRED#"
	passkeyIDPrefix   = "PASSKEYID#"
	passkeyIDSK       = "PASSKEYID"
	ceremonyPrefix    = "CEREMONY#"
	ceremonySK        = "CEREMONY"

	// signCountAttr and lastUsed (lastUsedAttr, epoch ns) are laid over the
	// JSON in data: UsePasskey's condition reads the count, and its update
	// leaves data alone.
	signCountAttr = "signCount"
	principalAttr = "principal"
	expAttr       = "exp" // a ceremony's expiry, epoch ns
)

func passkeyItemKey(principal, id string) item {
	return key(passkeyPrefix+principal, passkeyCredPrefix+id)
}

func passkeyIDKey(id string) item { return key(passkeyIDPrefix+id, passkeyIDSK) }

func ceremonyKey(id string) item { return key(ceremonyPrefix+id, ceremonySK) }

func decodePasskey(it item) (vsecure.Passkey, error) {
	var p vsecure.Passkey
	if err := decodeData(it, &p); err != nil {
		return p, err
	}
	p.SignCount = uint32(getN(it, signCountAttr))
	if t := lastUsedOf(it); t != nil {
		p.LastUsedAt = t
	}
	return p, nil
}

// CreatePasskey puts the passkey, its id index item (both
// attribute_not_exists: an id is registered once, to anyone) and e in one
// transaction.
func (s *Store) CreatePasskey(ctx context.Context, p vsecure.Passkey, e vsecure.Entry) error {
	if p.ID == "" || p.Principal == "" {
		return vsecure.Errorf(vsecure.EInvalid, "passkey needs an id and a principal")
	}
	rec := passkeyItemKey(p.Principal, p.ID)
	rec[signCountAttr] = num(int64(p.SignCount))
	rec, err := withData(rec, p)
	if err != nil {
		return err
	}
	idx := passkeyIDKey(p.ID)
	idx[principalAttr] = str(p.Principal)
	err = s.transact(ctx, "CreatePasskey", []types.TransactWriteItem{s.putNew(rec), s.putNew(idx)}, e, 0)
	if c, ok := err.(*canceled); ok {
		return vsecure.Wrap(vsecure.EConflict, c, "this passkey is registered already")
	}
	return err
}

// ListPasskeys queries the principal's partition (strongly consistent: a
// passkey just registered or deleted counts at once).
func (s *Store) ListPasskeys(ctx context.Context, principal string) ([]vsecure.Passkey, error) {
	if principal == "" {
		return nil, nil
	}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String("#p = :p AND begins_with(#s, :c)"),
		ExpressionAttributeNames:  map[string]string{"#p": schema.PK, "#s": schema.SK},
		ExpressionAttributeValues: item{":p": str(passkeyPrefix + principal), ":c": str(passkeyCredPrefix)},
		ConsistentRead:            aws.Bool(true),
	}
	var out []vsecure.Passkey
	for {
		page, err := s.query(ctx, "ListPasskeys", in)
		if err != nil {
			return nil, err
		}
		for _, it := range page.Items {
			p, err := decodePasskey(it)
			if err != nil {
				return nil, err
			}
			out = append(out, p)
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// UsePasskey is one conditional UpdateItem: the count must grow (or stay
// 0 for an authenticator without a counter), so of two assertions racing
// with the same count exactly one lands.
func (s *Store) UsePasskey(ctx context.Context, principal, id string, count uint32, at time.Time) error {
	cond := "attribute_exists(#pk) AND #c < :c"
	if count == 0 {
		cond = "attribute_exists(#pk) AND #c = :c"
	}
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           aws.String(s.table),
		Key:                                 passkeyItemKey(principal, id),
		UpdateExpression:                    aws.String("SET #c = :c, #u = :u"),
		ConditionExpression:                 aws.String(cond),
		ExpressionAttributeNames:            map[string]string{"#pk": schema.PK, "#c": signCountAttr, "#u": lastUsedAttr},
		ExpressionAttributeValues:           item{":c": num(int64(count)), ":u": num(at.UnixNano())},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil {
		return nil
	}
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		return storeError(err, "UsePasskey")
	}
	cur := ccf.Item
	if len(cur) == 0 { // an endpoint that does not return ALL_OLD
		if cur, err = s.getItem(ctx, "UsePasskey", passkeyItemKey(principal, id)); err != nil {
			return err
		}
	}
	if cur == nil {
		return vsecure.Errorf(vsecure.ENotFound, "passkey not found")
	}
	return vsecure.Errorf(vsecure.EConflict, "the passkey's signature counter did not advance (%d after %d)", count, getN(cur, signCountAttr))
}

// DeletePasskey deletes the passkey (attribute_exists) and its id index
// item with e in one transaction.
func (s *Store) DeletePasskey(ctx context.Context, principal, id string, e vsecure.Entry) error {
	items := []types.TransactWriteItem{
		{Delete: &types.Delete{
			TableName: aws.String(s.table), Key: passkeyItemKey(principal, id),
			ConditionExpression:      aws.String("attribute_exists(#pk)"),
			ExpressionAttributeNames: map[string]string{"#pk": schema.PK},
		}},
		{Delete: &types.Delete{TableName: aws.String(s.table), Key: passkeyIDKey(id)}},
	}
	err := s.transact(ctx, "DeletePasskey", items, e, 0)
	if c, ok := err.(*canceled); ok {
		return vsecure.Wrap(vsecure.ENotFound, c, "passkey not found")
	}
	return err
}

// PutPasskeyCeremony puts CEREMONY#<id> unless it exists; the TTL
// attribute lets DynamoDB drop ceremonies never finished.
func (s *Store) PutPasskeyCeremony(ctx context.Context, c vsecure.PasskeyCeremony) error {
	if c.ID == "" || c.Principal == "" {
		return vsecure.Errorf(vsecure.EInvalid, "ceremony needs an id and a principal")
	}
	it := ceremonyKey(c.ID)
	it[principalAttr] = str(c.Principal)
	it[expAttr] = num(c.ExpiresAt.UnixNano())
	it[schema.TTL] = num(c.ExpiresAt.Unix() + 1)
	it, err := withData(it, c)
	if err != nil {
		return err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table), Item: it,
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": schema.PK},
	})
	return storeError(err, "PutPasskeyCeremony")
}

// TakePasskeyCeremony reads the ceremony, then deletes it on the condition
// that it still exists, is the principal's and is live: of concurrent
// takers, only the first delete finds the item.
func (s *Store) TakePasskeyCeremony(ctx context.Context, id, principal string, now time.Time) (vsecure.PasskeyCeremony, error) {
	var c vsecure.PasskeyCeremony
	gone := vsecure.Errorf(vsecure.ENotFound, "no such passkey ceremony (finished, expired, or never begun)")
	it, err := s.getItem(ctx, "TakePasskeyCeremony", ceremonyKey(id))
	if err != nil {
		return c, err
	}
	if it == nil || getS(it, principalAttr) != principal || getN(it, expAttr) <= now.UnixNano() {
		return c, gone
	}
	if err := decodeData(it, &c); err != nil {
		return c, err
	}
	del := types.TransactWriteItem{Delete: &types.Delete{
		TableName: aws.String(s.table), Key: ceremonyKey(id),
		ConditionExpression:       aws.String("attribute_exists(#pk) AND #p = :p AND #e > :now"),
		ExpressionAttributeNames:  map[string]string{"#pk": schema.PK, "#p": principalAttr, "#e": expAttr},
		ExpressionAttributeValues: item{":p": str(principal), ":now": num(now.UnixNano())},
	}}
	err = s.transact(ctx, "TakePasskeyCeremony", []types.TransactWriteItem{del}, vsecure.Entry{}, 0)
	if _, ok := err.(*canceled); ok {
		return vsecure.PasskeyCeremony{}, gone
	}
	if err != nil {
		return vsecure.PasskeyCeremony{}, err
	}
	return c, nil
}
