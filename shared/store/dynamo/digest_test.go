package dynamo_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vsecure/vsecure/shared/digest/digesttest"
	"github.com/vsecure/vsecure/shared/store/dynamo"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// tableWorld tampers with the audit table through the DynamoDB API, as an
// insider with table access would: PutItem and DeleteItem, no vsecure code.
type tableWorld struct {
	db    *dynamodb.Client
	audit string
	s     *dynamo.Store
}

func (w *tableWorld) Store() vsecure.Store { return w.s }

func (w *tableWorld) get(t *testing.T, id string) map[string]types.AttributeValue {
	t.Helper()
	out, err := w.db.GetItem(t.Context(), &dynamodb.GetItemInput{
		TableName: aws.String(w.audit), Key: map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: id}},
	})
	if err != nil || len(out.Item) == 0 {
		t.Fatalf("GetItem %s: %v (found %d attributes)", id, err, len(out.Item))
	}
	return out.Item
}

func (w *tableWorld) put(t *testing.T, it map[string]types.AttributeValue) {
	t.Helper()
	if _, err := w.db.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(w.audit), Item: it}); err != nil {
		t.Fatalf("PutItem: %v", err)
	}
}

func (w *tableWorld) del(t *testing.T, id string) {
	t.Helper()
	_, err := w.db.DeleteItem(t.Context(), &dynamodb.DeleteItemInput{
		TableName: aws.String(w.audit), Key: map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: id}},
	})
	if err != nil {
		t.Fatalf("DeleteItem %s: %v", id, err)
	}
}

func data(t *testing.T, v any) types.AttributeValue {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return &types.AttributeValueMemberS{Value: string(b)}
}

func tsk(at time.Time, id string) types.AttributeValue {
	return &types.AttributeValueMemberS{Value: at.UTC().Format("2006-01-02T15:04:05.000000000Z") + "#" + id}
}

func (w *tableWorld) DeleteEntry(t *testing.T, key string) { w.del(t, key) }

// PutEntry writes the item an insider would: the entry's JSON with the
// index attributes that put it in the time index at its timestamp.
func (w *tableWorld) PutEntry(t *testing.T, key string, e vsecure.Entry) {
	w.put(t, map[string]types.AttributeValue{
		"id": &types.AttributeValueMemberS{Value: key}, "tpk": &types.AttributeValueMemberS{Value: "ALL"},
		"tsk": tsk(e.Timestamp, key), "data": data(t, e),
	})
}

// Swap exchanges the two items' sort keys in the time index.
func (w *tableWorld) Swap(t *testing.T, a, b string) {
	ia, ib := w.get(t, a), w.get(t, b)
	ia["tsk"], ib["tsk"] = ib["tsk"], ia["tsk"]
	w.put(t, ia)
	w.put(t, ib)
}

func digestID(from time.Time) string {
	return "dig_" + from.UTC().Format("2006-01-02T15:04:05.000000000Z")
}

func (w *tableWorld) DeleteDigest(t *testing.T, from time.Time) {
	w.get(t, digestID(from))
	w.del(t, digestID(from))
}

func (w *tableWorld) PutDigest(t *testing.T, d vsecure.Digest) {
	it := w.get(t, digestID(d.From))
	it["data"] = data(t, d)
	w.put(t, it)
}

func TestDigestTamper(t *testing.T) {
	db := client(t)
	digesttest.Run(t, func(t *testing.T) digesttest.World {
		table, audit := tables(t, db)
		s, err := dynamo.New(db, table, audit)
		if err != nil {
			t.Fatal(err)
		}
		return &tableWorld{db: db, audit: audit, s: s}
	})
}
