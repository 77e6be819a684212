package dynamo

import (
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vsecure/vsecure/shared/store/dynamo/schema"
)

// The policy-set version item: every policy write adds one to its "v" in
// the same transaction as the policy and its audit entry.
const (
	policySetSK   = "VERSION"
	policySetAttr = "v"
)

func policySetKey() item { return key(schema.PolicySetPK, policySetSK) }

// policySetBump is the transaction item of a policy write that moves the
// version on, so every process's cached candidates are read again.
func (s *Store) policySetBump() types.TransactWriteItem {
	return types.TransactWriteItem{Update: &types.Update{
		TableName:                 &s.table,
		Key:                       policySetKey(),
		UpdateExpression:          ptr("ADD #v :one"),
		ExpressionAttributeNames:  map[string]string{"#v": policySetAttr},
		ExpressionAttributeValues: item{":one": num(1)},
	}}
}

func ptr(s string) *string { return &s }

// policyCache holds, per process, the policy candidates LoadAccess has
// read, present or absent, so a warm read fetches the small version item
// instead of every candidate.
//
// Invariant: every entry was read strongly consistent after version v had
// been observed, so the entries show the policy set at version v or later.
// A version read at or below v therefore finds nothing newer than the
// cache (a replica that far behind would show the same policies); a
// higher one means a policy write the entries may predate.
type policyCache struct {
	mu  sync.Mutex
	max int
	v   int64
	m   map[string]string // candidate URI → the policy item's data, "" if absent
}

func newPolicyCache(max int) *policyCache {
	return &policyCache{max: max, m: map[string]string{}}
}

// version is the version a strong read started now may be tagged with.
func (c *policyCache) version() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.v
}

// lookup returns the data of every candidate (in order) if all are cached
// and v, the version just read, is not newer than the cache's.
func (c *policyCache) lookup(cands []string, v int64) ([]string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v > c.v {
		return nil, false
	}
	out := make([]string, len(cands))
	for i, u := range cands {
		d, ok := c.m[u]
		if !ok {
			return nil, false
		}
		out[i] = d
	}
	return out, true
}

// has reports whether every candidate is cached (at whatever version).
func (c *policyCache) has(cands []string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, u := range cands {
		if _, ok := c.m[u]; !ok {
			return false
		}
	}
	return true
}

// store caches candidates read strongly consistent after version tag was
// observed. A newer tag replaces the whole cache (every entry may predate
// it); an older one is dropped, as the cache already knows more.
func (c *policyCache) store(tag int64, data map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case tag < c.v:
		return
	case tag > c.v:
		c.v, c.m = tag, make(map[string]string, len(data))
	}
	if len(c.m)+len(data) > c.max {
		clear(c.m) // bounded; the next reads fill it again
	}
	for u, d := range data {
		c.m[u] = d
	}
}
