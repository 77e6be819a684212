package awsrec

import (
	"slices"
	"testing"
)

func TestTransactionPartsAreAuthorizedByTheirOwnActions(t *testing.T) {
	p := Parser{Account: "1", Region: "r", PartitionKey: func(string) string { return "pk" }}
	s := func(v string) map[string]any { return map[string]any{"S": v} }
	in := map[string]any{"TransactItems": []any{
		map[string]any{"Put": map[string]any{"TableName": "t", "Item": map[string]any{"pk": s("A#1"), "sk": s("x"), "data": s("{}")}}},
		map[string]any{"Update": map[string]any{"TableName": "t", "Key": map[string]any{"pk": s("KEY#k"), "sk": s("KEY")},
			"UpdateExpression": "SET #lu = :at", "ConditionExpression": "attribute_exists(#pk) AND #k = :k",
			"ExpressionAttributeNames": map[string]any{"#lu": "lastUsed", "#pk": "pk", "#k": "keyId"}}},
		map[string]any{"Delete": map[string]any{"TableName": "t", "Key": map[string]any{"pk": s("B#1"), "sk": s("y")}}},
		map[string]any{"ConditionCheck": map[string]any{"TableName": "t", "Key": map[string]any{"pk": s("C#1"), "sk": s("z")}, "ConditionExpression": "attribute_exists(pk)"}},
	}}
	rs := p.Requests("DynamoDB_20120810.TransactWriteItems", in)
	var got []string
	for _, r := range rs {
		got = append(got, r.Action+" "+r.Context["dynamodb:LeadingKeys"][0])
	}
	want := []string{"dynamodb:PutItem A#1", "dynamodb:UpdateItem KEY#k", "dynamodb:DeleteItem B#1", "dynamodb:ConditionCheckItem C#1"}
	if !slices.Equal(got, want) {
		t.Fatalf("%v, want %v", got, want)
	}
	if a := rs[1].Context["dynamodb:Attributes"]; !slices.Equal(a, []string{"keyId", "lastUsed", "pk", "sk"}) {
		t.Errorf("update attributes %v", a)
	}
	if rs[0].Resource != "arn:aws:dynamodb:r:1:table/t" {
		t.Errorf("resource %s", rs[0].Resource)
	}
	q := p.Requests("DynamoDB_20120810.Query", map[string]any{"TableName": "t", "KeyConditionExpression": "#p = :p",
		"ExpressionAttributeNames": map[string]any{"#p": "pk"}, "ExpressionAttributeValues": map[string]any{":p": s("VIS#agent")}})
	if q[0].Context["dynamodb:LeadingKeys"][0] != "VIS#agent" {
		t.Errorf("query %v", q[0])
	}
	ix := p.Requests("DynamoDB_20120810.Query", map[string]any{"TableName": "t", "IndexName": "live"})
	if ix[0].Resource != "arn:aws:dynamodb:r:1:table/t/index/live" {
		t.Errorf("index query %s", ix[0].Resource)
	}
	k := p.Requests("TrentService.Decrypt", map[string]any{"KeyId": "arn:aws:kms:eu-west-2:111122223333:key/u", "EncryptionContext": map[string]any{"uri": "vsecure://a", "version": "1"}})
	if k[0].Resource != "arn:aws:kms:r:1:key/u" || k[0].Context["kms:EncryptionContext:uri"][0] != "vsecure://a" || !slices.Equal(k[0].Context["kms:EncryptionContextKeys"], []string{"uri", "version"}) {
		t.Errorf("kms %v", k[0])
	}
}
