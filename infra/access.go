package main

import (
	"slices"
	"strings"

	"github.com/vsecure/vsecure/shared/store/dynamo/schema"
)

// target is a table, or one index of a table, as IAM names it.
type target struct {
	Table string // schema table name
	Index string // empty: the table itself
}

func (t target) String() string {
	if t.Index == "" {
		return t.Table
	}
	return t.Table + "/index/" + t.Index
}

// grant is DynamoDB actions on one target (on the items Only allows).
type grant struct {
	On      target
	Actions []string
	Only    itemScope
}

// itemScope narrows a grant below the table with IAM's DynamoDB
// condition keys.
type itemScope string

const (
	anyItem itemScope = ""
	// lastUsedOfKeys: only the key items (dynamodb:LeadingKeys KEY#,
	// KEYHASH#), and of them only the attributes MarkKeyUsed names
	// (dynamodb:Attributes: the key, lastUsed, and keyId in its condition).
	lastUsedOfKeys itemScope = "lastUsedOfKeys"
	// auditEntries: the audit entries' shards (T#00..T#15) only.
	auditEntries itemScope = "auditEntries"
	// auditDigests: the digests' partition (DIGEST) only.
	auditDigests itemScope = "auditDigests"
	// auditIndexItems: the indexer's own items only: filter segments (I#)
	// and its watermark and claims (X#); never an entry or a digest.
	auditIndexItems itemScope = "auditIndexItems"
	// countedHeads: secret heads only (SECRET#), and of them only the
	// attributes the indexer's Update names (the key, accessCount,
	// accessedAt, indexedThrough: shared/store/dynamo/index.go).
	countedHeads itemScope = "countedHeads"
	// bootstrapItems: an API key's two items and the bootstrap marker
	// (schema.BootstrapPK), which admits exactly one bootstrap.
	bootstrapItems itemScope = "bootstrapItems"
	// policySetVersion: the policy-set version item (schema.PolicySetPK)
	// only, which every policy write bumps.
	policySetVersion itemScope = "policySetVersion"
	// rateBuckets: the rate buckets (schema.RatePrefix) only.
	rateBuckets itemScope = "rateBuckets"
	// approvalItems: an approval's items (schema.ApprovalPrefixes) only.
	approvalItems itemScope = "approvalItems"
)

// The state table's attributes IndexAudit's Update touches (besides the
// key); index.go names them.
const (
	attrAccessCount    = "accessCount"
	attrAccessedAt     = "accessedAt"
	attrIndexedThrough = "indexedThrough"
)

// leadingKeys is the condition allowing only items whose partition key
// matches one of patterns.
func leadingKeys(patterns ...string) map[string]any {
	return map[string]any{"ForAllValues:StringLike": map[string]any{"dynamodb:LeadingKeys": patterns}}
}

// conditions are the IAM conditions of a scope.
func (s itemScope) conditions() map[string]any {
	switch s {
	case lastUsedOfKeys:
		return map[string]any{"ForAllValues:StringLike": map[string]any{
			"dynamodb:LeadingKeys": []string{schema.KeyPrefix + "*", schema.KeyHashPrefix + "*"},
			"dynamodb:Attributes":  []string{schema.PK, schema.SK, schema.LastUsed, schema.KeyIDAttr},
		}}
	case auditEntries:
		return leadingKeys(schema.AuditEntryPrefix + "*")
	case auditDigests:
		return leadingKeys(schema.AuditDigestPK)
	case auditIndexItems:
		return leadingKeys(schema.AuditIndexPrefix+"*", schema.AuditWatermarkPK, schema.AuditClaimPK)
	case countedHeads:
		return map[string]any{"ForAllValues:StringLike": map[string]any{
			"dynamodb:LeadingKeys": []string{schema.SecretPrefix + "*"},
			"dynamodb:Attributes":  []string{schema.PK, schema.SK, attrAccessCount, attrAccessedAt, attrIndexedThrough},
		}}
	case bootstrapItems:
		return leadingKeys(schema.KeyPrefix+"*", schema.KeyHashPrefix+"*", schema.BootstrapPK)
	case policySetVersion:
		return leadingKeys(schema.PolicySetPK)
	case rateBuckets:
		return leadingKeys(schema.RatePrefix + "*")
	case approvalItems:
		var ps []string
		for _, p := range schema.ApprovalPrefixes {
			ps = append(ps, p+"*")
		}
		return leadingKeys(ps...)
	}
	return nil
}

// keyItemWriters are the store methods that write API key items: a
// function calling none of them is denied every write whose partition key
// is a key item's (keyItemsDeny), whatever else it may write.
var keyItemWriters = []string{"CreateKey", "UpdateKey", "RotateKey", "BootstrapKey"}

var (
	stateT = schema.State().Name
	auditT = schema.Audit().Name
)

// appendAudit is how everything but the indexer writes the audit table: a
// Put (attribute_not_exists on the random id) of an entry, alone or inside
// the same TransactWriteItems as the state change, into the entry shards
// only. IAM authorizes each item of a transaction by its own action, so a
// transactional Put needs PutItem. Nobody is granted UpdateItem or
// DeleteItem on the audit table (and its resource policy denies them).
var appendAudit = grant{target{auditT, ""}, []string{"dynamodb:PutItem"}, auditEntries}

// storeAccess maps each vsecure.Store method to the DynamoDB actions the
// dynamo adapter performs for it. It is the one place to change when the
// adapter's access pattern changes; the stack tests then show exactly
// which function's policy moved.
//
// Reads: BatchGetItem for the one-round-trip access view, GetItem for
// point reads, Query on the gsi1 listing index or the sparse live index.
// Writes: TransactWriteItems of Put/Update/Delete items with the audit Put.
var storeAccess = map[string][]grant{
	// PutPolicy: the policy's Put, and the ADD to the policy-set version
	// that invalidates every container's cached policies.
	"PutPolicy": {
		{target{stateT, ""}, []string{"dynamodb:PutItem"}, anyItem},
		{target{stateT, ""}, []string{"dynamodb:UpdateItem"}, policySetVersion},
		appendAudit,
	},
	"ListPolicies": {{target{stateT, schema.IndexGSI}, []string{"dynamodb:Query"}, anyItem}},

	"LoadAccess": {{target{stateT, ""}, []string{"dynamodb:BatchGetItem"}, anyItem}},
	// An audited read's only write is its entry; the indexer counts it.
	"RecordRead": {appendAudit},
	// SpendUse is UpdateApproval of the capped approval (its GetItem when
	// this container has not just read it) with the read's entry.
	"SpendUse": {{target{stateT, ""}, []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"}, approvalItems}, appendAudit},
	// PutSecret: one transaction of an Update of the head (version,
	// accessCount kept) and Puts of the latest and the version items.
	"PutSecret": {{target{stateT, ""}, []string{"dynamodb:PutItem", "dynamodb:UpdateItem"}, anyItem}, appendAudit},
	// ListSecrets adds the reads the indexer has not counted yet: the
	// watermark and the unindexed tail of the entry shards.
	"ListSecrets": {
		{target{stateT, schema.IndexGSI}, []string{"dynamodb:Query"}, anyItem},
		{target{auditT, ""}, []string{"dynamodb:Query"}, anyItem},
	},

	"CreateApproval":  {{target{stateT, ""}, []string{"dynamodb:PutItem"}, anyItem}, appendAudit},
	"GetApproval":     {{target{stateT, ""}, []string{"dynamodb:GetItem"}, anyItem}},
	"UpdateApproval":  {{target{stateT, ""}, []string{"dynamodb:PutItem", "dynamodb:DeleteItem"}, anyItem}, appendAudit},
	"ApprovalByToken": {{target{stateT, ""}, []string{"dynamodb:GetItem"}, anyItem}},
	// ListApprovals: the caller's VIS#<principal> partition of the table
	// (non-admins), the live index (status pending or approved), or gsi1.
	"ListApprovals": {
		{target{stateT, ""}, []string{"dynamodb:Query"}, anyItem},
		{target{stateT, schema.IndexGSI}, []string{"dynamodb:Query"}, anyItem},
		{target{stateT, schema.IndexLive}, []string{"dynamodb:Query"}, anyItem},
	},
	"ListLiveApprovals": {
		{target{stateT, schema.IndexLive}, []string{"dynamodb:Query"}, anyItem},
	},

	"AppendAudit": {appendAudit},

	// Passkeys (package passkey): a person's credentials are one
	// partition (Query); a ceremony's challenge is a Put, taken once by a
	// GetItem and a conditional Delete; a registration is a transaction of
	// the credential's Puts and its audit entry; an assertion bumps the
	// credential's sign count.
	"ListPasskeys":        {{target{stateT, ""}, []string{"dynamodb:Query"}, anyItem}},
	"CreatePasskey":       {{target{stateT, ""}, []string{"dynamodb:PutItem"}, anyItem}, appendAudit},
	"UsePasskey":          {{target{stateT, ""}, []string{"dynamodb:UpdateItem"}, anyItem}},
	"PutPasskeyCeremony":  {{target{stateT, ""}, []string{"dynamodb:PutItem"}, anyItem}},
	"TakePasskeyCeremony": {{target{stateT, ""}, []string{"dynamodb:GetItem", "dynamodb:DeleteItem"}, anyItem}},
	// The audit table has no index: the shards, the watermark and the
	// filter segments are Queries of the table, the entries the segments
	// name one BatchGetItem.
	"QueryAudit": {{target{auditT, ""}, []string{"dynamodb:Query", "dynamodb:BatchGetItem"}, anyItem}},

	// Audit digests: windows are read from the entry shards, digests from
	// their partition (pk=DIGEST); a digest is one more conditional Put
	// into the append-only audit table.
	"AuditRange":   {{target{auditT, ""}, []string{"dynamodb:Query"}, anyItem}},
	"OldestAudit":  {{target{auditT, ""}, []string{"dynamodb:Query"}, anyItem}},
	"DigestBefore": {{target{auditT, ""}, []string{"dynamodb:Query"}, anyItem}},
	"Digests":      {{target{auditT, ""}, []string{"dynamodb:Query"}, anyItem}},
	"PutDigest":    {{target{auditT, ""}, []string{"dynamodb:PutItem"}, auditDigests}},

	// The audit indexer: strongly consistent Queries of the watermark, a
	// pass's claim and the entry shards; a conditional PutItem of the
	// claim; BatchWriteItem of the filter segments; a conditional
	// UpdateItem per read secret head (ADD accessCount, SET accessedAt and
	// indexedThrough); then the watermark's conditional PutItem. Its
	// writes reach its own items (X#, I#) and the counters of secret
	// heads, nothing else.
	"IndexAudit": {
		{target{auditT, ""}, []string{"dynamodb:Query"}, anyItem},
		{target{auditT, ""}, []string{"dynamodb:BatchWriteItem", "dynamodb:PutItem"}, auditIndexItems},
		{target{stateT, ""}, []string{"dynamodb:UpdateItem"}, countedHeads},
	},

	"CreateKey": {{target{stateT, ""}, []string{"dynamodb:PutItem"}, anyItem}, appendAudit},
	// BootstrapKey: CreateKey's transaction plus the marker's conditional
	// Put, onto those items only.
	// BootstrapKey reads the marker and the key it names (GetItem), then
	// puts the key's items and the marker in one transaction.
	"BootstrapKey": {{target{stateT, ""}, []string{"dynamodb:PutItem"}, bootstrapItems}, {target{stateT, ""}, []string{"dynamodb:GetItem"}, bootstrapItems}, appendAudit},
	"KeyByHash":    {{target{stateT, ""}, []string{"dynamodb:GetItem"}, anyItem}},
	"GetKey":       {{target{stateT, ""}, []string{"dynamodb:GetItem"}, anyItem}},
	// UpdateKey and RotateKey: conditional Puts (version, revokedAt) of
	// the key's two items, RotateKey's with the new key's two.
	"UpdateKey": {{target{stateT, ""}, []string{"dynamodb:PutItem"}, anyItem}, appendAudit},
	"RotateKey": {{target{stateT, ""}, []string{"dynamodb:PutItem"}, anyItem}, appendAudit},
	"ListKeys":  {{target{stateT, schema.IndexGSI}, []string{"dynamodb:Query"}, anyItem}},
	// MarkKeyUsed is a TransactWriteItems of two Updates, no audit item,
	// of lastUsed on the key's two items and nothing else.
	"MarkKeyUsed": {{target{stateT, ""}, []string{"dynamodb:UpdateItem"}, lastUsedOfKeys}},

	// Idempotency records: a conditional Put to reserve and to complete,
	// a transactional Delete to release.
	"ReserveIdempotency":  {{target{stateT, ""}, []string{"dynamodb:PutItem", "dynamodb:GetItem"}, anyItem}},
	"CompleteIdempotency": {{target{stateT, ""}, []string{"dynamodb:PutItem"}, anyItem}},
	"ReleaseIdempotency":  {{target{stateT, ""}, []string{"dynamodb:DeleteItem"}, anyItem}},

	// Slack: the user's keys through the sparse gsi1 partition, each then
	// re-read consistently; the replay guard's conditional PutItem.
	"KeysBySlackUser": {
		{target{stateT, schema.IndexGSI}, []string{"dynamodb:Query"}, anyItem},
		{target{stateT, ""}, []string{"dynamodb:GetItem"}, anyItem},
	},
	"Remember": {{target{stateT, ""}, []string{"dynamodb:PutItem"}, anyItem}},

	// A rate bucket: a consistent GetItem, then a conditional PutItem of
	// the bucket's item, on the RATE# items only.
	"TakeToken": {{target{stateT, ""}, []string{"dynamodb:GetItem", "dynamodb:PutItem"}, rateBuckets}},
}

// dynamoStatement is one IAM Allow statement: these actions on these
// targets (on the items Only allows).
type dynamoStatement struct {
	Actions []string
	On      []target
	Only    itemScope
}

type scoped struct {
	On   target
	Only itemScope
}

// dynamoStatements folds the store methods a function calls into as few
// statements as possible: targets that need the same action set share one.
// The output is sorted, so templates and tests are stable.
func dynamoStatements(methods []string) ([]dynamoStatement, error) {
	actions := map[scoped]map[string]bool{}
	for _, m := range methods {
		gs, ok := storeAccess[m]
		if !ok {
			return nil, errUnknownMethod(m)
		}
		for _, g := range gs {
			k := scoped{g.On, g.Only}
			if actions[k] == nil {
				actions[k] = map[string]bool{}
			}
			for _, a := range g.Actions {
				actions[k][a] = true
			}
		}
	}
	bySet := map[string]*dynamoStatement{}
	for t, set := range actions {
		list := make([]string, 0, len(set))
		for a := range set {
			list = append(list, a)
		}
		slices.Sort(list)
		k := strings.Join(list, ",") + " " + string(t.Only)
		if bySet[k] == nil {
			bySet[k] = &dynamoStatement{Actions: list, Only: t.Only}
		}
		bySet[k].On = append(bySet[k].On, t.On)
	}
	keys := make([]string, 0, len(bySet))
	for k := range bySet {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]dynamoStatement, 0, len(keys))
	for _, k := range keys {
		s := bySet[k]
		slices.SortFunc(s.On, func(a, b target) int { return strings.Compare(a.String(), b.String()) })
		out = append(out, *s)
	}
	return out, nil
}

type errUnknownMethod string

func (e errUnknownMethod) Error() string {
	return "store method " + string(e) + " has no entry in storeAccess"
}

// writesKeyItemsDenied reports whether a function calling methods gets
// the explicit Deny on key items: it writes the state table, but through
// none of keyItemWriters (a scoped grant, like MarkKeyUsed's, keeps to
// its items by its own conditions).
func writesKeyItemsDenied(methods []string) bool {
	writes := false
	for _, m := range methods {
		if slices.Contains(keyItemWriters, m) {
			return false
		}
		for _, g := range storeAccess[m] {
			if g.On == (target{stateT, ""}) && g.Only == anyItem && slices.ContainsFunc(g.Actions, func(a string) bool {
				return a == "dynamodb:PutItem" || a == "dynamodb:UpdateItem" || a == "dynamodb:DeleteItem"
			}) {
				writes = true
			}
		}
	}
	return writes
}
