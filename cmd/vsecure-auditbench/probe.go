package main

import (
	"context"
	"encoding/json"
	"math"
	"sync"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/vsecure/vsecure/cmd/internal/ddbsize"
	"github.com/vsecure/vsecure/shared/store/dynamo/schema"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// probe watches every SDK call the store makes (an Initialize middleware:
// once per call, whatever the retries): it counts calls per operation,
// flags any Scan and any FilterExpression, bills the audit table's writes
// and every read by AWS's published rules from the requests and answers,
// and keeps the entries that reached the audit table (the model the query
// answers are checked against).
type probe struct {
	audit string // audit table name
	// indexes of the audit table (ALL or KEYS_ONLY), for billing.
	indexes []schema.Index

	mu      sync.Mutex
	cur     tally
	offence []string // Scan / FilterExpression seen (first few)
	// sizes of the entry items put into the audit table
	entryItems, entryBytes, entryMax int
	entries                          map[string]vsecure.Entry
}

// tally is what a phase (one query, the seeding, the indexer) cost.
type tally struct {
	calls map[string]int
	// itemsRead is the items DynamoDB returned to Query and BatchGetItem.
	itemsRead int
	// Local: as DynamoDB Local's ConsumedCapacity reports (asked for by
	// ddbcapacity.Ask on every call).
	localAuditWRU, localAuditGSIWRU, localStateWRU, localRRU float64
	// localUnits: every unit seen by the middleware.
	localUnits float64
	// AWS: the audit table's writes and every read billed by AWS's rules.
	awsAuditWRU, awsStateWRU, awsRRU float64
}

func newTally() tally { return tally{calls: map[string]int{}} }

func (t *tally) add(o tally) {
	for k, v := range o.calls {
		t.calls[k] += v
	}
	t.itemsRead += o.itemsRead
	t.localAuditWRU += o.localAuditWRU
	t.localAuditGSIWRU += o.localAuditGSIWRU
	t.localStateWRU += o.localStateWRU
	t.localRRU += o.localRRU
	t.localUnits += o.localUnits
	t.awsAuditWRU += o.awsAuditWRU
	t.awsStateWRU += o.awsStateWRU
	t.awsRRU += o.awsRRU
}

func newProbe(audit string) *probe {
	return &probe{audit: audit, indexes: schema.Audit().Indexes, cur: newTally(), entries: map[string]vsecure.Entry{}}
}

// take returns what was tallied since the last take and starts afresh.
func (p *probe) take() tally {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.cur
	p.cur = newTally()
	return t
}

func (p *probe) offences() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.offence...)
}

// local adds DynamoDB Local's consumed capacity of one answer.
func (p *probe) local(cc []types.ConsumedCapacity, read bool) {
	for _, c := range cc {
		total := deref(c.CapacityUnits)
		p.cur.localUnits += total
		switch {
		case read:
			p.cur.localRRU += total
		case deref2(c.TableName) == p.audit:
			for _, g := range c.GlobalSecondaryIndexes {
				p.cur.localAuditGSIWRU += deref(g.CapacityUnits)
			}
			p.cur.localAuditWRU += total
		default:
			p.cur.localStateWRU += total
		}
	}
}

func one(c *types.ConsumedCapacity) []types.ConsumedCapacity {
	if c == nil {
		return nil
	}
	return []types.ConsumedCapacity{*c}
}

func deref(f *float64) float64 {
	if f == nil {
		return 0
	}
	return *f
}

// option installs the probe on a client.
func (p *probe) option(o *dynamodb.Options) {
	o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("auditbenchProbe",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				out, md, err := next.HandleInitialize(ctx, in)
				p.observe(awsmiddleware.GetOperationName(ctx), in.Parameters, out.Result, err)
				return out, md, err
			}), middleware.Before)
	})
}

func (p *probe) observe(op string, in, out any, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cur.calls[op]++
	switch v := in.(type) {
	case *dynamodb.ScanInput:
		p.offend("Scan of " + deref2(v.TableName))
	case *dynamodb.QueryInput:
		if v.FilterExpression != nil {
			p.offend("Query with FilterExpression " + *v.FilterExpression)
		}
		if o, ok := out.(*dynamodb.QueryOutput); ok && err == nil {
			p.local(one(o.ConsumedCapacity), true)
			p.cur.itemsRead += len(o.Items)
			size := 0
			for _, it := range o.Items {
				size += itemSize(it)
			}
			p.cur.awsRRU += readUnits(v.ConsistentRead != nil && *v.ConsistentRead, size)
		}
	case *dynamodb.BatchGetItemInput:
		if o, ok := out.(*dynamodb.BatchGetItemOutput); ok && err == nil {
			p.local(o.ConsumedCapacity, true)
			for table, items := range o.Responses {
				strong := false
				if ka, ok := v.RequestItems[table]; ok && ka.ConsistentRead != nil {
					strong = *ka.ConsistentRead
				}
				p.cur.itemsRead += len(items)
				for _, it := range items {
					p.cur.awsRRU += readUnits(strong, itemSize(it))
				}
			}
		}
	case *dynamodb.GetItemInput:
		if o, ok := out.(*dynamodb.GetItemOutput); ok && err == nil {
			p.local(one(o.ConsumedCapacity), true)
			p.cur.awsRRU += readUnits(v.ConsistentRead != nil && *v.ConsistentRead, itemSize(o.Item))
		}
	case *dynamodb.PutItemInput:
		if o, ok := out.(*dynamodb.PutItemOutput); ok && err == nil {
			p.local(one(o.ConsumedCapacity), false)
		}
		if err == nil && deref2(v.TableName) == p.audit {
			p.cur.awsAuditWRU += p.putUnits(v.Item, false)
			p.keep(v.Item)
		}
	case *dynamodb.BatchWriteItemInput:
		if o, ok := out.(*dynamodb.BatchWriteItemOutput); ok && err == nil {
			p.local(o.ConsumedCapacity, false)
			for table, reqs := range v.RequestItems {
				if table != p.audit {
					continue
				}
				for _, r := range reqs {
					if r.PutRequest != nil {
						p.cur.awsAuditWRU += p.putUnits(r.PutRequest.Item, false)
					}
				}
			}
		}
	case *dynamodb.UpdateItemInput:
		if o, ok := out.(*dynamodb.UpdateItemOutput); ok && err == nil {
			p.local(one(o.ConsumedCapacity), false)
		}
	case *dynamodb.TransactWriteItemsInput:
		if o, ok := out.(*dynamodb.TransactWriteItemsOutput); ok && err == nil {
			p.local(o.ConsumedCapacity, false)
			p.billTransaction(v)
		}
	}
}

// billTransaction bills the audit table's items of a committed
// transaction by AWS's rules (2 WRU per KB per item, indexes 1 per KB) and
// the state table's as 2 WRU per item: its items (heads, versions,
// watermark updates) are under 1 KB, and its index writes are left out
// of the AWS column (Local reports them in its own).
func (p *probe) billTransaction(v *dynamodb.TransactWriteItemsInput) {
	for _, ti := range v.TransactItems {
		switch {
		case ti.Put != nil && deref2(ti.Put.TableName) == p.audit:
			p.cur.awsAuditWRU += p.putUnits(ti.Put.Item, true)
			p.keep(ti.Put.Item)
		case ti.Put != nil:
			p.cur.awsStateWRU += 2 * kb(itemSize(ti.Put.Item))
		case ti.Update != nil && deref2(ti.Update.TableName) == p.audit:
			p.cur.awsAuditWRU += 2
		case ti.Update != nil:
			p.cur.awsStateWRU += 2
		case ti.ConditionCheck != nil && deref2(ti.ConditionCheck.TableName) == p.audit:
			p.cur.awsAuditWRU += 2
		case ti.ConditionCheck != nil:
			p.cur.awsStateWRU += 2
		case ti.Delete != nil && deref2(ti.Delete.TableName) == p.audit:
			p.cur.awsAuditWRU += 2
		case ti.Delete != nil:
			p.cur.awsStateWRU += 2
		}
	}
}

// putUnits is the WRU of putting it into the audit table: 1 per KB (2 in
// a transaction) plus 1 per KB of what each index carrying it projects.
func (p *probe) putUnits(it map[string]types.AttributeValue, txn bool) float64 {
	size := itemSize(it)
	u := kb(size)
	if txn {
		u *= 2
	}
	t := schema.Audit()
	for _, ix := range p.indexes {
		if _, ok := it[ix.PartitionKey]; !ok {
			continue
		}
		if _, ok := it[ix.SortKey]; ix.SortKey != "" && !ok {
			continue
		}
		if ix.Projection == schema.ProjectKeysOnly {
			keys := map[string]types.AttributeValue{}
			for _, a := range []string{t.PartitionKey, t.SortKey, ix.PartitionKey, ix.SortKey} {
				if v, ok := it[a]; a != "" && ok {
					keys[a] = v
				}
			}
			u += kb(itemSize(keys))
			continue
		}
		u += kb(size)
	}
	return u
}

// keep remembers the entry an audit item holds (digests, index segments
// and indexer state hold none).
func (p *probe) keep(it map[string]types.AttributeValue) {
	d, ok := it["data"].(*types.AttributeValueMemberS)
	if !ok {
		return
	}
	var e vsecure.Entry
	if json.Unmarshal([]byte(d.Value), &e) != nil || e.ID == "" || e.Operation == "" || e.Timestamp.IsZero() {
		return
	}
	n := itemSize(it)
	p.entryItems++
	p.entryBytes += n
	p.entryMax = max(p.entryMax, n)
	p.entries[e.ID] = e
}

func (p *probe) offend(s string) {
	if len(p.offence) < 20 {
		p.offence = append(p.offence, s)
	}
}

func deref2(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// kb is the write units of an item of size bytes outside a transaction.
func kb(size int) float64 { return math.Ceil(float64(max(size, 1)) / 1024) }

// readUnits is the RRU of reading size bytes in one unit of account (one
// item of a BatchGetItem, the whole of a Query page).
func readUnits(strong bool, size int) float64 {
	blocks := math.Ceil(float64(max(size, 1)) / 4096)
	if strong {
		return blocks
	}
	return blocks / 2
}

// itemSize is an item's size by DynamoDB's rules: names plus values.
func itemSize(it map[string]types.AttributeValue) int {
	n := 0
	for name, v := range it {
		n += len(name) + valueSize(v)
	}
	return n
}

func valueSize(v types.AttributeValue) int {
	switch x := v.(type) {
	case *types.AttributeValueMemberS:
		return len(x.Value)
	case *types.AttributeValueMemberN:
		return ddbsize.Number(x.Value)
	case *types.AttributeValueMemberB:
		return len(x.Value)
	case *types.AttributeValueMemberBOOL, *types.AttributeValueMemberNULL:
		return 1
	case *types.AttributeValueMemberSS:
		n := 0
		for _, s := range x.Value {
			n += len(s)
		}
		return n
	case *types.AttributeValueMemberNS:
		n := 0
		for _, s := range x.Value {
			n += ddbsize.Number(s)
		}
		return n
	case *types.AttributeValueMemberBS:
		n := 0
		for _, b := range x.Value {
			n += len(b)
		}
		return n
	case *types.AttributeValueMemberL:
		n := 3
		for _, e := range x.Value {
			n += 1 + valueSize(e)
		}
		return n
	case *types.AttributeValueMemberM:
		n := 3
		for k, e := range x.Value {
			n += 1 + len(k) + valueSize(e)
		}
		return n
	}
	return 0
}
