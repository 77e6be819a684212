package main

import (
	"bytes"
	"testing"
)

func TestStorageTableMeasures(t *testing.T) {
	var b bytes.Buffer
	writeStorage(t.Context(), &b)
	if !bytes.Contains(b.Bytes(), []byte("| audit table")) || !bytes.Contains(b.Bytes(), []byte("| archive")) {
		t.Fatalf("no storage table:\n%s", b.String())
	}
	t.Log(b.String())
}
