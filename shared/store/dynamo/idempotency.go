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

// Idempotency records (see README.md): one item per principal and key,
// `IDEM#<principal>#<key sha256>` / `IDEM`, with the record's JSON in data
// and the attributes its conditions read: st (pending|done), tok, exp and
// lease (epoch ms), and ttl (epoch s) so DynamoDB deletes it once expired.
// TTL deletion lags by up to days, so every condition checks exp itself.

const (
	idemPrefix = "IDEM#"
	idemSK     = "IDEM"
)

func idemKey(principal, idem string) item { return key(idemPrefix+principal+"#"+idem, idemSK) }

func idemItem(r vsecure.IdempotencyRecord) (item, error) {
	it := idemKey(r.Principal, r.Key)
	st := "pending"
	if r.Done {
		st = "done"
	}
	it["st"], it["tok"] = str(st), str(r.Token)
	it["exp"], it["lease"] = num(r.ExpiresAt.UnixMilli()), num(r.LeaseUntil.UnixMilli())
	it[schema.TTL] = num(r.ExpiresAt.Unix() + 1)
	return withData(it, r)
}

// ReserveIdempotency is one conditional PutItem. When the condition fails
// DynamoDB returns the live item with the error (ALL_OLD), so a duplicate
// learns what it collided with in the same round trip.
func (s *Store) ReserveIdempotency(ctx context.Context, r vsecure.IdempotencyRecord, now time.Time) (vsecure.IdempotencyRecord, bool, error) {
	if r.Principal == "" || r.Key == "" || r.Token == "" {
		return vsecure.IdempotencyRecord{}, false, vsecure.Errorf(vsecure.EInvalid, "idempotency record needs a principal, key and token")
	}
	it, err := idemItem(r)
	if err != nil {
		return vsecure.IdempotencyRecord{}, false, err
	}
	in := &dynamodb.PutItemInput{
		TableName:                           aws.String(s.table),
		Item:                                it,
		ConditionExpression:                 aws.String("attribute_not_exists(#pk) OR #exp <= :now OR (#st = :pending AND #lease <= :now)"),
		ExpressionAttributeNames:            map[string]string{"#pk": schema.PK, "#exp": "exp", "#st": "st", "#lease": "lease"},
		ExpressionAttributeValues:           item{":now": num(now.UnixMilli()), ":pending": str("pending")},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
	_, err = s.db.PutItem(ctx, in)
	if err == nil {
		return vsecure.IdempotencyRecord{}, true, nil
	}
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		return vsecure.IdempotencyRecord{}, false, storeError(err, "ReserveIdempotency")
	}
	cur := ccf.Item
	if len(cur) == 0 { // an endpoint that does not return ALL_OLD
		if cur, err = s.getItem(ctx, "ReserveIdempotency", idemKey(r.Principal, r.Key)); err != nil {
			return vsecure.IdempotencyRecord{}, false, err
		}
		if cur == nil {
			return vsecure.IdempotencyRecord{}, false, vsecure.Errorf(vsecure.EConflict, "idempotency record changed; retry")
		}
	}
	var got vsecure.IdempotencyRecord
	if err := decodeData(cur, &got); err != nil {
		return vsecure.IdempotencyRecord{}, false, err
	}
	return got, false, nil
}

// CompleteIdempotency is one PutItem conditional on the reservation.
func (s *Store) CompleteIdempotency(ctx context.Context, r vsecure.IdempotencyRecord) error {
	it, err := idemItem(r)
	if err != nil {
		return err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(s.table),
		Item:                      it,
		ConditionExpression:       aws.String("#tok = :tok AND #st = :pending"),
		ExpressionAttributeNames:  map[string]string{"#tok": "tok", "#st": "st"},
		ExpressionAttributeValues: item{":tok": str(r.Token), ":pending": str("pending")},
	})
	return storeError(err, "CompleteIdempotency")
}

// ReleaseIdempotency deletes the reservation if token still holds it (a
// one-item transaction: the store's client has no DeleteItem).
func (s *Store) ReleaseIdempotency(ctx context.Context, principal, idem, token string) error {
	items := []types.TransactWriteItem{{Delete: &types.Delete{
		TableName:                 aws.String(s.table),
		Key:                       idemKey(principal, idem),
		ConditionExpression:       aws.String("#tok = :tok AND #st = :pending"),
		ExpressionAttributeNames:  map[string]string{"#tok": "tok", "#st": "st"},
		ExpressionAttributeValues: item{":tok": str(token), ":pending": str("pending")},
	}}}
	err := s.transact(ctx, "ReleaseIdempotency", items, vsecure.Entry{}, 0)
	if _, ok := err.(*canceled); ok {
		return nil // not held by token (any more): nothing to release
	}
	return err
}

// lastUsed is the attribute MarkKeyUsed updates in place: the item's JSON
// cannot be edited by an UpdateItem, so decodeKey lays it over the JSON.
const lastUsedAttr = schema.LastUsed

// MarkKeyUsed updates both items of the key (the record ListKeys reads and
// the hash copy authentication reads) in one transaction, conditional on
// the stored time being older than since: of many containers noticing a
// stale time at once, one writes.
func (s *Store) MarkKeyUsed(ctx context.Context, k vsecure.Key, at, since time.Time) error {
	upd := func(it item, extra string, vals item) types.TransactWriteItem {
		v := item{":at": num(at.UnixNano()), ":since": num(since.UnixNano())}
		for n, x := range vals {
			v[n] = x
		}
		return types.TransactWriteItem{Update: &types.Update{
			TableName:                 aws.String(s.table),
			Key:                       it,
			UpdateExpression:          aws.String("SET #lu = :at"),
			ConditionExpression:       aws.String("attribute_exists(#pk) AND (attribute_not_exists(#lu) OR #lu < :since)" + extra),
			ExpressionAttributeNames:  map[string]string{"#pk": schema.PK, "#lu": lastUsedAttr},
			ExpressionAttributeValues: v,
		}}
	}
	items := []types.TransactWriteItem{upd(apiKeyKey(k.ID), "", nil)}
	if k.Hash != "" {
		it := upd(hashKey(k.Hash), " AND #k = :k", item{":k": str(k.ID)})
		it.Update.ExpressionAttributeNames["#k"] = "keyId"
		items = append(items, it)
	}
	err := s.transact(ctx, "MarkKeyUsed", items, vsecure.Entry{}, 0)
	if _, ok := err.(*canceled); ok {
		return nil // recorded recently by someone else, or no such key
	}
	return err
}

func lastUsedOf(it item) *time.Time {
	if _, ok := it[lastUsedAttr]; !ok {
		return nil
	}
	t := time.Unix(0, getN(it, lastUsedAttr)).UTC()
	return &t
}
