package dynamo

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/vsecure/vsecure/shared/store/dynamo/schema"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// A rate bucket is RATE#<bucket> / RATE with its instant in tat (Unix ns;
// see vsecure.RateLimit.Take) and a ttl when it will be full again: an
// idle bucket is the same as none, so DynamoDB may delete it then.
const (
	rateSK   = "RATE"
	rateAttr = "tat"
)

// maxTakeRetries bounds re-reads after a lost race on one bucket. Every
// loss is another taker's success, and at one instant a bucket admits at
// most Burst of them, so this covers the product's burst of ten with room.
const maxTakeRetries = 16

// TakeToken reads the bucket (strongly consistent) and, if it has a token,
// puts the new instant on the condition that the stored one is still what
// it read: of racing takers exactly one wins each write, the losers
// re-read. A refusal is the read alone.
func (s *Store) TakeToken(ctx context.Context, bucket string, limit vsecure.RateLimit, now time.Time) (bool, time.Duration, error) {
	if bucket == "" {
		return false, 0, vsecure.Errorf(vsecure.EInvalid, "empty rate bucket")
	}
	k := key(schema.RatePrefix+bucket, rateSK)
	for attempt := 0; ; attempt++ {
		it, err := s.getItem(ctx, "TakeToken", k)
		if err != nil {
			return false, 0, err
		}
		var tat time.Time
		in := &dynamodb.PutItemInput{TableName: aws.String(s.table)}
		if it == nil {
			in.ConditionExpression = aws.String("attribute_not_exists(#pk)")
			in.ExpressionAttributeNames = map[string]string{"#pk": schema.PK}
		} else {
			old := getN(it, rateAttr)
			tat = time.Unix(0, old)
			in.ConditionExpression = aws.String("#tat = :old")
			in.ExpressionAttributeNames = map[string]string{"#tat": rateAttr}
			in.ExpressionAttributeValues = item{":old": num(old)}
		}
		next, ok, wait := limit.Take(tat, now)
		if !ok {
			return false, wait, nil
		}
		in.Item = item{
			schema.PK: str(schema.RatePrefix + bucket), schema.SK: str(rateSK),
			rateAttr: num(next.UnixNano()), schema.TTL: num(next.Unix() + 1),
		}
		if _, err = s.db.PutItem(ctx, in); err == nil {
			return true, 0, nil
		}
		if err = storeError(err, "TakeToken"); !vsecure.IsCode(err, vsecure.EConflict) || attempt >= maxTakeRetries {
			return false, 0, err
		}
	}
}
