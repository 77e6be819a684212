package dynamo_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vsecure/vsecure/shared/auditlog"
	"github.com/vsecure/vsecure/shared/digest/digesttest"
	"github.com/vsecure/vsecure/shared/store/dynamo"
	"github.com/vsecure/vsecure/shared/store/dynamo/schema"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// tableWorld tampers with the audit table through the DynamoDB API, as an
// insider with table access would: PutItem and DeleteItem, no vsecure code.
type tableWorld struct {
	db    *dynamodb.Client
	audit string
	s     *dynamo.Store
	api   *losingAPI // the sealed world's store client
}

func (w *tableWorld) Store() vsecure.Store { return w.s }

// find returns the key of the entry item whose sort key ends in "#"+id
// (an insider reads the shard the id hashes to).
func (w *tableWorld) find(t *testing.T, id string) map[string]types.AttributeValue {
	t.Helper()
	var start map[string]types.AttributeValue
	for {
		out, err := w.db.Query(t.Context(), &dynamodb.QueryInput{
			TableName: aws.String(w.audit), KeyConditionExpression: aws.String("pk = :p"), ConsistentRead: aws.Bool(true),
			ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: schema.AuditEntryPK(id)}},
			ExclusiveStartKey:         start,
		})
		if err != nil {
			t.Fatalf("Query %s: %v", id, err)
		}
		for _, it := range out.Items {
			if sk := it["sk"].(*types.AttributeValueMemberS).Value; strings.HasSuffix(sk, "#"+id) {
				return map[string]types.AttributeValue{"pk": it["pk"], "sk": it["sk"]}
			}
		}
		if start = out.LastEvaluatedKey; len(start) == 0 {
			t.Fatalf("no item of entry %s", id)
		}
	}
}

func (w *tableWorld) getKey(t *testing.T, k map[string]types.AttributeValue) map[string]types.AttributeValue {
	t.Helper()
	out, err := w.db.GetItem(t.Context(), &dynamodb.GetItemInput{TableName: aws.String(w.audit), Key: k, ConsistentRead: aws.Bool(true)})
	if err != nil || len(out.Item) == 0 {
		t.Fatalf("GetItem %v: %v (found %d attributes)", k, err, len(out.Item))
	}
	return out.Item
}

func (w *tableWorld) put(t *testing.T, it map[string]types.AttributeValue) {
	t.Helper()
	if _, err := w.db.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(w.audit), Item: it}); err != nil {
		t.Fatalf("PutItem: %v", err)
	}
}

func (w *tableWorld) delKey(t *testing.T, k map[string]types.AttributeValue) {
	t.Helper()
	if _, err := w.db.DeleteItem(t.Context(), &dynamodb.DeleteItemInput{TableName: aws.String(w.audit), Key: k}); err != nil {
		t.Fatalf("DeleteItem %v: %v", k, err)
	}
}

func (w *tableWorld) del(t *testing.T, id string) { w.delKey(t, w.find(t, id)) }

func data(t *testing.T, v any) types.AttributeValue {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return &types.AttributeValueMemberS{Value: string(b)}
}

func stampOf(at time.Time) string { return at.UTC().Format("2006-01-02T15:04:05.000000000Z") }

func tsk(at time.Time, id string) types.AttributeValue {
	return &types.AttributeValueMemberS{Value: stampOf(at) + "#" + id}
}

// entryItem is the item of the entry stored under id at time at.
func entryItem(id string, at time.Time, e vsecure.Entry, t *testing.T) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: schema.AuditEntryPK(id)}, "sk": tsk(at, id), "data": data(t, e),
	}
}

// replace puts it as the item of entry id, removing the one it had if
// that sat at another time.
func (w *tableWorld) replace(t *testing.T, id string, it map[string]types.AttributeValue) {
	w.put(t, it)
	if old, ok := w.tryFind(t, id, it["sk"].(*types.AttributeValueMemberS).Value); ok {
		w.delKey(t, old)
	}
}

// tryFind is find of an item of id other than the one at sk.
func (w *tableWorld) tryFind(t *testing.T, id, sk string) (map[string]types.AttributeValue, bool) {
	out, err := w.db.Query(t.Context(), &dynamodb.QueryInput{
		TableName: aws.String(w.audit), KeyConditionExpression: aws.String("pk = :p"), ConsistentRead: aws.Bool(true),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: schema.AuditEntryPK(id)}},
	})
	if err != nil {
		t.Fatalf("Query %s: %v", id, err)
	}
	for _, it := range out.Items {
		if s := it["sk"].(*types.AttributeValueMemberS).Value; s != sk && strings.HasSuffix(s, "#"+id) {
			return map[string]types.AttributeValue{"pk": it["pk"], "sk": it["sk"]}, true
		}
	}
	return nil, false
}

func (w *tableWorld) DeleteEntry(t *testing.T, key string) { w.del(t, key) }

// PutEntry writes the item an insider would: the entry's JSON under the
// key that puts it at its timestamp in the shard of key.
func (w *tableWorld) PutEntry(t *testing.T, key string, e vsecure.Entry) {
	w.replace(t, key, entryItem(key, e.Timestamp, e, t))
}

// Swap exchanges two records, as the embedded world does: each id's item
// now holds the other's entry and seal. Exchanging only the time part of
// their sort keys is no reorder: it changes nothing the log says, since
// chains are ordered by Seq and never by how the shards sort
// (digesttest's time_index_order_is_not_evidence).
func (w *tableWorld) Swap(t *testing.T, a, b string) {
	ka, kb := w.find(t, a), w.find(t, b)
	ia, ib := w.getKey(t, ka), w.getKey(t, kb)
	ia["pk"], ia["sk"], ib["pk"], ib["sk"] = kb["pk"], kb["sk"], ka["pk"], ka["sk"]
	w.put(t, ia)
	w.put(t, ib)
}

func digestKey(from time.Time) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: schema.AuditDigestPK}, "sk": &types.AttributeValueMemberS{Value: stampOf(from)},
	}
}

func (w *tableWorld) DeleteDigest(t *testing.T, from time.Time) {
	w.getKey(t, digestKey(from))
	w.delKey(t, digestKey(from))
}

func (w *tableWorld) PutDigest(t *testing.T, d vsecure.Digest) {
	it := w.getKey(t, digestKey(d.From))
	it["data"] = data(t, d)
	w.put(t, it)
}

func TestDigestTamper(t *testing.T) {
	db := client(t)
	digesttest.Run(t, func(t *testing.T) digesttest.World {
		table, audit := tables(t, db)
		s, err := dynamo.New(db, table, audit, dynamo.WithAuditPutBudget(0))
		if err != nil {
			t.Fatal(err)
		}
		return &tableWorld{db: db, audit: audit, s: s}
	})
}

// PutRecord overwrites the item under key with r's entry and seal, keeping
// or deriving the index attributes, as an insider's PutItem would.
func (w *tableWorld) PutRecord(t *testing.T, key string, r vsecure.AuditRecord) {
	it := entryItem(key, r.Entry.Timestamp, r.Entry, t)
	if r.Seal != nil {
		it["sealEpoch"] = &types.AttributeValueMemberS{Value: r.Seal.Epoch}
		it["sealSeq"] = &types.AttributeValueMemberN{Value: strconv.FormatUint(r.Seal.Seq, 10)}
		if len(r.Seal.Prev) > 0 {
			it["sealPrev"] = &types.AttributeValueMemberB{Value: r.Seal.Prev}
		}
		it["sealMac"] = &types.AttributeValueMemberB{Value: r.Seal.MAC}
	}
	w.replace(t, key, it)
}

// Restart retires the writer's chain the only way a DynamoDB writer
// continues one: a put of unknown outcome (here: not written), after which
// the next write opens an epoch naming the retired one (previousNext,
// previousAmbiguous). A new container starts an unrelated epoch.
func (w *tableWorld) Restart(t *testing.T) {
	w.api.lose.Store(true)
	e := vsecure.Entry{ID: "log_lost", Timestamp: time.Now().UTC(), Operation: vsecure.AuditListSecrets, Actor: "admin", Success: true}
	if err := w.s.AppendAudit(t.Context(), e); err == nil {
		t.Fatal("the lost put succeeded")
	}
}

// losingAPI fails one PutItem, unsent, with an error that says nothing of
// its outcome (a dropped connection).
type losingAPI struct {
	dynamo.API
	lose atomic.Bool
}

func (a *losingAPI) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if a.lose.CompareAndSwap(true, false) {
		return nil, errors.New("connection reset")
	}
	return a.API.PutItem(ctx, in, o...)
}

// sealedWorld is a sealing store on fresh tables whose next audit put can
// be made to lose its answer.
func sealedWorld(t *testing.T, db *dynamodb.Client, keys auditlog.MACKeys) *tableWorld {
	table, audit := tables(t, db)
	api := &losingAPI{API: db}
	s, err := dynamo.New(api, table, audit, dynamo.WithSeal(keys, "test", 1), dynamo.WithAuditPutBudget(0))
	if err != nil {
		t.Fatal(err)
	}
	return &tableWorld{db: db, audit: audit, s: s, api: api}
}

// TestDigestTamperSealed runs issue 13's tamper cases on a sealing store.
func TestDigestTamperSealed(t *testing.T) {
	db := client(t)
	digesttest.RunSealed(t, func(t *testing.T, keys auditlog.MACKeys) digesttest.SealedWorld {
		return sealedWorld(t, db, keys)
	})
}

// SwapIndex exchanges the time parts of two items' sort keys only: each
// record, under its own id and shard, with what it says, is unchanged, so
// verification reports nothing (digesttest.IndexWorld).
func (w *tableWorld) SwapIndex(t *testing.T, a, b string) {
	ka, kb := w.find(t, a), w.find(t, b)
	ia, ib := w.getKey(t, ka), w.getKey(t, kb)
	at := func(k map[string]types.AttributeValue) string {
		s, _, _ := strings.Cut(k["sk"].(*types.AttributeValueMemberS).Value, "#")
		return s
	}
	ia["sk"] = &types.AttributeValueMemberS{Value: at(kb) + "#" + a}
	ib["sk"] = &types.AttributeValueMemberS{Value: at(ka) + "#" + b}
	w.delKey(t, ka)
	w.delKey(t, kb)
	w.put(t, ia)
	w.put(t, ib)
}

// HideFromIndex moves an item's sort key out of every range: no time read
// finds it any more.
func (w *tableWorld) HideFromIndex(t *testing.T, key string) {
	k := w.find(t, key)
	it := w.getKey(t, k)
	it["sk"] = &types.AttributeValueMemberS{Value: "9999-12-31T00:00:00.000000000Z#" + key}
	w.delKey(t, k)
	w.put(t, it)
}

// TestDigestTamperIndex runs the cases of the time index, which orders the
// audit items apart from the items themselves.
func TestDigestTamperIndex(t *testing.T) {
	db := client(t)
	digesttest.RunIndex(t, func(t *testing.T, keys auditlog.MACKeys) digesttest.IndexWorld {
		return sealedWorld(t, db, keys)
	})
}
