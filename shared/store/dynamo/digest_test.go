package dynamo_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vsecure/vsecure/shared/auditlog"
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
	api   *losingAPI // the sealed world's store client
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

// Swap exchanges two records, as the embedded world does: each id now
// holds the other's item (its entry, seal and the index attributes that
// go with them). Exchanging only the time index's sort keys is no
// reorder: it changes nothing the log says, since chains are ordered by
// Seq and never by how the index sorts (digesttest's time_index_order_is_not_evidence).
func (w *tableWorld) Swap(t *testing.T, a, b string) {
	ia, ib := w.get(t, a), w.get(t, b)
	ia["id"], ib["id"] = ib["id"], ia["id"]
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

// PutRecord overwrites the item under key with r's entry and seal, keeping
// or deriving the index attributes, as an insider's PutItem would.
func (w *tableWorld) PutRecord(t *testing.T, key string, r vsecure.AuditRecord) {
	it := map[string]types.AttributeValue{
		"id": &types.AttributeValueMemberS{Value: key}, "tpk": &types.AttributeValueMemberS{Value: "ALL"},
		"tsk": tsk(r.Entry.Timestamp, key), "data": data(t, r.Entry),
	}
	if r.Seal != nil {
		it["sealEpoch"] = &types.AttributeValueMemberS{Value: r.Seal.Epoch}
		it["sealSeq"] = &types.AttributeValueMemberN{Value: strconv.FormatUint(r.Seal.Seq, 10)}
		if len(r.Seal.Prev) > 0 {
			it["sealPrev"] = &types.AttributeValueMemberB{Value: r.Seal.Prev}
		}
		it["sealMac"] = &types.AttributeValueMemberB{Value: r.Seal.MAC}
	}
	w.put(t, it)
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

// TestDigestTamperSealed runs issue 13's tamper cases on a sealing store.
func TestDigestTamperSealed(t *testing.T) {
	db := client(t)
	digesttest.RunSealed(t, func(t *testing.T, keys auditlog.MACKeys) digesttest.SealedWorld {
		table, audit := tables(t, db)
		api := &losingAPI{API: db}
		s, err := dynamo.New(api, table, audit, dynamo.WithSeal(keys, "test", 1))
		if err != nil {
			t.Fatal(err)
		}
		return &tableWorld{db: db, audit: audit, s: s, api: api}
	})
}

// SwapIndex exchanges two items' time-index sort keys only: every record
// and what it says is unchanged, so verification reports nothing
// (digesttest.IndexWorld).
func (w *tableWorld) SwapIndex(t *testing.T, a, b string) {
	ia, ib := w.get(t, a), w.get(t, b)
	ia["tsk"], ib["tsk"] = ib["tsk"], ia["tsk"]
	w.put(t, ia)
	w.put(t, ib)
}

// HideFromIndex moves an item's time-index sort key out of every range:
// no time read finds it any more.
func (w *tableWorld) HideFromIndex(t *testing.T, key string) {
	it := w.get(t, key)
	it["tsk"] = &types.AttributeValueMemberS{Value: "9999-12-31T00:00:00.000000000Z#" + key}
	w.put(t, it)
}

// TestDigestTamperIndex runs the cases of the time index, which orders the
// audit items apart from the items themselves.
func TestDigestTamperIndex(t *testing.T) {
	db := client(t)
	digesttest.RunIndex(t, func(t *testing.T, keys auditlog.MACKeys) digesttest.IndexWorld {
		table, audit := tables(t, db)
		api := &losingAPI{API: db}
		s, err := dynamo.New(api, table, audit, dynamo.WithSeal(keys, "test", 1))
		if err != nil {
			t.Fatal(err)
		}
		return &tableWorld{db: db, audit: audit, s: s, api: api}
	})
}
