// Package dynamo is the production vsecure.Store: one DynamoDB table for all
// state and a separate append-only table for the audit log (see README.md
// beside this file for every item's keys and every access pattern).
//
// Each state change and its audit entry go out in one TransactWriteItems
// whose state writes are conditional, so a change never lands without its
// entry and two racing writers have exactly one winner. Reads that decide
// access fetch everything in one BatchGetItem: policy candidates, the secret
// head with its latest sealed value, and the caller's grant. Lookups by
// credential are GetItem on index items written in the same transactions.
// No request path scans.
//
// Errors are domain errors: throttling, 5xx, timeouts and exhausted retries
// are EUnavailable; lost conditions are EConflict; AWS error text is kept
// for logs and never shown.
package dynamo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/vsecure/vsecure/shared/auditlog"
	"github.com/vsecure/vsecure/shared/store/dynamo/schema"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// API is the part of the DynamoDB client the store uses.
type API interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	BatchGetItem(context.Context, *dynamodb.BatchGetItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
	BatchWriteItem(context.Context, *dynamodb.BatchWriteItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// Store implements vsecure.Store on DynamoDB. Build it once per process and
// share it: it is safe for concurrent use.
type Store struct {
	db    API
	table string
	audit string
	// recent remembers items this process read or wrote most recently. It
	// is only ever a guess that a conditional write verifies, and it lets
	// RecordRead and UpdateApproval write without reading first.
	recent *recent
	// policies caches policy candidates per policy-set version.
	policies *policyCache
	// chains is the pool of audit chains (nil: entries are unsealed).
	chains  *chainPool
	macKeys auditlog.MACKeys
	writer  string
	// putBudget bounds an audit write: it must finish within putBudget of
	// its entry's timestamp (0: unbounded, for fixtures only).
	putBudget time.Duration
	// The indexer's timing (index.go).
	settle     time.Duration
	minEntries int
	maxDelay   time.Duration
	// retention, if set, gives every audit item a ttl (entries: their
	// timestamp + retention; segments: their window's end + retention).
	retention time.Duration
	// seen is the highest audit watermark read (QueryAudit).
	seen seenMark
}

// Option configures a Store.
type Option func(*Store)

// WithAuditRetention sets the retention of audit items: each entry gets
// ttl = unix(timestamp + d), each index segment ttl = unix(window end) + d,
// so DynamoDB's TTL deletes them once the archive holds them. 0: no ttl.
func WithAuditRetention(d time.Duration) Option {
	return func(s *Store) { s.retention = d }
}

// WithAuditPutBudget changes how long after its entry's timestamp an
// audit write may still finish (default 5 s, which the indexer's settle
// relies on). d <= 0 removes the bound: only for fixtures written with
// fixed or past timestamps (tests, seeded sample data) into a table that
// no indexer has passed yet.
func WithAuditPutBudget(d time.Duration) Option {
	return func(s *Store) { s.putBudget = d }
}

// WithIndexTiming sets the indexer's settle (how far behind now a pass
// ends), and its skip rule: a pass waits while its window holds fewer than
// minEntries entries and the oldest is younger than maxDelay. Defaults:
// 10 s, 1,000, 120 s. Tests set them to index at once.
func WithIndexTiming(settle time.Duration, minEntries int, maxDelay time.Duration) Option {
	return func(s *Store) { s.settle, s.minEntries, s.maxDelay = settle, minEntries, maxDelay }
}

// New returns a store over the state table and the audit table.
func New(db API, table, auditTable string, opts ...Option) (*Store, error) {
	if db == nil || table == "" || auditTable == "" {
		return nil, errors.New("dynamo: client, table and audit table are required")
	}
	s := &Store{
		db: db, table: table, audit: auditTable, recent: newRecent(4096), policies: newPolicyCache(4096),
		putBudget: auditPutBudget, settle: indexSettle, minEntries: indexMinEntries, maxDelay: indexMaxDelay,
	}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// ClientOptions bounds the SDK's retries: a few quick attempts, then the
// caller answers 503 instead of holding a Lambda for seconds. Pass it to
// dynamodb.NewFromConfig.
func ClientOptions(o *dynamodb.Options) {
	o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
		so.MaxAttempts = 3
		so.MaxBackoff = 200 * time.Millisecond
		// No client-side retry quota: the attempt bound already caps load.
		so.RateLimiter = ratelimit.None
	})
}

var _ vsecure.Store = (*Store)(nil)

// --- attribute helpers ---

type item = map[string]types.AttributeValue

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func num(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

func key(pk, sk string) item { return item{schema.PK: str(pk), schema.SK: str(sk)} }

func getS(it item, name string) string {
	if v, ok := it[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func getN(it item, name string) int64 {
	if v, ok := it[name].(*types.AttributeValueMemberN); ok {
		n, _ := strconv.ParseInt(v.Value, 10, 64)
		return n
	}
	return 0
}

// withData returns it with the JSON of v under "data".
func withData(it item, v any) (item, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, vsecure.Wrap(vsecure.EInternal, err, "encode item")
	}
	it["data"] = str(string(b))
	return it, nil
}

func decodeData(it item, v any) error {
	if err := json.Unmarshal([]byte(getS(it, "data")), v); err != nil {
		return vsecure.Wrap(vsecure.EInternal, err, "decode stored item")
	}
	return nil
}

// stamp is a fixed-width UTC time that sorts as a string.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z") }

// --- errors ---

// storeError maps an SDK error to a domain error. Nothing of the AWS text
// reaches the message.
func storeError(err error, what string) error {
	if err == nil {
		return nil
	}
	var de *vsecure.Error
	if errors.As(err, &de) {
		return err
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "ConditionalCheckFailedException":
			return vsecure.Wrap(vsecure.EConflict, err, what+": condition failed")
		case "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
			"InternalServerError", "ServiceUnavailable", "TransactionInProgressException",
			"TransactionConflictException", "LimitExceededException":
			return vsecure.Wrap(vsecure.EUnavailable, err, "the store is unavailable")
		}
		if ae.ErrorFault() == smithy.FaultServer {
			return vsecure.Wrap(vsecure.EUnavailable, err, "the store is unavailable")
		}
		return vsecure.Wrap(vsecure.EInternal, fmt.Errorf("%s: %w", what, err), "the store refused the request")
	}
	// No answer at all: connection refused, timeout, retries exhausted,
	// context cancelled.
	return vsecure.Wrap(vsecure.EUnavailable, fmt.Errorf("%s: %w", what, err), "the store is unavailable")
}

// canceled is a transaction DynamoDB refused, with a reason per item.
type canceled struct {
	reasons []types.CancellationReason
	err     error
}

func (c *canceled) Error() string { return "transaction canceled: " + c.err.Error() }
func (c *canceled) Unwrap() error { return c.err }

// failed reports whether item i of the transaction failed its condition,
// and the item's stored value (nil if it does not exist).
func (c *canceled) failed(i int) (bool, item) {
	if c == nil || i >= len(c.reasons) {
		return false, nil
	}
	r := c.reasons[i]
	return aws.ToString(r.Code) == "ConditionalCheckFailed", r.Item
}

// --- transactions ---

// txToken derives the idempotency token of one transaction attempt from
// its audit entry, so an SDK retry of a request that did commit is answered
// from DynamoDB's idempotency record instead of writing twice. Calls that
// carry no entry get a random base; the token is still fixed across the
// SDK's own retries of that attempt.
func txToken(e vsecure.Entry, attempt int) string {
	base := e.ID
	if base == "" {
		base = strconv.FormatUint(rand.Uint64(), 36)
	}
	sum := sha256.Sum256([]byte(base + "#" + strconv.Itoa(attempt)))
	return hex.EncodeToString(sum[:18]) // 36 characters, the API's maximum
}

// auditPut is the transaction item appending the audit item it.
func (s *Store) auditPut(it item) *types.TransactWriteItem {
	return &types.TransactWriteItem{Put: &types.Put{
		TableName:                aws.String(s.audit),
		Item:                     it,
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": schema.AuditPK},
	}}
}

// transact writes items plus e's audit entry (last) in one transaction.
// Transaction conflicts (another transaction holding an item) are retried
// a few times; a canceled transaction is returned as *canceled with the
// audit item's failure already mapped to EConflict.
func (s *Store) transact(ctx context.Context, op string, items []types.TransactWriteItem, e vsecure.Entry, attempt int) error {
	if e.ID == "" {
		return s.transactItems(ctx, op, items, nil, e, attempt)
	}
	return s.sealed(ctx, e, func(ctx context.Context, it item) error {
		return s.transactItems(ctx, op, items, s.auditPut(it), e, attempt)
	})
}

// transactItems is transact with the audit item (ap, nil for none) built.
func (s *Store) transactItems(ctx context.Context, op string, items []types.TransactWriteItem, ap *types.TransactWriteItem, e vsecure.Entry, attempt int) error {
	if ap != nil {
		items = append(items[:len(items):len(items)], *ap)
	}
	for try := 0; ; try++ {
		in := &dynamodb.TransactWriteItemsInput{
			TransactItems:      items,
			ClientRequestToken: aws.String(txToken(e, attempt*16+try)),
		}
		_, err := s.db.TransactWriteItems(ctx, in)
		if err == nil {
			return nil
		}
		var tce *types.TransactionCanceledException
		if !errors.As(err, &tce) {
			return storeError(err, op)
		}
		c := &canceled{reasons: tce.CancellationReasons, err: err}
		conflict, throttled := false, false
		for _, r := range c.reasons {
			switch aws.ToString(r.Code) {
			case "TransactionConflict":
				conflict = true
			case "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded":
				throttled = true
			}
		}
		if ap != nil {
			if f, _ := c.failed(len(items) - 1); f {
				return vsecure.Wrap(vsecure.EConflict, err, "audit entry "+e.ID+" already exists")
			}
		}
		if (conflict || throttled) && try < 6 {
			if err := sleep(ctx, try); err != nil {
				return storeError(err, op)
			}
			continue
		}
		if throttled || conflict {
			return vsecure.Wrap(vsecure.EUnavailable, err, "the store is unavailable")
		}
		return c
	}
}

// sleep waits a jittered, growing backoff before retry try+1.
func sleep(ctx context.Context, try int) error {
	d := time.Duration(5<<min(try, 5)) * time.Millisecond
	d = d/2 + rand.N(d)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// getItem reads one item with a strongly consistent read; nil if absent.
func (s *Store) getItem(ctx context.Context, op string, k item) (item, error) {
	in := &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: k, ConsistentRead: aws.Bool(true)}
	out, err := s.db.GetItem(ctx, in)
	if err != nil {
		return nil, storeError(err, op)
	}
	if len(out.Item) == 0 {
		return nil, nil
	}
	return out.Item, nil
}

// query runs one Query page.
func (s *Store) query(ctx context.Context, op string, in *dynamodb.QueryInput) (*dynamodb.QueryOutput, error) {
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return nil, storeError(err, op)
	}
	return out, nil
}

// --- recent items ---

// recent is a small bounded map of the last-seen version of items. Values
// are copies; a miss or a stale value costs one more round trip, never a
// wrong write, because every write that uses it is conditional.
type recent struct {
	mu  sync.Mutex
	max int
	m   map[string]any
}

func newRecent(max int) *recent { return &recent{max: max, m: map[string]any{}} }

func (r *recent) put(k string, v any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.m) >= r.max {
		clear(r.m)
	}
	r.m[k] = v
}

func (r *recent) get(k string) (any, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.m[k]
	return v, ok
}
