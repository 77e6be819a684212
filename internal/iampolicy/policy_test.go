package iampolicy

import "testing"

const (
	acct  = "123456789012"
	table = "arn:aws:dynamodb:us-east-1:123456789012:table/vsecure"
	role  = "arn:aws:iam::123456789012:role/fn"
)

func req(action, res string, ctx map[string][]string) Request {
	return Request{Principal: role, Action: action, Resource: res, Context: ctx}
}

func decide(t *testing.T, stmts []Statement, r Request) Decision {
	t.Helper()
	res, err := Evaluate(stmts, r)
	if err != nil {
		t.Fatal(err)
	}
	return res.Decision
}

func TestActionsAndResourcesWithWildcards(t *testing.T) {
	stmts := []Statement{
		{Effect: "Allow", Actions: []string{"dynamodb:Get*", "dynamodb:Query"}, Resources: []string{table}},
		{Effect: "Allow", Actions: []string{"DynamoDB:Query"}, Resources: []string{table + "/index/gsi1"}},
	}
	for _, tc := range []struct {
		action, res string
		want        Decision
	}{
		{"dynamodb:GetItem", table, Allow},
		{"dynamodb:getitem", table, Allow}, // action names are case-insensitive
		{"dynamodb:PutItem", table, ImplicitDeny},
		{"dynamodb:Query", table + "/index/gsi1", Allow},
		{"dynamodb:Query", table + "/index/live", ImplicitDeny}, // a table grant is not an index grant
		{"dynamodb:GetItem", table + "/index/gsi1", ImplicitDeny},
		{"dynamodb:GetItem", table + "-audit", ImplicitDeny},
	} {
		if got := decide(t, stmts, req(tc.action, tc.res, nil)); got != tc.want {
			t.Errorf("%s on %s: %v, want %v", tc.action, tc.res, got, tc.want)
		}
	}
	if !Like("arn:aws:states:*:execution:m:*", "arn:aws:states:us-east-1:1:execution:m:appr_1", false) || Like("a?c", "abbc", false) {
		t.Error("wildcards")
	}
}

func TestExplicitDenyWins(t *testing.T) {
	stmts := []Statement{
		{Effect: "Allow", Actions: []string{"dynamodb:*"}, Resources: []string{"*"}},
		{Effect: "Deny", Actions: []string{"dynamodb:PutItem"}, Resources: []string{table},
			Conditions: []Condition{{"ForAnyValue:StringLike", "dynamodb:LeadingKeys", []string{"KEY#*", "KEYHASH#*"}}}},
	}
	if got := decide(t, stmts, req("dynamodb:PutItem", table, map[string][]string{"dynamodb:LeadingKeys": {"KEY#k1"}})); got != ExplicitDeny {
		t.Errorf("put of a key item: %v", got)
	}
	if got := decide(t, stmts, req("dynamodb:PutItem", table, map[string][]string{"dynamodb:LeadingKeys": {"SECRET#x"}})); got != Allow {
		t.Errorf("put of another item: %v", got)
	}
}

func TestConditionOperators(t *testing.T) {
	leading := Condition{"ForAllValues:StringLike", "dynamodb:LeadingKeys", []string{"KEY#*", "KEYHASH#*"}}
	attrs := Condition{"ForAllValues:StringEquals", "dynamodb:Attributes", []string{"pk", "sk", "lastUsed"}}
	ctxKeys := Condition{"ForAllValues:StringEquals", "kms:EncryptionContextKeys", []string{"uri", "version"}}
	notNull := Condition{"Null", "kms:EncryptionContextKeys", []string{"false"}}
	uri := Condition{"StringLike", "kms:EncryptionContext:uri", []string{"vsecure://*"}}
	notArn := Condition{"ArnNotEquals", "aws:PrincipalArn", []string{role}}
	for _, tc := range []struct {
		name string
		c    []Condition
		ctx  map[string][]string
		want bool
	}{
		{"leading keys all match", []Condition{leading}, map[string][]string{"dynamodb:LeadingKeys": {"KEY#a", "KEYHASH#b"}}, true},
		{"one leading key outside", []Condition{leading}, map[string][]string{"dynamodb:LeadingKeys": {"KEY#a", "SECRET#b"}}, false},
		{"attributes within", []Condition{attrs}, map[string][]string{"dynamodb:Attributes": {"pk", "lastUsed"}}, true},
		{"attribute outside", []Condition{attrs}, map[string][]string{"dynamodb:Attributes": {"pk", "roles"}}, false},
		{"context keys", []Condition{ctxKeys, notNull, uri}, map[string][]string{"kms:EncryptionContextKeys": {"uri", "version"}, "kms:EncryptionContext:uri": {"vsecure://secrets/a"}}, true},
		{"no context: ForAllValues passes, Null refuses", []Condition{ctxKeys, notNull}, nil, false},
		{"another uri", []Condition{uri}, map[string][]string{"kms:EncryptionContext:uri": {"s3://x"}}, false},
		{"context key names are case-insensitive", []Condition{uri}, map[string][]string{"KMS:EncryptionContext:uri": {"vsecure://x"}}, true},
		{"ArnNotEquals the caller", []Condition{notArn}, nil, false},
	} {
		s := []Statement{{Effect: "Allow", Actions: []string{"*"}, Resources: []string{"*"}, Conditions: tc.c}}
		if got := decide(t, s, req("kms:Decrypt", "k", tc.ctx)) == Allow; got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	if _, err := Evaluate([]Statement{{Effect: "Allow", Actions: []string{"*"}, Resources: []string{"*"},
		Conditions: []Condition{{"NumericLessThan", "x", []string{"1"}}}}}, req("a:b", "r", nil)); err == nil {
		t.Error("an unimplemented operator must be an error, not a silent pass")
	}
}

func TestKeyPolicyDelegatesToIAMAndDenies(t *testing.T) {
	key := "arn:aws:kms:us-east-1:123456789012:key/k"
	keyPolicy := []Statement{
		{Effect: "Allow", Principals: []string{"arn:aws:iam::" + acct + ":root"}, Actions: []string{"kms:*"}, Resources: []string{"*"}},
		{Effect: "Deny", Principals: []string{"*"}, Actions: []string{"kms:Decrypt"}, Resources: []string{"*"}, Conditions: []Condition{
			{"StringLike", "kms:EncryptionContext:uri", []string{"vsecure://*"}},
			{"ArnNotEquals", "aws:PrincipalArn", []string{role}},
		}},
	}
	admin := Request{Principal: "arn:aws:iam::" + acct + ":role/admin", Action: "kms:Decrypt", Resource: key,
		Context: map[string][]string{"kms:EncryptionContext:uri": {"vsecure://secrets/a"}}}
	adminIAM := []Statement{{Effect: "Allow", Actions: []string{"*"}, Resources: []string{"*"}}}
	if r, _ := EvaluateWithKeyPolicy(adminIAM, keyPolicy, admin); r.Decision != ExplicitDeny {
		t.Errorf("an administrator decrypting a secret's data key: %v", r.Decision)
	}
	fn := admin
	fn.Principal = role
	if r, _ := EvaluateWithKeyPolicy(nil, keyPolicy, fn); r.Decision != ImplicitDeny {
		t.Errorf("the function without an IAM grant: %v (root delegates, it does not allow)", r.Decision)
	}
	if r, _ := EvaluateWithKeyPolicy([]Statement{{Effect: "Allow", Actions: []string{"kms:Decrypt"}, Resources: []string{key}}}, keyPolicy, fn); r.Decision != Allow {
		t.Errorf("the function with its grant: %v", r.Decision)
	}
}
