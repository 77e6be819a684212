package dynamo

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/vsecure/vsecure/shared/auditlog"
	"github.com/vsecure/vsecure/shared/store/dynamo/schema"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// Seal attributes of an audit item (see README.md).
const (
	attrSealEpoch = "sealEpoch"
	attrSealSeq   = "sealSeq"
	attrSealPrev  = "sealPrev"
	attrSealMAC   = "sealMac"
)

// MetaPrevAmbiguous marks an opening entry whose predecessor was retired
// after a write of unknown outcome: seq previousNext of that epoch may or
// may not exist.
const MetaPrevAmbiguous = "previousAmbiguous"

// WithSeal seals every audit entry with one of pool in-memory chains (1 in
// Lambda, which serves one request at a time), each its own epoch with a
// MAC key from keys. writer names the process in opening entries.
func WithSeal(keys auditlog.MACKeys, writer string, pool int) Option {
	return func(s *Store) {
		s.chains = &chainPool{slots: make(chan struct{}, max(pool, 1))}
		s.macKeys, s.writer = keys, writer
	}
}

// chainPool hands out at most cap(slots) chains at once, the most recently
// returned first, so that sequential writes keep to one epoch and more
// epochs open only under concurrency.
type chainPool struct {
	slots chan struct{}
	mu    sync.Mutex
	free  []*chain
}

func (p *chainPool) take(ctx context.Context) (*chain, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		c := p.free[n-1]
		p.free = p.free[:n-1]
		return c, nil
	}
	return &chain{}, nil
}

func (p *chainPool) give(c *chain) {
	p.mu.Lock()
	p.free = append(p.free, c)
	p.mu.Unlock()
	<-p.slots
}

// chain is one writer's epoch; whoever took it from the pool owns it.
type chain struct {
	key  *auditlog.Key // nil: not open (or retired)
	head auditlog.Head
	// prev is the head of the retired epoch this chain continues, and
	// ambiguous whether its seq prev.Next is of unknown outcome.
	prev      *auditlog.Head
	ambiguous bool
}

// outcome of a write.
type outcome int

const (
	committed outcome = iota
	notWritten
	unknown
)

// classify tells a write that certainly did not happen (a condition or
// validation refused it, a transaction was cancelled) from one that may
// have (no answer, 5xx, throttling after retries that may have hidden an
// earlier attempt's success).
func classify(err error) outcome {
	if err == nil {
		return committed
	}
	var c *canceled
	var tce *types.TransactionCanceledException
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &c) || errors.As(err, &tce) || errors.As(err, &ccf) {
		return notWritten
	}
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorFault() == smithy.FaultClient {
		switch ae.ErrorCode() {
		case "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded", "LimitExceededException":
			return unknown
		}
		return notWritten
	}
	var de *vsecure.Error
	if errors.As(err, &de) && errors.Unwrap(err) == nil {
		return notWritten // refused by this package before any call
	}
	return unknown
}

// sealed runs write, under the put budget's deadline (the ctx it is
// given), with e's audit item sealed by a chain of the pool
// (opening the chain's epoch first if needed) and advances, keeps or
// retires the chain by the write's outcome. Without seals it just writes.
func (s *Store) sealed(ctx context.Context, e vsecure.Entry, write func(ctx context.Context, it item) error) error {
	ctx, cancel, err := s.auditDeadline(ctx, e)
	if err != nil {
		return err
	}
	defer cancel()
	if s.chains == nil {
		it, _, err := s.auditItem(e)
		if err != nil {
			return err
		}
		return write(ctx, it)
	}
	c, err := s.chains.take(ctx)
	if err != nil {
		return storeError(err, "audit chain")
	}
	defer s.chains.give(c)
	if c.key == nil {
		if err := s.openChain(ctx, c, e.Timestamp); err != nil {
			return err
		}
	}
	it, data, err := s.auditItem(e)
	if err != nil {
		return err
	}
	seal, next := c.key.SealJSON(c.head, data)
	setSeal(it, seal)
	err = write(ctx, it)
	switch classify(err) {
	case committed:
		c.head = next
	case unknown:
		c.retire(true)
	}
	return err
}

func (c *chain) retire(ambiguous bool) {
	h := c.head
	c.key, c.prev, c.ambiguous = nil, &h, ambiguous
}

// openChain starts a new epoch for c: its opening entry is put (on
// attribute_not_exists) before any entry of it, dated no later than first,
// the entry it opens the epoch for, so that the window holding first (or
// one before it) holds the key to check it: a sealer reading that window
// must not take first for an entry of an unknown epoch.
func (s *Store) openChain(ctx context.Context, c *chain, first time.Time) error {
	now := time.Now()
	if !first.IsZero() && first.Before(now) {
		now = first
	}
	k, e, err := auditlog.Open(ctx, s.macKeys, auditlog.NewEpoch(now), auditlog.NewEntryID(now), s.writer, now, c.prev)
	if err != nil {
		return err
	}
	if c.ambiguous {
		e.Metadata[MetaPrevAmbiguous] = "true"
	}
	it, data, err := s.auditItem(e)
	if err != nil {
		return err
	}
	seal, next := k.SealJSON(auditlog.Head{Epoch: k.Epoch}, data)
	setSeal(it, seal)
	// Whatever its outcome, a failed opening is abandoned: an epoch of
	// only its opening entry hides nothing, and the next write opens
	// another one naming the same predecessor.
	if err := s.putAudit(ctx, "AppendAudit", it); err != nil {
		return err
	}
	c.key, c.head = &k, next
	return nil
}

func setSeal(it item, s vsecure.AuditSeal) {
	it[attrSealEpoch] = str(s.Epoch)
	it[attrSealSeq] = &types.AttributeValueMemberN{Value: strconv.FormatUint(s.Seq, 10)}
	if len(s.Prev) > 0 {
		it[attrSealPrev] = &types.AttributeValueMemberB{Value: s.Prev}
	}
	it[attrSealMAC] = &types.AttributeValueMemberB{Value: s.MAC}
}

// getSeal reads an item's seal; nil if it has none.
func getSeal(it item) *vsecure.AuditSeal {
	epoch := getS(it, attrSealEpoch)
	if epoch == "" {
		return nil
	}
	s := &vsecure.AuditSeal{Epoch: epoch}
	if v, ok := it[attrSealSeq].(*types.AttributeValueMemberN); ok {
		s.Seq, _ = strconv.ParseUint(v.Value, 10, 64)
	}
	if v, ok := it[attrSealPrev].(*types.AttributeValueMemberB); ok {
		s.Prev = v.Value
	}
	if v, ok := it[attrSealMAC].(*types.AttributeValueMemberB); ok {
		s.MAC = v.Value
	}
	return s
}

// ownItem reports whether old, the item a put's condition found, is the
// very item it (or an earlier attempt of it) wrote: the same entry and,
// if sealed, the same MAC.
func ownItem(it, old item) bool {
	if getS(old, schema.AuditData) != getS(it, schema.AuditData) {
		return false
	}
	mine, sealed := it[attrSealMAC].(*types.AttributeValueMemberB)
	got, ok := old[attrSealMAC].(*types.AttributeValueMemberB)
	if !sealed {
		return !ok
	}
	return ok && bytes.Equal(got.Value, mine.Value)
}

// putAudit puts one audit item unless its key exists.
func (s *Store) putAudit(ctx context.Context, op string, it item) error {
	in := &dynamodb.PutItemInput{
		TableName:                aws.String(s.audit),
		Item:                     it,
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": schema.AuditPK},
		// An SDK retry of a put whose answer was lost finds its own item:
		// telling it from another entry's lets the chain advance.
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
	_, err := s.db.PutItem(ctx, in)
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		if ownItem(it, ccf.Item) {
			return nil
		}
		return vsecure.Wrap(vsecure.EConflict, err, "audit entry "+entryID(getS(it, schema.AuditSK))+" already exists")
	}
	if err != nil {
		return storeError(err, op)
	}
	return nil
}
