package kms

import (
	"container/list"
	"crypto/sha256"
	"sort"
	"sync"
	"time"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// Option configures a Sealer.
type Option func(*Sealer)

// WithDataKeyCache keeps up to max unwrapped data keys for ttl, so a warm
// Lambda container that reads the same secret version again does not pay a
// KMS Decrypt (a third of the cost of an audited read; the AWS Encryption
// SDK's data key caching does the same). An entry is keyed by the hash of
// the exact wrapped key, key id and encryption context: a tampered or
// moved envelope misses the cache and goes to KMS, which refuses it, and a
// cached key still has to authenticate the ciphertext under its AAD.
// Evicted and expired keys are zeroed.
func WithDataKeyCache(ttl time.Duration, max int, now func() time.Time) Option {
	return func(s *Sealer) {
		if now == nil {
			now = time.Now
		}
		s.cache = &keyCache{ttl: ttl, max: max, now: now, items: map[[32]byte]*list.Element{}, lru: list.New()}
	}
}

type keyCache struct {
	ttl   time.Duration
	max   int
	now   func() time.Time
	mu    sync.Mutex
	items map[[32]byte]*list.Element
	lru   *list.List
}

type cachedKey struct {
	id      [32]byte
	key     []byte
	expires time.Time
}

func cacheID(sd vsecure.Sealed, ec map[string]string) [32]byte {
	h := sha256.New()
	h.Write([]byte(sd.KeyID))
	h.Write([]byte{0})
	h.Write(sd.WrappedKey)
	keys := make([]string, 0, len(ec))
	for k := range ec {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		h.Write([]byte{0})
		h.Write([]byte(k))
		h.Write([]byte{0})
		h.Write([]byte(ec[k]))
	}
	var id [32]byte
	copy(id[:], h.Sum(nil))
	return id
}

// get returns a copy of a live cached key.
func (c *keyCache) get(id [32]byte) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[id]
	if !ok {
		return nil
	}
	ck := el.Value.(*cachedKey)
	if !c.now().Before(ck.expires) {
		c.drop(el)
		return nil
	}
	c.lru.MoveToFront(el)
	return append([]byte(nil), ck.key...)
}

func (c *keyCache) put(id [32]byte, key []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[id]; ok {
		c.drop(el)
	}
	c.items[id] = c.lru.PushFront(&cachedKey{id: id, key: append([]byte(nil), key...), expires: c.now().Add(c.ttl)})
	for c.lru.Len() > c.max {
		c.drop(c.lru.Back())
	}
}

func (c *keyCache) drop(el *list.Element) {
	ck := el.Value.(*cachedKey)
	clear(ck.key)
	c.lru.Remove(el)
	delete(c.items, ck.id)
}
