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
// in their own partition: pk = DIGEST, sk = the start of the window. The
// key is derived from the window, so a second digest step sealing the
// same window loses on attribute_not_exists.

// AuditRange merges the 16 entry shards oldest first between the window's
// stamps (strongly consistent Queries, page by page). A sort key is
// "<stamp>#<id>", so BETWEEN stamp(from) AND stamp(to) holds exactly the
// timestamps in [from, to).
func (s *Store) AuditRange(ctx context.Context, from, to time.Time, fn func(r vsecure.AuditRecord) (bool, error)) error {
	m, err := s.merge(ctx, "AuditRange", s.shards(stamp(from), stamp(to), true, 500), true)
	if err != nil {
		return err
	}
	for {
		it, err := m.next(ctx)
		if err != nil || it == nil {
			return err
		}
		var e vsecure.Entry
		if err := decodeData(it, &e); err != nil {
			return err
		}
		more, err := fn(vsecure.AuditRecord{Key: entryID(getS(it, schema.AuditSK)), Entry: e, Seal: getSeal(it)})
		if err != nil || !more {
			return err
		}
	}
}

// OldestAudit is the oldest of the 16 shards' first entries (one Query,
// Limit 1, each).
func (s *Store) OldestAudit(ctx context.Context) (vsecure.Entry, error) {
	m, err := s.merge(ctx, "OldestAudit", s.shards("", "", true, 1), true)
	if err != nil {
		return vsecure.Entry{}, err
	}
	if len(m.h.shards) == 0 {
		return vsecure.Entry{}, vsecure.Errorf(vsecure.ENotFound, "the audit log is empty")
	}
	var e vsecure.Entry
	return e, decodeData(m.h.shards[0].buf[0], &e)
}

// PutDigest puts d unless its window's digest exists.
func (s *Store) PutDigest(ctx context.Context, d vsecure.Digest) error {
	it, err := withData(item{
		schema.AuditPK: str(schema.AuditDigestPK),
		schema.AuditSK: str(stamp(d.From)),
	}, d)
	if err != nil {
		return err
	}
	in := &dynamodb.PutItemInput{
		TableName:                aws.String(s.audit),
		Item:                     it,
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": schema.AuditPK},
	}
	_, err = s.db.PutItem(ctx, in)
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return vsecure.Wrap(vsecure.EConflict, err, "a digest from "+d.From.UTC().Format(time.RFC3339)+" exists")
	}
	return storeError(err, "PutDigest")
}

func (s *Store) digestQuery(cond string, vals item, ascending bool) *dynamodb.QueryInput {
	vals[":p"] = str(schema.AuditDigestPK)
	return &dynamodb.QueryInput{
		TableName:                 aws.String(s.audit),
		KeyConditionExpression:    aws.String("#p = :p AND " + cond),
		ExpressionAttributeNames:  map[string]string{"#p": schema.AuditPK, "#s": schema.AuditSK},
		ExpressionAttributeValues: vals,
		ScanIndexForward:          aws.Bool(ascending),
		ConsistentRead:            aws.Bool(true),
	}
}

// DigestBefore is one Query of the digest partition, newest first, Limit 1.
func (s *Store) DigestBefore(ctx context.Context, t time.Time) (vsecure.Digest, error) {
	in := s.digestQuery("#s < :t", item{":t": str(stamp(t))}, false)
	in.Limit = aws.Int32(1)
	out, err := s.query(ctx, "DigestBefore", in)
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
	in := s.digestQuery("#s BETWEEN :lo AND :hi", item{":lo": str(stamp(from)), ":hi": str(stamp(to))}, true)
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
