package embedded

import (
	"bytes"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// memo keeps decoded copies of hot read-path records (keys, policies,
// secret heads and versions, grants) next to the exact bytes they were
// decoded from. A lookup hands back the decoded value only if the stored
// bytes are still identical, so a changed record — by any write, or by a
// tool while the store was closed — is decoded afresh: there is nothing
// to invalidate and nothing can go stale. It saves the JSON decoding that
// dominated the CPU of an audited read.
//
// Decoded values are shared between callers: they must be treated as
// read-only (the gate copies before it changes anything).
type memo struct {
	mu    sync.Mutex
	items map[string]memoItem
	max   int
}

type memoItem struct {
	raw []byte
	val any
}

func newMemo(max int) *memo { return &memo{items: map[string]memoItem{}, max: max} }

func (m *memo) lookup(key string, raw []byte) (any, bool) {
	m.mu.Lock()
	it, ok := m.items[key]
	m.mu.Unlock()
	if !ok || !bytes.Equal(it.raw, raw) {
		return nil, false
	}
	return it.val, true
}

func (m *memo) store(key string, raw []byte, val any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.items) >= m.max {
		// Crude but bounded: start over rather than track recency on
		// every read.
		clear(m.items)
	}
	m.items[key] = memoItem{raw: bytes.Clone(raw), val: val}
}

// getMemo is get for hot records, through the memo.
func getMemo[T any](m *memo, b *bolt.Bucket, bucket []byte, key string, v *T) (bool, error) {
	raw := b.Get([]byte(key))
	if raw == nil {
		return false, nil
	}
	k := string(bucket) + "\x00" + key
	if val, ok := m.lookup(k, raw); ok {
		*v = val.(T)
		return true, nil
	}
	if err := decode(raw, v); err != nil {
		return true, err
	}
	m.store(k, raw, *v)
	return true, nil
}
