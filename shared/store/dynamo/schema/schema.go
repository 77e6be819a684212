// Package schema is the one definition of vsecure's DynamoDB tables: key
// attributes, global secondary indexes and the TTL attribute. The dynamo
// store's tests create their tables from it and the CDK stack declares the
// production tables from it, so the two cannot drift.
//
// It imports nothing of the AWS SDK (the CDK app and the SDK name the same
// things with different types); adapters translate.
package schema

import (
	"fmt"
	"hash/fnv"
)

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
	// TTLAttribute, if set, holds an epoch-seconds expiry: on ephemeral
	// state items (grant and token index items), and on audit items when
	// a retention is configured (they are archived before they expire).
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
	// SecretPrefix starts a secret's partition key (head, latest,
	// versions); the audit indexer may update only its heads' counters.
	SecretPrefix = "SECRET#"
	// BootstrapPK is the marker item an admin bootstrap puts, on
	// attribute_not_exists, in the same write as its key: of concurrent
	// bootstraps exactly one mints.
	BootstrapPK = "BOOTSTRAP#admin"
	// PolicySetPK is the policy-set version counter, bumped (ADD) by
	// every policy write in the same transaction; readers cache policies
	// per version (shared/store/dynamo/policycache.go).
	PolicySetPK = "POLICYSET"
	// RatePrefix starts a rate bucket's partition key (RATE#<bucket>):
	// only the functions that take tokens may write it.
	RatePrefix = "RATE#"
)

// ApprovalPrefixes start the partition keys of an approval's items (the
// approval, its visibility copies, its grant, its token): all that a read
// spending a use of a capped approval may write.
var ApprovalPrefixes = []string{"APPR#", "VIS#", "GRANT#", "TOKEN#"}

// AuditShards is the number of partitions audit entries spread over: an
// entry lives under AuditEntryPK(id). 16 partitions × 1,000 writes/s each
// take 16,000 entries/s before any partition is hot.
const AuditShards = 16

// Item layout of the audit table (see ../README.md). Every item has the
// key pk/sk; what the partition key starts with says what the item is.
const (
	AuditPK      = "pk"
	AuditSK      = "sk"
	AuditData    = "data"    // entry or digest JSON (the seal's MAC covers an entry's)
	AuditTTL     = "ttl"     // epoch seconds; set when a retention is configured
	AuditTo      = "to"      // claim: the end E of the pass window [W, E); segment: the bound its refs are below
	AuditRefs    = "refs"    // segment: entry sks of a pass under its key, newest first, packed (binary, dynamo/refs.go), ≤ 4 KB
	AuditThrough = "through" // watermark: every entry with sk < through is indexed

	// AuditEntryPrefix + two digits is an entry's partition; its sort key
	// is "<fixed-width UTC timestamp>#<id>".
	AuditEntryPrefix = "T#"
	// AuditDigestPK holds the digests, sorted by window start.
	AuditDigestPK = "DIGEST"
	// AuditIndexPrefix + filter key ("a:<actor>", "r:<resource>",
	// "p:<pattern>", "o:<operation>", "f:") is a filter index partition of
	// segments, each keyed by its oldest ref (so sorted by time).
	AuditIndexPrefix = "I#"
	// The indexer's watermark item (AuditWatermarkPK, AuditWatermarkSK) and
	// its claims (AuditClaimPK, sk = the pass start W).
	AuditWatermarkPK = "X#index"
	AuditWatermarkSK = "W"
	AuditClaimPK     = "X#pass"
)

// AuditEntryPK is the partition of the entry with id: "T#" and two decimal
// digits of fnv32a(id) mod AuditShards.
func AuditEntryPK(id string) string {
	h := fnv.New32a()
	h.Write([]byte(id))
	return fmt.Sprintf("%s%02d", AuditEntryPrefix, h.Sum32()%AuditShards)
}

// AuditShardPKs lists every entry partition.
func AuditShardPKs() []string {
	out := make([]string, AuditShards)
	for i := range out {
		out[i] = fmt.Sprintf("%s%02d", AuditEntryPrefix, i)
	}
	return out
}

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

// Audit is the append-only audit log: entries on AuditShards partitions,
// digests, and the filter index the indexer writes. No secondary index:
// every read is a Query of the base table (strongly consistent where it
// must be). Its writers are granted PutItem (with attribute_not_exists),
// the indexer BatchWriteItem of segments, readers Query and BatchGetItem.
func Audit() Table {
	return Table{
		Name:         "vsecure-audit",
		PartitionKey: AuditPK,
		SortKey:      AuditSK,
		TTLAttribute: AuditTTL,
		Purpose:      "vsecure audit log: append-only entries on 16 time-sorted shards, digests and the indexer's filter segments",
	}
}

// Tables lists every table.
func Tables() []Table { return []Table{State(), Audit()} }
