package dynamo

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vsecure/vsecure/shared/store/dynamo/schema"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// The audit table's partition of the time index. One partition takes every
// entry; at roughly 1,000 entries a second it would need sharding by day.
const auditAll = "ALL"

// auditItem is e with the attributes of every audit index: time, actor,
// exact resource, the pattern one level up and the kind pattern, so each
// AuditFilter.Resource form is one index partition (see README.md).
// It returns the entry's JSON too, which the seal's MAC covers.
func auditItem(e vsecure.Entry) (item, []byte, error) {
	it := item{
		schema.AuditID:     str(e.ID),
		schema.AuditTimePK: str(auditAll),
		schema.AuditTimeSK: str(stamp(e.Timestamp) + "#" + e.ID),
	}
	if e.Actor != "" {
		it[schema.AuditActor] = str(e.Actor)
	}
	if e.Resource != "" {
		it[schema.AuditResource] = str(e.Resource)
		if u, err := vsecure.ParseURI(e.Resource); err == nil {
			if parent, ok := parentPattern(u); ok {
				it[schema.AuditParent] = str(parent)
			}
			it[schema.AuditKind] = str(vsecure.URI{Kind: u.Kind, Wildcard: true}.String())
		}
	}
	b, err := json.Marshal(e)
	if err != nil {
		return nil, nil, vsecure.Wrap(vsecure.EInternal, err, "encode item")
	}
	it["data"] = str(string(b))
	return it, b, nil
}

// parentPattern is the pattern of u's first segment ("vsecure://secrets/
// production/*") for URIs and patterns that have one below the kind.
func parentPattern(u vsecure.URI) (string, bool) {
	if len(u.Segments) == 0 || (len(u.Segments) == 1 && !u.Wildcard && u.Kind == "api-keys") {
		return "", false
	}
	return vsecure.URI{Kind: u.Kind, Segments: u.Segments[:1], Wildcard: true}.String(), true
}

// AppendAudit puts e unless its id exists (PutItem, attribute_not_exists).
func (s *Store) AppendAudit(ctx context.Context, e vsecure.Entry) error {
	if e.ID == "" {
		return vsecure.Errorf(vsecure.EInvalid, "audit entry has no id")
	}
	return s.sealed(ctx, e, func(it item) error { return s.putAudit(ctx, "AppendAudit", it) })
}

// QueryAudit is one Query, newest first, on the index that serves f best:
// the resource indexes for an exact URI or a pattern, the actor index, else
// the time index. From and To bound the sort key; the rest of f filters the
// page.
func (s *Store) QueryAudit(ctx context.Context, f vsecure.AuditFilter, cursor string, limit int) ([]vsecure.Entry, string, error) {
	index, part, value := schema.IndexAuditTime, schema.AuditTimePK, auditAll
	byResource := false
	switch {
	case f.Resource != "":
		byResource = true
		index, part, value = schema.IndexAuditResource, schema.AuditResource, f.Resource
		if u, err := vsecure.ParseURI(f.Resource); err == nil && u.IsPattern() {
			value = u.String()
			if len(u.Segments) == 0 {
				index, part = schema.IndexAuditKind, schema.AuditKind
			} else {
				index, part = schema.IndexAuditParent, schema.AuditParent
			}
		}
	case f.Actor != "":
		index, part, value = schema.IndexAuditActor, schema.AuditActor, f.Actor
	}
	cond := "#p = :p"
	names := map[string]string{"#p": part}
	vals := item{":p": str(value)}
	lo, hi := "", "\U0010FFFF"
	if !f.From.IsZero() {
		lo = stamp(f.From) + "#"
	}
	if !f.To.IsZero() {
		hi = stamp(f.To) + "#~"
	}
	switch {
	case lo != "" && !f.To.IsZero():
		cond += " AND #s BETWEEN :lo AND :hi"
		vals[":lo"], vals[":hi"] = str(lo), str(hi)
	case lo != "":
		cond += " AND #s >= :lo"
		vals[":lo"] = str(lo)
	case !f.To.IsZero():
		cond += " AND #s <= :hi"
		vals[":hi"] = str(hi)
	}
	if strings.Contains(cond, "#s") {
		names["#s"] = schema.AuditTimeSK
	}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.audit),
		IndexName:                 aws.String(index),
		KeyConditionExpression:    aws.String(cond),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: vals,
		ScanIndexForward:          aws.Bool(false),
	}
	filtered := f.Operation != "" || f.Success != nil || (byResource && f.Actor != "")
	keyNames := []string{schema.AuditID, part, schema.AuditTimeSK}
	inRange := func(k map[string]types.AttributeValue) bool {
		sk := getS(k, schema.AuditTimeSK)
		return sk >= lo && sk <= hi
	}
	items, next, err := s.page(ctx, "QueryAudit", in, keyNames, part, value, inRange, cursor, limit, filtered, func(it item) (bool, error) {
		var e vsecure.Entry
		if err := decodeData(it, &e); err != nil {
			return false, err
		}
		return f.Matches(&e), nil
	})
	if err != nil {
		return nil, "", err
	}
	out := make([]vsecure.Entry, 0, len(items))
	for _, it := range items {
		var e vsecure.Entry
		if err := decodeData(it, &e); err != nil {
			return nil, "", err
		}
		out = append(out, e)
	}
	return out, next, nil
}
