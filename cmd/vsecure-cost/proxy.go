package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/vsecure/vsecure/internal/awsrec"
)

// call is one DynamoDB or KMS request a function made.
type call struct {
	op      string             // e.g. TransactWriteItems, kms:Decrypt
	status  int                // HTTP status of the answer
	errTyp  string             // __type of an error answer
	local   map[string]float64 // DynamoDB Local's ConsumedCapacity: "RRU table[/index]" → units
	billed  map[string]float64 // AWS's rules from item sizes: same keys
	approx  bool               // billed read of a filtered or projected query: scaled, not exact
	entries int                // audit entry items written (the indexer indexes each once)
}

// recorder keeps the calls of the current invocation.
type recorder struct {
	mu    sync.Mutex
	calls []call
}

func (r *recorder) add(c call) {
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
}

// take returns and forgets the calls recorded so far.
func (r *recorder) take() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls
	r.calls = nil
	return c
}

// kmsProxy counts the KMS requests that pass through it.
func kmsProxy(upstream string, rec *recorder) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		status, h, out, err := awsrec.Forward(upstream, r, body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		op := r.Header.Get("X-Amz-Target")
		op = "kms:" + op[strings.LastIndexByte(op, '.')+1:]
		rec.add(call{op: op, status: status})
		awsrec.Reply(w, status, h, out)
	})
}

// ddbProxy sits between a function and DynamoDB Local. It asks for
// consumed capacity on every request (the functions do not), and computes
// what AWS would bill from the items before and after each write, read
// with side requests that go straight to DynamoDB Local and are not
// counted.
type ddbProxy struct {
	upstream string
	rec      *recorder
	mu       sync.Mutex
	tables   map[string]*tableDesc
}

type tableDesc struct {
	keys    []string // table key attributes
	indexes []indexDesc
}

type indexDesc struct {
	name       string
	keys       []string
	projection string // ALL, KEYS_ONLY, INCLUDE
	include    []string
}

type item = map[string]any

func (p *ddbProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	target := r.Header.Get("X-Amz-Target")
	op := target[strings.LastIndexByte(target, '.')+1:]
	var in map[string]any
	if json.Unmarshal(body, &in) != nil {
		in = nil
	}
	if in != nil && returnsCapacity[op] {
		if _, set := in["ReturnConsumedCapacity"]; !set {
			in["ReturnConsumedCapacity"] = "INDEXES"
			body, _ = json.Marshal(in)
		}
	}
	writes := p.writeTargets(r, op, in)
	for i := range writes {
		writes[i].old = p.get(r, writes[i].table, writes[i].key)
	}
	status, h, out, err := awsrec.Forward(p.upstream, r, body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	if in != nil && op != "DescribeTable" && op != "CreateTable" && op != "UpdateTimeToLive" && op != "ListTables" {
		c := call{op: op, status: status, local: map[string]float64{}, billed: map[string]float64{}}
		var res map[string]any
		_ = json.Unmarshal(out, &res)
		if status != http.StatusOK {
			t, _ := res["__type"].(string)
			c.errTyp = t[strings.LastIndexByte(t, '#')+1:]
		}
		localCapacity(res, c.local, readOps[op])
		for _, wt := range writes {
			if pk, _ := wt.key["pk"].(map[string]any); status == http.StatusOK && !wt.check && pk != nil && strings.HasPrefix(fmt.Sprint(pk["S"]), "T#") {
				c.entries++
			}
			wt.new = p.get(r, wt.table, wt.key)
			p.billWrite(r, wt, c.billed)
		}
		c.approx = p.billRead(r, op, in, res, c.billed)
		p.rec.add(c)
	}
	awsrec.Reply(w, status, h, out)
}

var readOps = map[string]bool{"GetItem": true, "Query": true, "Scan": true, "BatchGetItem": true, "TransactGetItems": true}

var returnsCapacity = map[string]bool{
	"GetItem": true, "PutItem": true, "UpdateItem": true, "DeleteItem": true, "Query": true, "Scan": true,
	"BatchGetItem": true, "BatchWriteItem": true, "TransactGetItems": true, "TransactWriteItems": true,
}

// localCapacity adds DynamoDB Local's ConsumedCapacity of an answer to m.
// DynamoDB Local may give only CapacityUnits; read tells which kind those are.
func localCapacity(res map[string]any, m map[string]float64, read bool) {
	var ccs []any
	switch v := res["ConsumedCapacity"].(type) {
	case []any:
		ccs = v
	case map[string]any:
		ccs = []any{v}
	}
	for _, x := range ccs {
		cc, _ := x.(map[string]any)
		table, _ := cc["TableName"].(string)
		add := func(name string, units map[string]any) {
			if units == nil {
				return
			}
			if v, ok := units["ReadCapacityUnits"].(float64); ok && v > 0 {
				m["RRU "+name] += v
			}
			if v, ok := units["WriteCapacityUnits"].(float64); ok && v > 0 {
				m["WRU "+name] += v
			}
			_, r := units["ReadCapacityUnits"]
			_, w := units["WriteCapacityUnits"]
			if v, ok := units["CapacityUnits"].(float64); ok && v > 0 && !r && !w {
				if read {
					m["RRU "+name] += v
				} else {
					m["WRU "+name] += v
				}
			}
		}
		t, _ := cc["Table"].(map[string]any)
		add(table, t)
		for _, key := range []string{"GlobalSecondaryIndexes", "LocalSecondaryIndexes"} {
			idx, _ := cc[key].(map[string]any)
			for name, u := range idx {
				um, _ := u.(map[string]any)
				add(table+"/"+name, um)
			}
		}
		if t == nil {
			add(table, cc) // only a total: attribute it to the table
		}
	}
}

type writeTarget struct {
	table    string
	key      item
	txn      bool
	check    bool // ConditionCheck: billed as a write of the item, changes nothing
	old, new item
}

func (p *ddbProxy) writeTargets(r *http.Request, op string, in map[string]any) []writeTarget {
	if in == nil {
		return nil
	}
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
	obj := func(m map[string]any, k string) map[string]any { o, _ := m[k].(map[string]any); return o }
	var ws []writeTarget
	keyOf := func(table string, it item) item {
		d := p.describe(r, table)
		k := item{}
		if d != nil {
			for _, a := range d.keys {
				k[a] = it[a]
			}
		}
		return k
	}
	switch op {
	case "PutItem":
		t := str(in, "TableName")
		ws = append(ws, writeTarget{table: t, key: keyOf(t, obj(in, "Item"))})
	case "UpdateItem", "DeleteItem":
		ws = append(ws, writeTarget{table: str(in, "TableName"), key: obj(in, "Key")})
	case "BatchWriteItem":
		for t, reqs := range obj(in, "RequestItems") {
			l, _ := reqs.([]any)
			for _, x := range l {
				rq, _ := x.(map[string]any)
				if put := obj(rq, "PutRequest"); put != nil {
					ws = append(ws, writeTarget{table: t, key: keyOf(t, obj(put, "Item"))})
				}
				if del := obj(rq, "DeleteRequest"); del != nil {
					ws = append(ws, writeTarget{table: t, key: obj(del, "Key")})
				}
			}
		}
	case "TransactWriteItems":
		l, _ := in["TransactItems"].([]any)
		for _, x := range l {
			ti, _ := x.(map[string]any)
			for kind, v := range ti {
				o, _ := v.(map[string]any)
				t := str(o, "TableName")
				wt := writeTarget{table: t, txn: true, check: kind == "ConditionCheck", key: obj(o, "Key")}
				if kind == "Put" {
					wt.key = keyOf(t, obj(o, "Item"))
				}
				ws = append(ws, wt)
			}
		}
	}
	return ws
}

// billWrite adds a write's billed units: the table item, then every
// secondary index by what the write did to the item's projection there.
func (p *ddbProxy) billWrite(r *http.Request, w writeTarget, m map[string]float64) {
	if w.check {
		w.new = w.old
	}
	m["WRU "+w.table] += writeUnits(w.txn, max(sizeOrZero(w.old), sizeOrZero(w.new)))
	d := p.describe(r, w.table)
	if d == nil || w.check {
		return
	}
	for _, ix := range d.indexes {
		po, pn := project(w.old, d, ix), project(w.new, d, ix)
		iw := indexWrite{oldIn: po != nil, newIn: pn != nil, oldSize: sizeOrZero(po), newSize: sizeOrZero(pn)}
		if iw.oldIn && iw.newIn {
			iw.keyChanged = canon(pick(po, ix.keys)) != canon(pick(pn, ix.keys))
			iw.projectedChanged = canon(po) != canon(pn)
		}
		if u := iw.units(); u > 0 {
			m["WRU "+w.table+"/"+ix.name] += u
		}
	}
}

// billRead adds a read's billed units; it reports whether they are an
// estimate (a query whose filter or projection hides what it evaluated).
func (p *ddbProxy) billRead(r *http.Request, op string, in, res map[string]any, m map[string]float64) bool {
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
	consistent := func(o map[string]any) readKind {
		if b, _ := o["ConsistentRead"].(bool); b {
			return readStrong
		}
		return readEventual
	}
	switch op {
	case "GetItem":
		t := str(in, "TableName")
		k, _ := in["Key"].(map[string]any)
		m["RRU "+t] += readUnits(consistent(in), sizeOrZero(p.get(r, t, k)))
	case "BatchGetItem":
		ri, _ := in["RequestItems"].(map[string]any)
		for t, x := range ri {
			o, _ := x.(map[string]any)
			keys, _ := o["Keys"].([]any)
			for _, kx := range keys {
				k, _ := kx.(map[string]any)
				m["RRU "+t] += readUnits(consistent(o), sizeOrZero(p.get(r, t, k)))
			}
		}
	case "TransactGetItems":
		l, _ := in["TransactItems"].([]any)
		for _, x := range l {
			ti, _ := x.(map[string]any)
			g, _ := ti["Get"].(map[string]any)
			k, _ := g["Key"].(map[string]any)
			m["RRU "+str(g, "TableName")] += readUnits(readTxn, sizeOrZero(p.get(r, str(g, "TableName"), k)))
		}
	case "Query", "Scan":
		name := str(in, "TableName")
		if ix := str(in, "IndexName"); ix != "" {
			name += "/" + ix
		}
		items, _ := res["Items"].([]any)
		size := 0
		for _, x := range items {
			it, _ := x.(map[string]any)
			size += itemSize(it)
		}
		count, _ := res["Count"].(float64)
		scanned, _ := res["ScannedCount"].(float64)
		_, projected := in["ProjectionExpression"]
		approx := projected || scanned > count
		if scanned > count && count > 0 {
			size = int(float64(size) * scanned / count)
		}
		if scanned > count && count == 0 {
			// Nothing returned to measure: take DynamoDB Local's figure.
			var local float64
			for k, v := range localOnly(res) {
				if strings.HasPrefix(k, "RRU ") {
					local += v
				}
			}
			m["RRU "+name] += local
			return true
		}
		if status, _ := res["__type"].(string); status == "" {
			m["RRU "+name] += readUnits(consistent(in), size)
		}
		return approx
	}
	return false
}

func localOnly(res map[string]any) map[string]float64 {
	m := map[string]float64{}
	localCapacity(res, m, true)
	return m
}

// describe returns a table's keys and secondary indexes (cached).
func (p *ddbProxy) describe(r *http.Request, table string) *tableDesc {
	p.mu.Lock()
	if d, ok := p.tables[table]; ok {
		p.mu.Unlock()
		return d
	}
	p.mu.Unlock()
	var out struct {
		Table struct {
			KeySchema              []struct{ AttributeName string }
			GlobalSecondaryIndexes []rawIndex
			LocalSecondaryIndexes  []rawIndex
		}
	}
	if err := p.side(r, "DescribeTable", map[string]any{"TableName": table}, &out); err != nil {
		return nil
	}
	d := &tableDesc{}
	for _, k := range out.Table.KeySchema {
		d.keys = append(d.keys, k.AttributeName)
	}
	for _, ix := range append(out.Table.GlobalSecondaryIndexes, out.Table.LocalSecondaryIndexes...) {
		id := indexDesc{name: ix.IndexName, projection: ix.Projection.ProjectionType, include: ix.Projection.NonKeyAttributes}
		for _, k := range ix.KeySchema {
			id.keys = append(id.keys, k.AttributeName)
		}
		d.indexes = append(d.indexes, id)
	}
	p.mu.Lock()
	if p.tables == nil {
		p.tables = map[string]*tableDesc{}
	}
	p.tables[table] = d
	p.mu.Unlock()
	return d
}

type rawIndex struct {
	IndexName  string
	KeySchema  []struct{ AttributeName string }
	Projection struct {
		ProjectionType   string
		NonKeyAttributes []string
	}
}

// get reads an item straight from DynamoDB Local (nil if absent).
func (p *ddbProxy) get(r *http.Request, table string, key item) item {
	if table == "" || len(key) == 0 {
		return nil
	}
	var out struct{ Item item }
	if err := p.side(r, "GetItem", map[string]any{"TableName": table, "Key": key, "ConsistentRead": true}, &out); err != nil {
		return nil
	}
	return out.Item
}

// side sends one request straight to DynamoDB Local with the caller's
// Authorization header: DynamoDB Local keeps one database per access key
// and region, and does not check signatures.
func (p *ddbProxy) side(r *http.Request, op string, in any, out any) error {
	b, _ := json.Marshal(in)
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, p.upstream+"/", bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("Authorization", r.Header.Get("Authorization"))
	req.Header.Set("X-Amz-Date", r.Header.Get("X-Amz-Date"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %s", op, resp.Status, body)
	}
	return json.Unmarshal(body, out)
}

// project is the item as the index stores it, or nil if the item is not
// in the (sparse) index.
func project(it item, d *tableDesc, ix indexDesc) item {
	if it == nil {
		return nil
	}
	for _, k := range ix.keys {
		if _, ok := it[k]; !ok {
			return nil
		}
	}
	if ix.projection == "ALL" {
		return it
	}
	attrs := append(append(append([]string{}, d.keys...), ix.keys...), ix.include...)
	return pick(it, attrs)
}

func pick(it item, attrs []string) item {
	out := item{}
	for _, a := range attrs {
		if v, ok := it[a]; ok {
			out[a] = v
		}
	}
	return out
}

func sizeOrZero(it item) int {
	if it == nil {
		return 0
	}
	return itemSize(it)
}

// canon is a comparable form of an item (encoding/json sorts map keys).
func canon(it item) string {
	b, _ := json.Marshal(it)
	return string(b)
}

// sortedKeys of a units map, for stable output.
func sortedKeys(m map[string]float64) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
