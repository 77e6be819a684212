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

// grant is DynamoDB actions on one target.
type grant struct {
	On      target
	Actions []string
}

var (
	stateT = schema.State().Name
	auditT = schema.Audit().Name
)

// appendAudit is the only way anything writes the audit table: a Put
// (attribute_not_exists on the random id), alone or inside the same
// TransactWriteItems as the state change. IAM authorizes each item of a
// transaction by its own action, so a transactional Put needs PutItem.
var appendAudit = grant{target{auditT, ""}, []string{"dynamodb:PutItem"}}

// storeAccess maps each vsecure.Store method to the DynamoDB actions the
// dynamo adapter performs for it. It is the one place to change when the
// adapter's access pattern changes; the stack tests then show exactly
// which function's policy moved.
//
// Reads: BatchGetItem for the one-round-trip access view, GetItem for
// point reads, Query on the gsi1 listing index or the sparse live index.
// Writes: TransactWriteItems of Put/Update/Delete items with the audit Put.
var storeAccess = map[string][]grant{
	"PutPolicy":    {{target{stateT, ""}, []string{"dynamodb:PutItem"}}, appendAudit},
	"ListPolicies": {{target{stateT, schema.IndexGSI}, []string{"dynamodb:Query"}}},

	"LoadAccess": {{target{stateT, ""}, []string{"dynamodb:BatchGetItem"}}},
	// An audited read's only write is its entry; the indexer counts it.
	"RecordRead": {appendAudit},
	"PutSecret":  {{target{stateT, ""}, []string{"dynamodb:PutItem"}}, appendAudit},
	// ListSecrets adds the reads the indexer has not counted yet: the
	// watermark and the unindexed tail of the entry shards.
	"ListSecrets": {
		{target{stateT, schema.IndexGSI}, []string{"dynamodb:Query"}},
		{target{auditT, ""}, []string{"dynamodb:Query"}},
	},

	"CreateApproval":  {{target{stateT, ""}, []string{"dynamodb:PutItem"}}, appendAudit},
	"GetApproval":     {{target{stateT, ""}, []string{"dynamodb:GetItem"}}},
	"UpdateApproval":  {{target{stateT, ""}, []string{"dynamodb:PutItem", "dynamodb:DeleteItem"}}, appendAudit},
	"ApprovalByToken": {{target{stateT, ""}, []string{"dynamodb:GetItem"}}},
	"ListApprovals":   {{target{stateT, schema.IndexGSI}, []string{"dynamodb:Query"}}},
	"ListLiveApprovals": {
		{target{stateT, schema.IndexLive}, []string{"dynamodb:Query"}},
	},

	"AppendAudit": {appendAudit},
	// The audit table has no index: the shards, the watermark and the
	// filter segments are Queries of the table, the entries the segments
	// name one BatchGetItem.
	"QueryAudit": {{target{auditT, ""}, []string{"dynamodb:Query", "dynamodb:BatchGetItem"}}},

	// Audit digests: windows are read from the entry shards, digests from
	// their partition (pk=DIGEST); a digest is one more conditional Put
	// into the append-only audit table.
	"AuditRange":   {{target{auditT, ""}, []string{"dynamodb:Query"}}},
	"OldestAudit":  {{target{auditT, ""}, []string{"dynamodb:Query"}}},
	"DigestBefore": {{target{auditT, ""}, []string{"dynamodb:Query"}}},
	"Digests":      {{target{auditT, ""}, []string{"dynamodb:Query"}}},
	"PutDigest":    {appendAudit},

	"CreateKey": {{target{stateT, ""}, []string{"dynamodb:PutItem"}}, appendAudit},
	"KeyByHash": {{target{stateT, ""}, []string{"dynamodb:GetItem"}}},
	"GetKey":    {{target{stateT, ""}, []string{"dynamodb:GetItem"}}},
	// UpdateKey and RotateKey: conditional Puts (version, revokedAt) of
	// the key's two items, RotateKey's with the new key's two.
	"UpdateKey": {{target{stateT, ""}, []string{"dynamodb:PutItem"}}, appendAudit},
	"RotateKey": {{target{stateT, ""}, []string{"dynamodb:PutItem"}}, appendAudit},
	"ListKeys":  {{target{stateT, schema.IndexGSI}, []string{"dynamodb:Query"}}},
	// MarkKeyUsed is a TransactWriteItems of two Updates, no audit item.
	"MarkKeyUsed": {{target{stateT, ""}, []string{"dynamodb:UpdateItem"}}},

	// Idempotency records: a conditional Put to reserve and to complete,
	// a transactional Delete to release.
	"ReserveIdempotency":  {{target{stateT, ""}, []string{"dynamodb:PutItem", "dynamodb:GetItem"}}},
	"CompleteIdempotency": {{target{stateT, ""}, []string{"dynamodb:PutItem"}}},
	"ReleaseIdempotency":  {{target{stateT, ""}, []string{"dynamodb:DeleteItem"}}},

	// Slack: the user's keys through the sparse gsi1 partition, each then
	// re-read consistently; the replay guard's conditional PutItem.
	"KeysBySlackUser": {
		{target{stateT, schema.IndexGSI}, []string{"dynamodb:Query"}},
		{target{stateT, ""}, []string{"dynamodb:GetItem"}},
	},
	"Remember": {{target{stateT, ""}, []string{"dynamodb:PutItem"}}},
}

// dynamoStatement is one IAM Allow statement: these actions on these
// targets.
type dynamoStatement struct {
	Actions []string
	On      []target
}

// dynamoStatements folds the store methods a function calls into as few
// statements as possible: targets that need the same action set share one.
// The output is sorted, so templates and tests are stable.
func dynamoStatements(methods []string) ([]dynamoStatement, error) {
	actions := map[target]map[string]bool{}
	for _, m := range methods {
		gs, ok := storeAccess[m]
		if !ok {
			return nil, errUnknownMethod(m)
		}
		for _, g := range gs {
			if actions[g.On] == nil {
				actions[g.On] = map[string]bool{}
			}
			for _, a := range g.Actions {
				actions[g.On][a] = true
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
		k := strings.Join(list, ",")
		if bySet[k] == nil {
			bySet[k] = &dynamoStatement{Actions: list}
		}
		bySet[k].On = append(bySet[k].On, t)
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
