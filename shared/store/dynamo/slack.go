package dynamo

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/vsecure/vsecure/shared/store/dynamo/schema"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// Items of the Slack integration (see README.md).
const (
	slackUserGSI = "SLACKUSER#"
	seenPrefix   = "SEEN#"
	seenSK       = "SEEN"
)

// slackIndex puts a key's hash index item into the sparse gsi1 partition of
// its Slack user, so a button press finds the user's keys with one Query.
// The hash item is rewritten by every CreateKey and UpdateKey, so the index
// follows the key's Slack id without an item of its own.
func slackIndex(idx item, k vsecure.Key) {
	if k.SlackUserID != "" {
		idx[schema.GSI1PK], idx[schema.GSI1SK] = str(slackUserGSI+k.SlackUserID), str(k.ID)
	}
}

// KeysBySlackUser queries gsi1 for the user's partition, then re-reads
// each key record consistently: the index is eventually consistent, and a
// revocation or a changed Slack id must count at once.
func (s *Store) KeysBySlackUser(ctx context.Context, id string) ([]vsecure.Key, error) {
	if id == "" {
		return nil, nil
	}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		IndexName:                 aws.String(schema.IndexGSI),
		KeyConditionExpression:    aws.String("#p = :p"),
		ExpressionAttributeNames:  map[string]string{"#p": schema.GSI1PK},
		ExpressionAttributeValues: item{":p": str(slackUserGSI + id)},
	}
	var out []vsecure.Key
	for {
		page, err := s.query(ctx, "KeysBySlackUser", in)
		if err != nil {
			return nil, err
		}
		for _, it := range page.Items {
			k, err := s.GetKey(ctx, getS(it, "keyId"))
			if vsecure.IsCode(err, vsecure.ENotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			if k.SlackUserID == id {
				out = append(out, k)
			}
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// Remember writes SEEN#<key> with a conditional PutItem that succeeds only
// if the item is absent or lapsed; the TTL attribute lets DynamoDB delete
// it some time after until.
func (s *Store) Remember(ctx context.Context, key string, now, until time.Time) error {
	if key == "" {
		return vsecure.Errorf(vsecure.EInvalid, "empty replay key")
	}
	it := item{
		schema.PK: str(seenPrefix + key), schema.SK: str(seenSK),
		"until": num(until.UnixNano()), schema.TTL: num(until.Unix() + 1),
	}
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(s.table),
		Item:                      it,
		ConditionExpression:       aws.String("attribute_not_exists(#pk) OR #u <= :now"),
		ExpressionAttributeNames:  map[string]string{"#pk": schema.PK, "#u": "until"},
		ExpressionAttributeValues: item{":now": num(now.UnixNano())},
	})
	if err != nil {
		err = storeError(err, "Remember")
		if vsecure.IsCode(err, vsecure.EConflict) {
			return vsecure.Errorf(vsecure.EConflict, "already seen")
		}
		return err
	}
	return nil
}
