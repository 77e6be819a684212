package awsrec

import (
	"regexp"
	"slices"
	"strings"

	"github.com/vsecure/vsecure/internal/iampolicy"
)

// Parser turns a request body into the authorizations IAM makes for it.
type Parser struct {
	Account, Region string
	// PartitionKey names a table's partition key attribute (for
	// dynamodb:LeadingKeys); "" if unknown.
	PartitionKey func(table string) string
	// StateMachine is the ARN task-token calls (SendTaskSuccess, …) are
	// authorized on: the token names its state machine, the body does not.
	StateMachine string
}

// Requests are the authorizations of one call (target X-Amz-Target, body
// in). A transaction is authorized part by part, each by its own action.
func (p Parser) Requests(target string, in map[string]any) []iampolicy.Request {
	svc, op, _ := strings.Cut(target, ".")
	switch svc {
	case "DynamoDB_20120810":
		return p.dynamo(op, in)
	case "TrentService":
		return []iampolicy.Request{p.kms(op, in)}
	case "AWSStepFunctions":
		res := str(in, "stateMachineArn")
		if a := str(in, "executionArn"); a != "" {
			res = a
		}
		if str(in, "taskToken") != "" {
			res = p.StateMachine
		}
		return []iampolicy.Request{{Action: "states:" + op, Resource: res}}
	case "secretsmanager":
		return []iampolicy.Request{{Action: "secretsmanager:" + op, Resource: str(in, "SecretId")}}
	}
	return []iampolicy.Request{{Action: "unknown:" + target, Resource: "*"}}
}

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }
func obj(m map[string]any, k string) map[string]any {
	o, _ := m[k].(map[string]any)
	return o
}

func (p Parser) tableARN(table, index string) string {
	a := "arn:aws:dynamodb:" + p.Region + ":" + p.Account + ":table/" + table
	if index != "" {
		a += "/index/" + index
	}
	return a
}

// transactParts maps a TransactWriteItems part to its IAM action.
var transactParts = map[string]string{
	"Put": "dynamodb:PutItem", "Update": "dynamodb:UpdateItem", "Delete": "dynamodb:DeleteItem", "ConditionCheck": "dynamodb:ConditionCheckItem",
}

func (p Parser) dynamo(op string, in map[string]any) []iampolicy.Request {
	one := func(action string, o map[string]any) iampolicy.Request {
		table := str(o, "TableName")
		r := iampolicy.Request{Action: action, Resource: p.tableARN(table, str(o, "IndexName")), Context: map[string][]string{}}
		pk := ""
		if p.PartitionKey != nil {
			pk = p.PartitionKey(table)
		}
		key := obj(o, "Key")
		if it := obj(o, "Item"); it != nil {
			key = it
		}
		if v := scalar(key[pk]); pk != "" && v != "" {
			r.Context["dynamodb:LeadingKeys"] = []string{v}
		}
		if op == "Query" && str(o, "IndexName") == "" && pk != "" {
			if v := queryPartition(o, pk); v != "" {
				r.Context["dynamodb:LeadingKeys"] = []string{v}
			}
		}
		if attrs := attributes(o); len(attrs) > 0 {
			r.Context["dynamodb:Attributes"] = attrs
		}
		return r
	}
	switch op {
	case "TransactWriteItems":
		var out []iampolicy.Request
		l, _ := in["TransactItems"].([]any)
		for _, x := range l {
			ti, _ := x.(map[string]any)
			for kind, v := range ti {
				o, _ := v.(map[string]any)
				out = append(out, one(transactParts[kind], o))
			}
		}
		return out
	case "TransactGetItems":
		var out []iampolicy.Request
		l, _ := in["TransactItems"].([]any)
		for _, x := range l {
			ti, _ := x.(map[string]any)
			out = append(out, one("dynamodb:GetItem", obj(ti, "Get")))
		}
		return out
	case "BatchGetItem", "BatchWriteItem":
		var out []iampolicy.Request
		for table, x := range obj(in, "RequestItems") {
			r := iampolicy.Request{Action: "dynamodb:" + op, Resource: p.tableARN(table, ""), Context: map[string][]string{}}
			pk := ""
			if p.PartitionKey != nil {
				pk = p.PartitionKey(table)
			}
			var keys []any
			if o, ok := x.(map[string]any); ok {
				keys, _ = o["Keys"].([]any)
			}
			if l, ok := x.([]any); ok {
				for _, w := range l {
					wm, _ := w.(map[string]any)
					if put := obj(wm, "PutRequest"); put != nil {
						keys = append(keys, put["Item"])
					}
					if del := obj(wm, "DeleteRequest"); del != nil {
						keys = append(keys, del["Key"])
					}
				}
			}
			for _, k := range keys {
				km, _ := k.(map[string]any)
				if v := scalar(km[pk]); v != "" && !slices.Contains(r.Context["dynamodb:LeadingKeys"], v) {
					r.Context["dynamodb:LeadingKeys"] = append(r.Context["dynamodb:LeadingKeys"], v)
				}
			}
			out = append(out, r)
		}
		slices.SortFunc(out, func(a, b iampolicy.Request) int { return strings.Compare(a.Resource, b.Resource) })
		return out
	}
	return []iampolicy.Request{one("dynamodb:"+op, in)}
}

// scalar is the string of an S (or N) attribute value.
func scalar(v any) string {
	m, _ := v.(map[string]any)
	if s, ok := m["S"].(string); ok {
		return s
	}
	s, _ := m["N"].(string)
	return s
}

// queryPartition is the value the key condition fixes the partition key
// attribute pk to ("#p = :p").
func queryPartition(o map[string]any, pk string) string {
	names, vals := obj(o, "ExpressionAttributeNames"), obj(o, "ExpressionAttributeValues")
	kce := str(o, "KeyConditionExpression")
	for _, m := range eqRE.FindAllStringSubmatch(kce, -1) {
		n := m[1]
		if strings.HasPrefix(n, "#") {
			n, _ = names[n].(string)
		}
		if n == pk {
			return scalar(vals[m[2]])
		}
	}
	return ""
}

var (
	eqRE    = regexp.MustCompile(`(#?\w+)\s*=\s*(:\w+)`)
	tokenRE = regexp.MustCompile(`[#:]?[A-Za-z_][A-Za-z0-9_]*`)
)

// exprWords are the words of DynamoDB expressions that are not attribute
// names.
var exprWords = map[string]bool{
	"set": true, "remove": true, "add": true, "delete": true, "and": true, "or": true, "not": true, "between": true, "in": true,
	"attribute_exists": true, "attribute_not_exists": true, "attribute_type": true, "begins_with": true, "contains": true,
	"size": true, "if_not_exists": true, "list_append": true,
}

// attributes is dynamodb:Attributes of a write: the top-level attribute
// names the request touches (an item's, or the key's plus those its
// update and condition expressions name). Reads report none (no policy
// here conditions them).
func attributes(o map[string]any) []string {
	var out []string
	add := func(n string) {
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	_, upd := o["UpdateExpression"]
	_, cond := o["ConditionExpression"]
	if it := obj(o, "Item"); it != nil {
		for k := range it {
			add(k)
		}
	} else if upd || cond {
		for k := range obj(o, "Key") {
			add(k)
		}
	} else {
		return nil
	}
	names := obj(o, "ExpressionAttributeNames")
	for _, e := range []string{str(o, "UpdateExpression"), str(o, "ConditionExpression")} {
		for _, t := range tokenRE.FindAllString(e, -1) {
			switch {
			case strings.HasPrefix(t, ":"):
			case strings.HasPrefix(t, "#"):
				n, _ := names[t].(string)
				add(n)
			case !exprWords[strings.ToLower(t)]:
				add(t)
			}
		}
	}
	slices.Sort(out)
	return out
}

func (p Parser) kms(op string, in map[string]any) iampolicy.Request {
	id := str(in, "KeyId")
	res := "arn:aws:kms:" + p.Region + ":" + p.Account + ":"
	switch {
	case strings.HasPrefix(id, "alias/"):
		res += id
	case strings.Contains(id, ":alias/"):
		res += id[strings.Index(id, "alias/"):]
	case strings.Contains(id, "key/"):
		res += id[strings.Index(id, "key/"):]
	default:
		res += "key/" + id
	}
	r := iampolicy.Request{Action: "kms:" + op, Resource: res, Context: map[string][]string{}}
	var keys []string
	for k, v := range obj(in, "EncryptionContext") {
		s, _ := v.(string)
		r.Context["kms:EncryptionContext:"+k] = []string{s}
		keys = append(keys, k)
	}
	if len(keys) > 0 {
		slices.Sort(keys)
		r.Context["kms:EncryptionContextKeys"] = keys
	}
	return r
}
