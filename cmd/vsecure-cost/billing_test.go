package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestReadWriteUnits(t *testing.T) {
	for _, c := range []struct {
		name string
		got  float64
		want float64
	}{
		{"eventual read of a small item", readUnits(readEventual, 300), 0.5},
		{"strong read of a small item", readUnits(readStrong, 300), 1},
		{"strong read of a missing item costs the minimum", readUnits(readStrong, 0), 1},
		{"strong read of exactly 4 KB", readUnits(readStrong, 4096), 1},
		{"strong read of 4 KB + 1", readUnits(readStrong, 4097), 2},
		{"eventual read of 9 KB", readUnits(readEventual, 9000), 1.5},
		{"transactional read of a small item", readUnits(readTxn, 100), 2},
		{"transactional read of 5 KB", readUnits(readTxn, 5000), 4},
		{"standard write of a small item", writeUnits(false, 200), 1},
		{"standard write of 1 KB + 1", writeUnits(false, 1025), 2},
		{"transactional write of a small item", writeUnits(true, 200), 2},
		{"transactional write of 2.5 KB", writeUnits(true, 2560), 6},
		{"delete of a missing item costs the minimum", writeUnits(false, 0), 1},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestIndexWriteUnits(t *testing.T) {
	for _, c := range []struct {
		name string
		w    indexWrite
		want float64
	}{
		{"new item enters the index", indexWrite{newIn: true, newSize: 700}, 1},
		{"new 1.5 KB item enters the index", indexWrite{newIn: true, newSize: 1536}, 2},
		{"item never in the index (sparse)", indexWrite{oldSize: 500, newSize: 600}, 0},
		{"item leaves the index", indexWrite{oldIn: true, oldSize: 300}, 1},
		{"index key changes: delete + put", indexWrite{oldIn: true, newIn: true, oldSize: 300, newSize: 1100, keyChanged: true}, 3},
		{"projected attribute changes", indexWrite{oldIn: true, newIn: true, oldSize: 900, newSize: 1100, projectedChanged: true}, 2},
		{"update touches nothing projected", indexWrite{oldIn: true, newIn: true, oldSize: 900, newSize: 900}, 0},
	} {
		if got := c.w.units(); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestItemSize(t *testing.T) {
	for _, c := range []struct {
		item string
		want int
	}{
		{`{"pk":{"S":"abc"}}`, 2 + 3},
		{`{"n":{"N":"12345"}}`, 1 + 3 + 1},    // 5 digits → 3 bytes, +1
		{`{"n":{"N":"-0.00100"}}`, 1 + 1 + 1}, // one significant digit
		{`{"b":{"B":"AAEC"}}`, 1 + 3},
		{`{"ok":{"BOOL":true},"z":{"NULL":true}}`, 2 + 1 + 1 + 1},
		{`{"m":{"M":{"k":{"S":"vv"}}}}`, 1 + 3 + 1 + 1 + 2},
		{`{"l":{"L":[{"S":"a"},{"N":"7"}]}}`, 1 + 3 + (1 + 1) + (1 + 2)},
		{`{"ss":{"SS":["a","bc"]}}`, 2 + 3},
		{`{"é":{"S":"ü"}}`, 2 + 2}, // UTF-8 bytes, not runes
	} {
		var item map[string]any
		d := json.NewDecoder(strings.NewReader(c.item))
		if err := d.Decode(&item); err != nil {
			t.Fatal(err)
		}
		if got := itemSize(item); got != c.want {
			t.Errorf("itemSize(%s) = %d, want %d", c.item, got, c.want)
		}
	}
}
