package dynamo

import (
	"context"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vsecure/vsecure/shared/store/dynamo/schema"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// Item keys of approvals and their index items (see README.md).
const (
	approvalPrefix = "APPR#"
	approvalSK     = "APPR"
	approvalsGSI   = "APPROVALS"
	livePart       = "LIVE"
	visPrefix      = "VIS#"
	tokenPrefix    = "TOKEN#"
	tokenSK        = "TOKEN"
	// indexGrace keeps grant and token items a day past expiresAt before
	// TTL removes them; expiry is enforced at read time regardless.
	indexGrace = 24 * time.Hour
)

func approvalKey(id string) item     { return key(approvalPrefix+id, approvalSK) }
func tokenKey(hash string) item      { return key(tokenPrefix+hash, tokenSK) }
func visKey(p, id string) item       { return key(visPrefix+p, id) }
func live(s vsecure.Status) bool     { return s == vsecure.StatusPending || s == vsecure.StatusApproved }
func ttlOf(a vsecure.Approval) int64 { return a.ExpiresAt.Add(indexGrace).Unix() }

// participants are the principals who see a in their ListApprovals: the
// requester, the human it acts for, and the approvers.
func participants(a vsecure.Approval) []string {
	out := []string{a.RequestedBy}
	if a.OnBehalfOf != "" && a.OnBehalfOf != a.RequestedBy {
		out = append(out, a.OnBehalfOf)
	}
	for _, p := range a.Approvers {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// approvalItems are the writes that store a (apart from grant and token):
// the approval itself and one visibility copy per participant.
func (s *Store) approvalItems(a vsecure.Approval, cond string, vals item) ([]types.TransactWriteItem, error) {
	it := approvalKey(a.ID)
	it[schema.GSI1PK], it[schema.GSI1SK] = str(approvalsGSI), str(a.ID)
	if live(a.Status) {
		it[schema.LivePK], it[schema.LiveSK] = str(livePart), str(a.ID)
	}
	it["version"] = num(int64(a.Version))
	it, err := withData(it, a)
	if err != nil {
		return nil, err
	}
	names := map[string]string{"#pk": schema.PK}
	if vals != nil {
		names = map[string]string{"#v": "version"}
	}
	items := []types.TransactWriteItem{{Put: &types.Put{
		TableName: aws.String(s.table), Item: it,
		ConditionExpression: aws.String(cond), ExpressionAttributeNames: names, ExpressionAttributeValues: vals,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}}}
	for _, p := range participants(a) {
		v, err := withData(visKey(p, a.ID), a)
		if err != nil {
			return nil, err
		}
		items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: aws.String(s.table), Item: v}})
	}
	return items, nil
}

func (s *Store) grantPut(a vsecure.Approval, holderOnly bool) (types.TransactWriteItem, error) {
	it := grantKey(a.RequestedBy, a.Operation, a.Resource)
	it["approvalId"], it[schema.TTL] = str(a.ID), num(ttlOf(a))
	it, err := withData(it, a)
	if err != nil {
		return types.TransactWriteItem{}, err
	}
	p := &types.Put{TableName: aws.String(s.table), Item: it}
	if holderOnly {
		p.ConditionExpression = aws.String("#a = :id")
		p.ExpressionAttributeNames = map[string]string{"#a": "approvalId"}
		p.ExpressionAttributeValues = item{":id": str(a.ID)}
	}
	return types.TransactWriteItem{Put: p}, nil
}

func (s *Store) tokenPut(a vsecure.Approval) (types.TransactWriteItem, error) {
	it := tokenKey(a.TokenHash)
	it["approvalId"], it[schema.TTL] = str(a.ID), num(ttlOf(a))
	it, err := withData(it, a)
	if err != nil {
		return types.TransactWriteItem{}, err
	}
	return types.TransactWriteItem{Put: &types.Put{
		TableName: aws.String(s.table), Item: it,
		ConditionExpression:       aws.String("attribute_not_exists(#pk) OR #a = :id"),
		ExpressionAttributeNames:  map[string]string{"#pk": schema.PK, "#a": "approvalId"},
		ExpressionAttributeValues: item{":id": str(a.ID)},
	}}, nil
}

// CreateApproval stores a new request with its visibility items; one
// created approved (autoApprove) also becomes the grant and indexes its
// token. One TransactWriteItems with the entry.
func (s *Store) CreateApproval(ctx context.Context, a vsecure.Approval, e vsecure.Entry) error {
	if a.ID == "" {
		return vsecure.Errorf(vsecure.EInvalid, "approval has no id")
	}
	items, err := s.approvalItems(a, "attribute_not_exists(#pk)", nil)
	if err != nil {
		return err
	}
	if a.Status == vsecure.StatusApproved {
		g, err := s.grantPut(a, false)
		if err != nil {
			return err
		}
		items = append(items, g)
		if a.TokenHash != "" {
			t, err := s.tokenPut(a)
			if err != nil {
				return err
			}
			items = append(items, t)
		}
	}
	if err := s.transact(ctx, "CreateApproval", items, e, 0); err != nil {
		if c, ok := err.(*canceled); ok {
			return vsecure.Wrap(vsecure.EConflict, c, "approval "+a.ID+" already exists or its token is taken")
		}
		return err
	}
	s.recent.put("a:"+a.ID, a)
	return nil
}

// GetApproval reads one approval (GetItem, strongly consistent).
func (s *Store) GetApproval(ctx context.Context, id string) (vsecure.Approval, error) {
	it, err := s.getItem(ctx, "GetApproval", approvalKey(id))
	if err != nil {
		return vsecure.Approval{}, err
	}
	if it == nil {
		return vsecure.Approval{}, vsecure.Errorf(vsecure.ENotFound, "approval %s not found", id)
	}
	var a vsecure.Approval
	if err := decodeData(it, &a); err != nil {
		return a, err
	}
	s.recent.put("a:"+id, a)
	return a, nil
}

// UpdateApproval stores a over its version a.Version-1 and moves the grant
// and token items with its status, all in one TransactWriteItems with e.
//
// Which index writes are due depends on the stored predecessor, which the
// caller has just read (GetApproval) and this process remembers; the
// approval's version condition proves it still current. Whether a still
// holds the grant is guessed yes, and the grant write's own condition
// checks it: a lost guess (rewriting an approval a newer one superseded)
// costs one more attempt without that write.
func (s *Store) UpdateApproval(ctx context.Context, a vsecure.Approval, e vsecure.Entry) error {
	var old vsecure.Approval
	if c, ok := s.recent.get("a:" + a.ID); ok && c.(vsecure.Approval).Version == a.Version-1 {
		old = c.(vsecure.Approval)
	} else {
		it, err := s.getItem(ctx, "UpdateApproval", approvalKey(a.ID))
		if err != nil {
			return err
		}
		if it == nil {
			return vsecure.Errorf(vsecure.ENotFound, "approval %s not found", a.ID)
		}
		if err := decodeData(it, &old); err != nil {
			return err
		}
	}
	if old.Version != a.Version-1 {
		return vsecure.Errorf(vsecure.EConflict, "approval %s changed (stored version %d, update built on %d)", a.ID, old.Version, a.Version-1)
	}
	if old.RequestedBy != a.RequestedBy || old.OnBehalfOf != a.OnBehalfOf || old.Resource != a.Resource || old.Operation != a.Operation {
		return vsecure.Errorf(vsecure.EInvalid, "approval %s: requester, resource and operation cannot change", a.ID)
	}
	wasApproved, isApproved := old.Status == vsecure.StatusApproved, a.Status == vsecure.StatusApproved
	holder := true // guess: a holds the grant (only consulted if it was approved)
	for attempt := 0; attempt < 3; attempt++ {
		items, err := s.approvalItems(a, "#v = :prev", item{":prev": num(int64(old.Version))})
		if err != nil {
			return err
		}
		for _, p := range participants(old) {
			if !slices.Contains(participants(a), p) {
				items = append(items, types.TransactWriteItem{Delete: &types.Delete{TableName: aws.String(s.table), Key: visKey(p, a.ID)}})
			}
		}
		grantAt := -1
		switch {
		case isApproved && !wasApproved:
			g, err := s.grantPut(a, false)
			if err != nil {
				return err
			}
			items = append(items, g)
		case isApproved && holder:
			g, err := s.grantPut(a, true)
			if err != nil {
				return err
			}
			grantAt, items = len(items), append(items, g)
		case wasApproved && !isApproved && holder:
			grantAt, items = len(items), append(items, types.TransactWriteItem{Delete: &types.Delete{
				TableName: aws.String(s.table), Key: grantKey(a.RequestedBy, a.Operation, a.Resource),
				ConditionExpression:       aws.String("#a = :id"),
				ExpressionAttributeNames:  map[string]string{"#a": "approvalId"},
				ExpressionAttributeValues: item{":id": str(a.ID)},
			}})
		}
		tokenAt := -1
		if isApproved && a.TokenHash != "" {
			t, err := s.tokenPut(a)
			if err != nil {
				return err
			}
			tokenAt, items = len(items), append(items, t)
		}
		if old.TokenHash != "" && (!isApproved || old.TokenHash != a.TokenHash) {
			items = append(items, types.TransactWriteItem{Delete: &types.Delete{
				TableName: aws.String(s.table), Key: tokenKey(old.TokenHash),
				ConditionExpression:       aws.String("attribute_not_exists(#pk) OR #a = :id"),
				ExpressionAttributeNames:  map[string]string{"#pk": schema.PK, "#a": "approvalId"},
				ExpressionAttributeValues: item{":id": str(a.ID)},
			}})
		}
		err = s.transact(ctx, "UpdateApproval", items, e, attempt)
		if err == nil {
			s.recent.put("a:"+a.ID, a)
			return nil
		}
		c, ok := err.(*canceled)
		if !ok {
			return err
		}
		if f, cur := c.failed(0); f {
			if cur == nil {
				return vsecure.Errorf(vsecure.ENotFound, "approval %s not found", a.ID)
			}
			return vsecure.Wrap(vsecure.EConflict, c, "approval "+a.ID+" changed concurrently")
		}
		if f, _ := c.failed(grantAt); f && grantAt >= 0 {
			holder = false // a newer approval holds the grant: leave it
			continue
		}
		if f, _ := c.failed(tokenAt); f && tokenAt >= 0 {
			return vsecure.Wrap(vsecure.EConflict, c, "access token already issued by another approval")
		}
		return unexpected(err, "UpdateApproval")
	}
	return vsecure.Errorf(vsecure.EConflict, "approval %s changed concurrently", a.ID)
}

// ApprovalByToken reads the token item (GetItem); it exists only while the
// approval that issued the token is approved.
func (s *Store) ApprovalByToken(ctx context.Context, tokenHash string) (vsecure.Approval, error) {
	if tokenHash == "" {
		return vsecure.Approval{}, vsecure.Errorf(vsecure.ENotFound, "unknown access token")
	}
	it, err := s.getItem(ctx, "ApprovalByToken", tokenKey(tokenHash))
	if err != nil {
		return vsecure.Approval{}, err
	}
	if it == nil {
		return vsecure.Approval{}, vsecure.Errorf(vsecure.ENotFound, "unknown access token")
	}
	var a vsecure.Approval
	err = decodeData(it, &a)
	return a, err
}

// ListApprovals is one Query, newest first: the principal's visibility
// items when f.Visible is set, the sparse live index for pending or
// approved, otherwise every approval on gsi1. The rest of f is applied to
// the page (status needs f.Now, so it cannot be a key condition).
func (s *Store) ListApprovals(ctx context.Context, f vsecure.ApprovalFilter, cursor string, limit int) ([]vsecure.Approval, string, error) {
	in := &dynamodb.QueryInput{TableName: aws.String(s.table), ScanIndexForward: aws.Bool(false)}
	var keyNames []string
	var part, partValue string
	filtered := f.Status != "" || f.Resource != "" || f.Operation != ""
	switch {
	case f.Visible != "":
		part, partValue, keyNames = schema.PK, visPrefix+f.Visible, []string{schema.PK, schema.SK}
	case f.Status == vsecure.StatusPending || f.Status == vsecure.StatusApproved:
		in.IndexName = aws.String(schema.IndexLive)
		part, partValue, keyNames = schema.LivePK, livePart, []string{schema.PK, schema.SK, schema.LivePK, schema.LiveSK}
	default:
		in.IndexName = aws.String(schema.IndexGSI)
		part, partValue, keyNames = schema.GSI1PK, approvalsGSI, gsiKeys
	}
	in.KeyConditionExpression = aws.String("#p = :p")
	in.ExpressionAttributeNames = map[string]string{"#p": part}
	in.ExpressionAttributeValues = item{":p": str(partValue)}
	items, next, err := s.page(ctx, "ListApprovals", in, keyNames, part, partValue, nil, cursor, limit, filtered, func(it item) (bool, error) {
		var a vsecure.Approval
		if err := decodeData(it, &a); err != nil {
			return false, err
		}
		return f.Matches(&a), nil
	})
	if err != nil {
		return nil, "", err
	}
	out := make([]vsecure.Approval, 0, len(items))
	for _, it := range items {
		var a vsecure.Approval
		if err := decodeData(it, &a); err != nil {
			return nil, "", err
		}
		out = append(out, a)
	}
	return out, next, nil
}

// ListLiveApprovals reads the sparse live index to its end.
func (s *Store) ListLiveApprovals(ctx context.Context) ([]vsecure.Approval, error) {
	return queryAll[vsecure.Approval](ctx, s, "ListLiveApprovals", schema.IndexLive, schema.LivePK, livePart, 10000)
}

// SpendUse is UpdateApproval of a with e: the read's audit entry rides in
// the approval's conditional transaction, and the indexer counts it into
// the head's statistics as it does RecordRead's (so uri and at need no
// write of their own).
func (s *Store) SpendUse(ctx context.Context, a vsecure.Approval, uri string, at time.Time, e vsecure.Entry) error {
	if a.Resource != uri {
		return vsecure.Errorf(vsecure.EInvalid, "approval %s is for %s, not %s", a.ID, a.Resource, uri)
	}
	return s.UpdateApproval(ctx, a, e)
}
