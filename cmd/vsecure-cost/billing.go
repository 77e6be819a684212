package main

import (
	"encoding/base64"
	"math"

	"github.com/vsecure/vsecure/cmd/internal/ddbsize"
)

// DynamoDB bills request units from item sizes and the kind of request,
// by AWS's published rules; DynamoDB Local's ConsumedCapacity does not
// follow them (it does not double transactional writes, and it charges
// index writes its own way), so the table prints both and prices the
// billed units computed here.

// readKind is how a read is billed.
type readKind int

const (
	readEventual readKind = iota // 0.5 RRU per 4 KB
	readStrong                   // 1 RRU per 4 KB
	readTxn                      // 2 RRU per 4 KB (TransactGetItems)
)

// readUnits is the RRU of reading size bytes in one request unit of
// account: one item for GetItem/BatchGetItem/TransactGetItems, the sum of
// every item evaluated for a Query or Scan. Reading nothing (a missing
// item, an empty query) still costs the minimum.
func readUnits(k readKind, size int) float64 {
	blocks := math.Ceil(float64(max(size, 1)) / 4096)
	switch k {
	case readStrong:
		return blocks
	case readTxn:
		return 2 * blocks
	}
	return blocks / 2
}

// writeUnits is the WRU of writing (putting, updating, deleting or
// condition-checking) an item whose larger of old and new size is size
// bytes: 1 per KB, 2 per KB inside TransactWriteItems.
func writeUnits(txn bool, size int) float64 {
	kb := math.Ceil(float64(max(size, 1)) / 1024)
	if txn {
		return 2 * kb
	}
	return kb
}

// indexWrite is what one table write does to one secondary index.
type indexWrite struct {
	oldIn, newIn     bool // the old / new item carries the index's key attributes
	oldSize, newSize int  // projected item sizes
	keyChanged       bool // the index key values differ (both in)
	projectedChanged bool // some projected attribute differs (both in)
}

// units is the WRU the index write costs: 1 per KB of the projected item
// (not doubled in a transaction); an index key change is a delete plus a
// put; an update that touches no projected attribute costs nothing.
func (w indexWrite) units() float64 {
	kb := func(n int) float64 { return math.Ceil(float64(max(n, 1)) / 1024) }
	switch {
	case w.oldIn && w.newIn && w.keyChanged:
		return kb(w.oldSize) + kb(w.newSize)
	case w.oldIn && w.newIn && w.projectedChanged:
		return kb(max(w.oldSize, w.newSize))
	case w.oldIn && w.newIn:
		return 0
	case w.newIn:
		return kb(w.newSize)
	case w.oldIn:
		return kb(w.oldSize)
	}
	return 0
}

// itemSize is an item's size by DynamoDB's rules, from its wire JSON
// (attribute name → {"S": …} etc.).
func itemSize(item map[string]any) int {
	n := 0
	for name, v := range item {
		n += len(name) + valueSize(v)
	}
	return n
}

// valueSize: strings and binaries by their bytes, numbers 1 byte per two
// significant digits plus 1, booleans and nulls 1, lists and maps 3 bytes
// plus 1 per element plus their elements (map keys included).
func valueSize(v any) int {
	av, ok := v.(map[string]any)
	if !ok {
		return 0
	}
	for t, x := range av {
		switch t {
		case "S":
			s, _ := x.(string)
			return len(s)
		case "N":
			s, _ := x.(string)
			return ddbsize.Number(s)
		case "B":
			s, _ := x.(string)
			return binSize(s)
		case "BOOL", "NULL":
			return 1
		case "SS", "NS", "BS":
			n := 0
			l, _ := x.([]any)
			for _, e := range l {
				s, _ := e.(string)
				switch t {
				case "SS":
					n += len(s)
				case "NS":
					n += ddbsize.Number(s)
				default:
					n += binSize(s)
				}
			}
			return n
		case "L":
			l, _ := x.([]any)
			n := 3
			for _, e := range l {
				n += 1 + valueSize(e)
			}
			return n
		case "M":
			m, _ := x.(map[string]any)
			n := 3
			for k, e := range m {
				n += 1 + len(k) + valueSize(e)
			}
			return n
		}
	}
	return 0
}

func binSize(b64 string) int {
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return len(b64) * 3 / 4
	}
	return len(b)
}
