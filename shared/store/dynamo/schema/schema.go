// Package schema is the one definition of vsecure's DynamoDB tables: key
// attributes, global secondary indexes and the TTL attribute. The dynamo
// store's tests create their tables from it and the CDK stack declares the
// production tables from it, so the two cannot drift.
//
// It imports nothing of the AWS SDK (the CDK app and the SDK name the same
// things with different types); adapters translate.
package schema

// Projection types of an index, as DynamoDB and CloudFormation spell them.
const (
	ProjectAll      = "ALL"
	ProjectKeysOnly = "KEYS_ONLY"
)

// Index is a global secondary index. Every key attribute is a string.
type Index struct {
	Name         string
	PartitionKey string
	SortKey      string // empty: partition key only
	Projection   string
}

// Table is one DynamoDB table. Every key attribute is a string (S).
type Table struct {
	// Name is the default (local) table name; deployments name their own.
	Name         string
	PartitionKey string
	SortKey      string
	Indexes      []Index
	// TTLAttribute, if set, holds an epoch-seconds expiry on ephemeral
	// items only (grant and token index items).
	TTLAttribute string
	// Purpose is a line for humans (README, CDK descriptions).
	Purpose string
}

// KeyAttributes lists every attribute used as a key of the table or one of
// its indexes, once each, in a stable order.
func (t Table) KeyAttributes() []string {
	var out []string
	seen := map[string]bool{}
	add := func(a string) {
		if a != "" && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	add(t.PartitionKey)
	add(t.SortKey)
	for _, ix := range t.Indexes {
		add(ix.PartitionKey)
		add(ix.SortKey)
	}
	return out
}

// Attribute names of the state table.
const (
	PK       = "pk"
	SK       = "sk"
	GSI1PK   = "gsi1pk"
	GSI1SK   = "gsi1sk"
	LivePK   = "livepk"
	LiveSK   = "livesk"
	TTL      = "ttl"
	IndexGSI = "gsi1" // listings: policies, secrets, keys, approvals
	// IndexLive holds pending and approved approvals only (sparse).
	IndexLive = "live"

	// KeyPrefix and KeyHashPrefix start the partition keys of an API
	// key's two items (record and hash copy). The stack's IAM conditions
	// (dynamodb:LeadingKeys) let only the key-management functions write
	// them, and the authorizer only LastUsed on them.
	KeyPrefix     = "KEY#"
	KeyHashPrefix = "KEYHASH#"
	// LastUsed is the attribute MarkKeyUsed sets in place on both items;
	// KeyIDAttr is the hash copy's pointer to its record (its condition).
	LastUsed  = "lastUsed"
	KeyIDAttr = "keyId"
)

// Attribute names of the audit table.
const (
	AuditID       = "id"
	AuditTimePK   = "tpk"   // constant partition of the time index
	AuditTimeSK   = "tsk"   // <timestamp>#<id>, the sort key of every audit index
	AuditActor    = "actor" // actor
	AuditResource = "res"   // exact resource URI
	AuditParent   = "par"   // pattern one level up, e.g. vsecure://secrets/production/*
	AuditKind     = "kind"  // pattern of the kind, e.g. vsecure://secrets/*

	IndexAuditTime     = "byTime"
	IndexAuditActor    = "byActor"
	IndexAuditResource = "byResource"
	IndexAuditParent   = "byParent"
	IndexAuditKind     = "byKind"
)

// State is the single table holding every piece of mutable state.
func State() Table {
	return Table{
		Name:         "vsecure",
		PartitionKey: PK,
		SortKey:      SK,
		Indexes: []Index{
			{Name: IndexGSI, PartitionKey: GSI1PK, SortKey: GSI1SK, Projection: ProjectAll},
			{Name: IndexLive, PartitionKey: LivePK, SortKey: LiveSK, Projection: ProjectAll},
		},
		TTLAttribute: TTL,
		Purpose:      "vsecure state: policies, secrets, approvals with their grant, token and visibility items, API keys",
	}
}

// Audit is the append-only audit log. Its writers are granted PutItem
// (with attribute_not_exists) and its readers Query, nothing else.
func Audit() Table {
	return Table{
		Name:         "vsecure-audit",
		PartitionKey: AuditID,
		Indexes: []Index{
			{Name: IndexAuditTime, PartitionKey: AuditTimePK, SortKey: AuditTimeSK, Projection: ProjectAll},
			{Name: IndexAuditActor, PartitionKey: AuditActor, SortKey: AuditTimeSK, Projection: ProjectAll},
			{Name: IndexAuditResource, PartitionKey: AuditResource, SortKey: AuditTimeSK, Projection: ProjectAll},
			{Name: IndexAuditParent, PartitionKey: AuditParent, SortKey: AuditTimeSK, Projection: ProjectAll},
			{Name: IndexAuditKind, PartitionKey: AuditKind, SortKey: AuditTimeSK, Projection: ProjectAll},
		},
		Purpose: "vsecure audit log: append-only, queried newest first by time, actor or resource pattern",
	}
}

// Tables lists every table.
func Tables() []Table { return []Table{State(), Audit()} }
