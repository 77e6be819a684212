package main

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// The harness's verdict is the proof, so its checks are tested on their
// own: a page that skips, adds, reorders or stops early is wrong.
func TestModelCheck(t *testing.T) {
	p := newProbe("audit")
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	written := map[string]bool{}
	for i := range 10 {
		res := "vsecure://secrets/production/a"
		if i%2 == 1 {
			res = "vsecure://secrets/staging/b"
		}
		e := vsecure.Entry{ID: "log_" + string(rune('a'+i)), Timestamp: t0.Add(time.Duration(i) * time.Second), Resource: res, Operation: "read", Actor: "agent", Success: true}
		p.entries[e.ID] = e
		written[e.ID] = true
	}
	m, err := newModel(p, written)
	if err != nil {
		t.Fatal(err)
	}
	f := vsecure.AuditFilter{Resource: "vsecure://secrets/production/*"}
	want := m.want(f) // ids i, g, e, c, a (newest first)
	entry := func(id string) vsecure.Entry { return m.all[m.byID[id]] }
	page := func(ids ...string) []vsecure.Entry {
		var out []vsecure.Entry
		for _, id := range ids {
			out = append(out, entry(id))
		}
		return out
	}
	changed := entry("log_g")
	changed.Actor = "mallory"
	cases := []struct {
		name  string
		after string
		page  []vsecure.Entry
		more  bool
		bad   string
	}{
		{"first page", "", page("log_i", "log_g"), true, ""},
		{"next page", sortKey(entry("log_g")), page("log_e", "log_c"), true, ""},
		{"last page", sortKey(entry("log_c")), page("log_a"), false, ""},
		{"empty page with a cursor", sortKey(entry("log_c")), nil, true, ""},
		{"skips one", "", page("log_i", "log_e"), true, "want log_g"},
		{"not matching", "", page("log_j"), true, "does not match"},
		{"no cursor before the end", "", page("log_i", "log_g"), false, "no cursor"},
		{"too long", "", page("log_i", "log_g", "log_e"), true, "limit"},
		{"altered", "", []vsecure.Entry{entry("log_i"), changed}, true, "differs"},
	}
	for _, c := range cases {
		err := m.check(f, want, c.after, c.page, c.more, 2)
		switch {
		case c.bad == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.bad != "" && (err == nil || !strings.Contains(err.Error(), c.bad)):
			t.Errorf("%s: got %v, want an error containing %q", c.name, err, c.bad)
		}
	}
}

func TestProbeFlagsScanAndFilter(t *testing.T) {
	p := newProbe("audit")
	p.observe("Query", &dynamodb.QueryInput{TableName: aws.String("audit")}, &dynamodb.QueryOutput{}, nil)
	if len(p.offences()) != 0 {
		t.Fatalf("a plain Query was flagged: %v", p.offences())
	}
	p.observe("Query", &dynamodb.QueryInput{TableName: aws.String("audit"), FilterExpression: aws.String("#o = :o")}, &dynamodb.QueryOutput{}, nil)
	p.observe("Scan", &dynamodb.ScanInput{TableName: aws.String("audit")}, &dynamodb.ScanOutput{}, nil)
	if got := p.offences(); len(got) != 2 {
		t.Fatalf("offences = %v, want the FilterExpression and the Scan", got)
	}
}

func TestProbeBillsByAWSRules(t *testing.T) {
	p := newProbe("audit")
	p.indexes = nil
	small := map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "T#01"}, "data": &types.AttributeValueMemberS{Value: strings.Repeat("x", 900)}}
	big := map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "T#01"}, "data": &types.AttributeValueMemberS{Value: strings.Repeat("x", 1100)}}
	p.observe("PutItem", &dynamodb.PutItemInput{TableName: aws.String("audit"), Item: small}, &dynamodb.PutItemOutput{}, nil)
	p.observe("PutItem", &dynamodb.PutItemInput{TableName: aws.String("audit"), Item: big}, &dynamodb.PutItemOutput{}, nil)
	p.observe("TransactWriteItems", &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: aws.String("audit"), Item: small}},
		{Update: &types.Update{TableName: aws.String("state")}},
	}}, &dynamodb.TransactWriteItemsOutput{}, nil)
	got := p.take()
	if got.awsAuditWRU != 1+2+2 || got.awsStateWRU != 2 {
		t.Fatalf("audit %v WRU, state %v WRU; want 5 and 2", got.awsAuditWRU, got.awsStateWRU)
	}
	p.observe("Query", &dynamodb.QueryInput{TableName: aws.String("audit")}, &dynamodb.QueryOutput{Items: []map[string]types.AttributeValue{big, big, big, big}}, nil)
	if got := p.take(); got.awsRRU != 1 || got.itemsRead != 4 {
		t.Fatalf("eventually consistent Query of 4.4 KB: %v RRU, %d items; want 1 and 4", got.awsRRU, got.itemsRead)
	}
}
