package dynamo

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vsecure/vsecure/shared/store/dynamo/schema"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// Item keys of policies and secrets (see README.md).
const (
	policyPrefix  = "POLICY#"
	policySK      = "POLICY"
	policiesGSI   = "POLICIES"
	secretPrefix  = schema.SecretPrefix
	headSK        = "HEAD"
	latestSK      = "LATEST"
	versionPrefix = "V#"
	secretsGSI    = "SECRETS"
	grantPrefix   = "GRANT#"
	grantSK       = "GRANT"
)

func policyKey(uri string) item { return key(policyPrefix+uri, policySK) }
func headKey(uri string) item   { return key(secretPrefix+uri, headSK) }
func latestKey(uri string) item { return key(secretPrefix+uri, latestSK) }

// versionKey zero-pads so versions sort numerically.
func versionKey(uri string, v int) item {
	return key(secretPrefix+uri, fmt.Sprintf("%s%010d", versionPrefix, v))
}

func grantKey(principal string, op vsecure.Operation, resource string) item {
	return key(grantPrefix+principal+"#"+string(op)+"#"+resource, grantSK)
}

// PutPolicy creates or replaces the policy at p.URI with its entry, and
// moves the policy-set version on in the same transaction, so every
// process's cached candidates are read again (policycache.go).
func (s *Store) PutPolicy(ctx context.Context, p vsecure.Policy, e vsecure.Entry) error {
	it := policyKey(p.URI)
	it[schema.GSI1PK], it[schema.GSI1SK] = str(policiesGSI), str(p.URI)
	it, err := withData(it, p)
	if err != nil {
		return err
	}
	err = s.transact(ctx, "PutPolicy", []types.TransactWriteItem{
		{Put: &types.Put{TableName: aws.String(s.table), Item: it}},
		s.policySetBump(),
	}, e, 0)
	return unexpected(err, "PutPolicy")
}

// unexpected turns a canceled transaction nobody interpreted into a
// conflict.
func unexpected(err error, op string) error {
	if c, ok := err.(*canceled); ok {
		return vsecure.Wrap(vsecure.EConflict, c, op+": transaction canceled")
	}
	return err
}

// ListPolicies reads every policy, ordered by URI (Query on gsi1).
func (s *Store) ListPolicies(ctx context.Context) ([]vsecure.Policy, error) {
	return queryAll[vsecure.Policy](ctx, s, "ListPolicies", schema.IndexGSI, schema.GSI1PK, policiesGSI, 1000)
}

// queryAll reads one partition of an index to its end (at most maxPages
// pages), decoding each item's data into a T.
func queryAll[T any](ctx context.Context, s *Store, op, index, keyAttr, key string, maxPages int) ([]T, error) {
	var out []T
	var start map[string]types.AttributeValue
	for range maxPages {
		res, err := s.query(ctx, op, &dynamodb.QueryInput{
			TableName:                 aws.String(s.table),
			IndexName:                 aws.String(index),
			KeyConditionExpression:    aws.String("#p = :p"),
			ExpressionAttributeNames:  map[string]string{"#p": keyAttr},
			ExpressionAttributeValues: item{":p": str(key)},
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return nil, err
		}
		for _, it := range res.Items {
			var v T
			if err := decodeData(it, &v); err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		if start = res.LastEvaluatedKey; len(start) == 0 {
			return out, nil
		}
	}
	return nil, vsecure.Errorf(vsecure.EInternal, "%s: more than %d pages", op, maxPages)
}

// LoadAccess reads everything a decision needs in two BatchGetItems sent
// in parallel (one round trip of latency), split by what each item must
// guarantee (docs/SECURITY.md "Read consistency"):
//   - strongly consistent, what revocation depends on: the caller's key,
//     the principal's grant and the token's approval. A revocation is
//     refused by the very next read;
//   - eventually consistent (half the price): the policy-set version, the
//     secret head and the value. A policy or value change is visible
//     within about a second, as an IAM change is.
//
// The policy candidates come from the process's cache (policycache.go)
// while the version read is not newer than it. Otherwise they are read
// strongly consistent: in the first round trip when this URI's candidates
// are not cached yet, or in a second one, after the version was seen to
// move, so what is cached under a version is never older than it.
//
// A head and value that disagree (a write seen half-propagated) are read
// again strongly consistent, so a lagging replica never looks like a torn
// or tampered record.
func (s *Store) LoadAccess(ctx context.Context, q vsecure.AccessQuery) (vsecure.AccessView, error) {
	uri := q.Resource.String()
	cands := make([]string, 0, 8)
	for _, c := range q.Resource.Candidates() {
		cands = append(cands, c.String())
	}
	policyKeys := make([]item, len(cands))
	for i, c := range cands {
		policyKeys[i] = policyKey(c)
	}
	valueKey := latestKey(uri)
	if q.Version > 0 {
		valueKey = versionKey(uri, q.Version)
	}
	eventual := []item{policySetKey(), headKey(uri), valueKey}
	var strong []item
	if q.Principal != "" {
		strong = append(strong, grantKey(q.Principal, q.Operation, uri))
	}
	if q.KeyID != "" {
		strong = append(strong, apiKeyKey(q.KeyID))
	}
	if q.ApprovalID != "" {
		strong = append(strong, approvalKey(q.ApprovalID))
	}
	// Read now, strongly, the candidates show the set at tag or later.
	tag := s.policies.version()
	cached := s.policies.has(cands)
	if !cached {
		strong = append(strong, policyKeys...)
	}
	var (
		strongGot map[string]item
		strongErr error
		done      = make(chan struct{})
	)
	go func() {
		defer close(done)
		if len(strong) > 0 {
			strongGot, strongErr = s.batchGet(ctx, "LoadAccess", strong, true)
		}
	}()
	got, err := s.batchGet(ctx, "LoadAccess", eventual, false)
	<-done
	if err == nil {
		err = strongErr
	}
	if err != nil {
		return vsecure.AccessView{}, err
	}
	setVersion := getN(got[schema.PolicySetPK+"|"+policySetSK], policySetAttr)
	var data []string
	ok := false
	switch {
	case cached:
		data, ok = s.policies.lookup(cands, setVersion)
	case setVersion <= tag:
		data, ok = s.cachePolicies(tag, cands, strongGot), true
	}
	if !ok {
		again, err := s.batchGet(ctx, "LoadAccess", policyKeys, true)
		if err != nil {
			return vsecure.AccessView{}, err
		}
		data = s.cachePolicies(setVersion, cands, again)
	}
	if torn(got, uri, valueKey, q.Version) {
		again, err := s.batchGet(ctx, "LoadAccess", []item{headKey(uri), valueKey}, true)
		if err != nil {
			return vsecure.AccessView{}, err
		}
		for _, k := range []item{headKey(uri), valueKey} {
			ks := getS(k, schema.PK) + "|" + getS(k, schema.SK)
			delete(got, ks)
			if it, ok := again[ks]; ok {
				got[ks] = it
			}
		}
	}
	maps.Copy(got, strongGot)
	var v vsecure.AccessView
	for _, d := range data {
		if d != "" {
			var p vsecure.Policy
			if err := decodeData(item{"data": str(d)}, &p); err != nil {
				return v, err
			}
			v.Policies = append(v.Policies, p)
		}
	}
	if it, ok := got[secretPrefix+uri+"|"+headSK]; ok {
		h, err := decodeHead(it)
		if err != nil {
			return v, err
		}
		v.Secret = &h
		s.recent.put("s:"+uri, h)
	}
	if it, ok := got[getS(valueKey, schema.PK)+"|"+getS(valueKey, schema.SK)]; ok && v.Secret != nil {
		var sv vsecure.SecretVersion
		if err := decodeData(it, &sv); err != nil {
			return v, err
		}
		v.Value = &sv
	}
	if q.Principal != "" {
		gk := grantKey(q.Principal, q.Operation, uri)
		if it, ok := got[getS(gk, schema.PK)+"|"+grantSK]; ok {
			var a vsecure.Approval
			if err := decodeData(it, &a); err != nil {
				return v, err
			}
			v.Grant = &a
		}
	}
	if q.KeyID != "" {
		if it, ok := got[keyPrefix+q.KeyID+"|"+keySK]; ok {
			k, err := decodeKey(it)
			if err != nil {
				return v, err
			}
			v.Key = &k
		}
	}
	if q.ApprovalID != "" {
		if it, ok := got[approvalPrefix+q.ApprovalID+"|"+approvalSK]; ok {
			var a vsecure.Approval
			if err := decodeData(it, &a); err != nil {
				return v, err
			}
			v.Approval = &a
		}
	}
	return v, nil
}

// cachePolicies caches the candidates found in got (read strongly after
// version tag was seen) and returns their data in candidate order, "" for
// a candidate that does not exist.
func (s *Store) cachePolicies(tag int64, cands []string, got map[string]item) []string {
	data := make([]string, len(cands))
	byURI := make(map[string]string, len(cands))
	for i, c := range cands {
		if it, ok := got[policyPrefix+c+"|"+policySK]; ok {
			data[i] = getS(it, "data")
		}
		byURI[c] = data[i]
	}
	s.policies.store(tag, byURI)
	return data
}

// torn reports whether an eventually consistent read saw a secret's head
// and value from different sides of a write: the head present and the
// value it names missing, or a LATEST copy of another version.
func torn(got map[string]item, uri string, valueKey item, version int) bool {
	h, ok := got[secretPrefix+uri+"|"+headSK]
	if !ok {
		return false
	}
	head := getN(h, "version")
	val, ok := got[getS(valueKey, schema.PK)+"|"+getS(valueKey, schema.SK)]
	if !ok {
		return version <= 0 || int64(version) <= head
	}
	if version > 0 {
		return false
	}
	var sv struct{ Version int64 }
	if decodeData(val, &sv) != nil {
		return false // the decode below reports it
	}
	return sv.Version != head
}

// batchGet reads keys from the state table, keyed "pk|sk", strongly
// consistent or not. Unprocessed keys (throttling) are retried a bounded
// number of times.
func (s *Store) batchGet(ctx context.Context, op string, keys []item, consistent bool) (map[string]item, error) {
	out := make(map[string]item, len(keys))
	pending := keys
	for try := 0; len(pending) > 0; try++ {
		if try > 0 {
			if try > 4 {
				return nil, vsecure.Errorf(vsecure.EUnavailable, "the store is unavailable")
			}
			if err := sleep(ctx, try); err != nil {
				return nil, storeError(err, op)
			}
		}
		in := &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
			s.table: {Keys: pending, ConsistentRead: aws.Bool(consistent)},
		}}
		res, err := s.db.BatchGetItem(ctx, in)
		if err != nil {
			return nil, storeError(err, op)
		}
		for _, it := range res.Responses[s.table] {
			out[getS(it, schema.PK)+"|"+getS(it, schema.SK)] = it
		}
		pending = res.UnprocessedKeys[s.table].Keys
	}
	return out, nil
}

// decodeHead reads a head item: descriptive fields from its data, access
// statistics from the attributes RecordRead updates.
func decodeHead(it item) (vsecure.Secret, error) {
	var h vsecure.Secret
	if err := decodeData(it, &h); err != nil {
		return h, err
	}
	h.AccessCount = getN(it, "accessCount")
	h.AccessedAt = nil
	if at := getS(it, "accessedAt"); at != "" {
		t, err := time.Parse(time.RFC3339Nano, at)
		if err != nil {
			return h, vsecure.Wrap(vsecure.EInternal, err, "decode stored item")
		}
		h.AccessedAt = &t
	}
	return h, nil
}

// PutSecret writes head, the LATEST copy and version item v with e. The
// head update is conditional on the previous version and leaves the access
// statistics alone, so a writer holding a stale view cannot reset them.
func (s *Store) PutSecret(ctx context.Context, head vsecure.Secret, v vsecure.SecretVersion, e vsecure.Entry) error {
	if head.Version < 1 || v.Version != head.Version || v.URI != head.URI {
		return vsecure.Errorf(vsecure.EConflict, "secret %s: version %d does not follow the stored head", head.URI, head.Version)
	}
	stored := head
	stored.AccessCount, stored.AccessedAt = 0, nil
	data, err := withData(item{}, stored)
	if err != nil {
		return err
	}
	names := map[string]string{"#d": "data", "#v": "version", "#gp": schema.GSI1PK, "#gs": schema.GSI1SK, "#ac": "accessCount"}
	vals := item{
		":d": data["data"], ":v": num(int64(head.Version)), ":g": str(secretsGSI), ":u": str(head.URI), ":zero": num(0),
	}
	cond := "attribute_not_exists(#pk)"
	if head.Version > 1 {
		cond = "#v = :prev"
		vals[":prev"] = num(int64(head.Version - 1))
	} else {
		names["#pk"] = schema.PK
	}
	latest, err := withData(latestKey(head.URI), v)
	if err != nil {
		return err
	}
	ver, err := withData(versionKey(head.URI, v.Version), v)
	if err != nil {
		return err
	}
	items := []types.TransactWriteItem{
		{Update: &types.Update{
			TableName:                 aws.String(s.table),
			Key:                       headKey(head.URI),
			UpdateExpression:          aws.String("SET #d = :d, #v = :v, #gp = :g, #gs = :u, #ac = if_not_exists(#ac, :zero)"),
			ConditionExpression:       aws.String(cond),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: vals,
		}},
		{Put: &types.Put{TableName: aws.String(s.table), Item: latest}},
		{Put: &types.Put{
			TableName: aws.String(s.table), Item: ver,
			ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
			ExpressionAttributeNames: map[string]string{"#pk": schema.PK},
		}},
	}
	err = s.transact(ctx, "PutSecret", items, e, 0)
	if c, ok := err.(*canceled); ok {
		return vsecure.Wrap(vsecure.EConflict, c, fmt.Sprintf("secret %s: version %d does not follow the stored head", head.URI, head.Version))
	}
	return err
}

// RecordRead is one PutItem of e: the read's audit entry is the only
// write of an audited read. The gate has loaded the secret just before;
// the indexer (IndexAudit) adds the read to the head's accessCount and
// accessedAt (e's timestamp), and ListSecrets adds the reads it has not
// indexed yet, so counts stay exact without a write to the state table.
func (s *Store) RecordRead(ctx context.Context, uri string, at time.Time, e vsecure.Entry) error {
	if e.ID == "" {
		return nil
	}
	return s.sealed(ctx, e, func(ctx context.Context, it item) error { return s.putAudit(ctx, "RecordRead", it) })
}

// ListSecrets lists heads covered by pattern (or the one exact URI, or
// every secret for ""), ordered by URI: one Query on gsi1.
func (s *Store) ListSecrets(ctx context.Context, pattern string, cursor string, limit int) ([]vsecure.Secret, string, error) {
	in := &dynamodb.QueryInput{
		TableName:                aws.String(s.table),
		IndexName:                aws.String(schema.IndexGSI),
		KeyConditionExpression:   aws.String("#p = :p"),
		ExpressionAttributeNames: map[string]string{"#p": schema.GSI1PK},
		ExpressionAttributeValues: item{
			":p": str(secretsGSI),
		},
	}
	inRange := func(string) bool { return true }
	if pattern != "" {
		u, err := vsecure.ParseURI(pattern)
		if err != nil {
			return nil, "", err
		}
		in.ExpressionAttributeNames["#s"] = schema.GSI1SK
		if u.IsPattern() {
			prefix := strings.TrimSuffix(u.String(), "*")
			in.KeyConditionExpression = aws.String("#p = :p AND begins_with(#s, :s)")
			in.ExpressionAttributeValues[":s"] = str(prefix)
			inRange = func(sk string) bool { return strings.HasPrefix(sk, prefix) }
		} else {
			in.KeyConditionExpression = aws.String("#p = :p AND #s = :s")
			in.ExpressionAttributeValues[":s"] = str(u.String())
			inRange = func(sk string) bool { return sk == u.String() }
		}
	}
	// The watermark before the heads (see addTail).
	through, err := s.watermark(ctx, "ListSecrets")
	if err != nil {
		return nil, "", err
	}
	items, next, err := s.page(ctx, "ListSecrets", in, gsiKeys, schema.GSI1PK, secretsGSI, inRangeOf(schema.GSI1SK, inRange), cursor, limit, false, nil)
	if err != nil {
		return nil, "", err
	}
	out := make([]vsecure.Secret, 0, len(items))
	indexed := make([]string, 0, len(items))
	for _, it := range items {
		h, err := decodeHead(it)
		if err != nil {
			return nil, "", err
		}
		out = append(out, h)
		indexed = append(indexed, getS(it, attrIndexed))
	}
	if len(out) > 0 {
		if err := s.addTail(ctx, through, out, indexed); err != nil {
			return nil, "", err
		}
	}
	return out, next, nil
}

// addTail adds to each head the successful reads the indexer has not
// counted into it yet: those at or above through, the watermark read
// before the heads, and at or above the end of the pass that last counted
// into the head (recorded on it, attrIndexed), since a pass may have
// committed between the two reads. A head that no such pass touched had
// no reads in it, so counting from through is exact.
func (s *Store) addTail(ctx context.Context, through string, heads []vsecure.Secret, indexed []string) error {
	reads, err := s.tailReads(ctx, "ListSecrets", through)
	if err != nil {
		return err
	}
	for i := range heads {
		var last string
		for _, sk := range reads[heads[i].URI] {
			if sk >= indexed[i] { // every tail sk is >= through already
				heads[i].AccessCount++
				last = sk
			}
		}
		if last != "" {
			at := skTime(last).Truncate(time.Second)
			if heads[i].AccessedAt == nil || at.After(*heads[i].AccessedAt) {
				heads[i].AccessedAt = &at
			}
		}
	}
	return nil
}

// gsiKeys are the key attributes of an item listed through gsi1.
var gsiKeys = []string{schema.PK, schema.SK, schema.GSI1PK, schema.GSI1SK}

func inRangeOf(name string, ok func(string) bool) func(map[string]types.AttributeValue) bool {
	return func(k map[string]types.AttributeValue) bool { return ok(getS(k, name)) }
}

// page runs one Query for one page of at most limit items. It reads one
// item more than the page (or a larger window when match filters), so the
// last page says so without a further empty round trip; the cursor is the
// key of the last item returned, or DynamoDB's LastEvaluatedKey when the
// window ran out first.
func (s *Store) page(ctx context.Context, op string, in *dynamodb.QueryInput, keyNames []string, part, partValue string,
	inRange func(map[string]types.AttributeValue) bool, cursor string, limit int, filtered bool, match func(item) (bool, error),
) ([]item, string, error) {
	limit = pageLimit(limit)
	start, err := decodeCursor(cursor, keyNames, part, partValue)
	if err != nil {
		return nil, "", err
	}
	if start != nil && inRange != nil && !inRange(start) {
		return nil, "", vsecure.Errorf(vsecure.EInvalid, "invalid cursor")
	}
	in.ExclusiveStartKey = start
	window := limit + 1
	if filtered {
		window = max(window, 200)
	}
	in.Limit = aws.Int32(int32(window))
	res, err := s.query(ctx, op, in)
	if err != nil {
		return nil, "", err
	}
	var out []item
	for _, it := range res.Items {
		if match != nil {
			ok, err := match(it)
			if err != nil {
				return nil, "", err
			}
			if !ok {
				continue
			}
		}
		if len(out) == limit {
			return out, encodeCursor(keyOf(out[limit-1], keyNames)), nil
		}
		out = append(out, it)
	}
	if len(res.LastEvaluatedKey) > 0 {
		return out, encodeCursor(res.LastEvaluatedKey), nil
	}
	return out, "", nil
}

func keyOf(it item, names []string) item {
	k := make(item, len(names))
	for _, n := range names {
		if v, ok := it[n]; ok {
			k[n] = v
		}
	}
	return k
}
