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

// Digests live in the audit table, under its append-only resource policy,
// as their own partition of the byTime index: tpk = DIGEST, tsk = the start
// of the window. The id is derived from the window, so a second digest step
// sealing the same window loses on attribute_not_exists.
const (
	digestPart   = "DIGEST"
	digestPrefix = "dig_"
)

// AuditRange reads the byTime index oldest first between the window's
// stamps, page by page. A sort key is "<stamp>#<id>", so BETWEEN
// stamp(from) AND stamp(to) holds exactly the timestamps in [from, to).
func (s *Store) AuditRange(ctx context.Context, from, to time.Time, fn func(r vsecure.AuditRecord) (bool, error)) error {
	in := &dynamodb.QueryInput{
		TableName:                aws.String(s.audit),
		IndexName:                aws.String(schema.IndexAuditTime),
		KeyConditionExpression:   aws.String("#p = :p AND #s BETWEEN :lo AND :hi"),
		ExpressionAttributeNames: map[string]string{"#p": schema.AuditTimePK, "#s": schema.AuditTimeSK},
		ExpressionAttributeValues: item{
			":p": str(auditAll), ":lo": str(stamp(from)), ":hi": str(stamp(to)),
		},
		ScanIndexForward: aws.Bool(true),
	}
	for {
		out, err := s.query(ctx, "AuditRange", in)
		if err != nil {
			return err
		}
		for _, it := range out.Items {
			var e vsecure.Entry
			if err := decodeData(it, &e); err != nil {
				return err
			}
			more, err := fn(vsecure.AuditRecord{Key: getS(it, schema.AuditID), Entry: e, Seal: getSeal(it)})
			if err != nil || !more {
				return err
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// OldestAudit is one Query of the byTime index, oldest first, Limit 1.
func (s *Store) OldestAudit(ctx context.Context) (vsecure.Entry, error) {
	out, err := s.query(ctx, "OldestAudit", &dynamodb.QueryInput{
		TableName:                 aws.String(s.audit),
		IndexName:                 aws.String(schema.IndexAuditTime),
		KeyConditionExpression:    aws.String("#p = :p"),
		ExpressionAttributeNames:  map[string]string{"#p": schema.AuditTimePK},
		ExpressionAttributeValues: item{":p": str(auditAll)},
		ScanIndexForward:          aws.Bool(true),
		Limit:                     aws.Int32(1),
	})
	if err != nil {
		return vsecure.Entry{}, err
	}
	if len(out.Items) == 0 {
		return vsecure.Entry{}, vsecure.Errorf(vsecure.ENotFound, "the audit log is empty")
	}
	var e vsecure.Entry
	return e, decodeData(out.Items[0], &e)
}

// PutDigest puts d unless its window's digest exists.
func (s *Store) PutDigest(ctx context.Context, d vsecure.Digest) error {
	it, err := withData(item{
		schema.AuditID:     str(digestPrefix + stamp(d.From)),
		schema.AuditTimePK: str(digestPart),
		schema.AuditTimeSK: str(stamp(d.From)),
	}, d)
	if err != nil {
		return err
	}
	in := &dynamodb.PutItemInput{
		TableName:                aws.String(s.audit),
		Item:                     it,
		ConditionExpression:      aws.String("attribute_not_exists(#id)"),
		ExpressionAttributeNames: map[string]string{"#id": schema.AuditID},
	}
	_, err = s.db.PutItem(ctx, in)
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return vsecure.Wrap(vsecure.EConflict, err, "a digest from "+d.From.UTC().Format(time.RFC3339)+" exists")
	}
	return storeError(err, "PutDigest")
}

// DigestBefore is one Query of the digest partition, newest first, Limit 1.
func (s *Store) DigestBefore(ctx context.Context, t time.Time) (vsecure.Digest, error) {
	out, err := s.query(ctx, "DigestBefore", &dynamodb.QueryInput{
		TableName:                 aws.String(s.audit),
		IndexName:                 aws.String(schema.IndexAuditTime),
		KeyConditionExpression:    aws.String("#p = :p AND #s < :t"),
		ExpressionAttributeNames:  map[string]string{"#p": schema.AuditTimePK, "#s": schema.AuditTimeSK},
		ExpressionAttributeValues: item{":p": str(digestPart), ":t": str(stamp(t))},
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(1),
	})
	if err != nil {
		return vsecure.Digest{}, err
	}
	if len(out.Items) == 0 {
		return vsecure.Digest{}, vsecure.Errorf(vsecure.ENotFound, "no digest before %s", t.UTC().Format(time.RFC3339))
	}
	var d vsecure.Digest
	return d, decodeData(out.Items[0], &d)
}

// Digests queries the digest partition oldest first, page by page.
func (s *Store) Digests(ctx context.Context, from, to time.Time) ([]vsecure.Digest, error) {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.audit),
		IndexName:                 aws.String(schema.IndexAuditTime),
		KeyConditionExpression:    aws.String("#p = :p AND #s BETWEEN :lo AND :hi"),
		ExpressionAttributeNames:  map[string]string{"#p": schema.AuditTimePK, "#s": schema.AuditTimeSK},
		ExpressionAttributeValues: item{":p": str(digestPart), ":lo": str(stamp(from)), ":hi": str(stamp(to))},
		ScanIndexForward:          aws.Bool(true),
	}
	var ds []vsecure.Digest
	for {
		out, err := s.query(ctx, "Digests", in)
		if err != nil {
			return nil, err
		}
		for _, it := range out.Items {
			var d vsecure.Digest
			if err := decodeData(it, &d); err != nil {
				return nil, err
			}
			if d.From.Before(to) { // BETWEEN includes a digest starting at to
				ds = append(ds, d)
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return ds, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}
