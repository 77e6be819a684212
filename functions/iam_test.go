package functions_test

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/vsecure/vsecure/internal/awsrec"
	"github.com/vsecure/vsecure/internal/iampolicy"
	"github.com/vsecure/vsecure/internal/rie"
	"github.com/vsecure/vsecure/internal/sample"
	"github.com/vsecure/vsecure/shared/lambdafn/consolefn"
	"github.com/vsecure/vsecure/shared/store/dynamo/schema"
)

// The account and region the template's ARNs are resolved to; the
// recorded calls' ARNs are built in the same.
const (
	account = "123456789012"
	region  = "us-east-1"
)

// cursorSecretValue is the Secrets Manager stand-in's cursor key (the
// stack generates 64 alphanumerics).
const cursorSecretValue = "sampleCursorKeyForTheEmulatorsOnly0123456789abcdefghijklmnopqrst"

// consoleSecretValue is the stand-in's console session secret.
const consoleSecretValue = "sampleConsoleSessionKeyForTheEmulatorsOnly0123456789abcdefghijk"

// stackName is how the dev stack names function fn.
func stackName(fn string) string { return "vsecure-dev-" + fn }

// record loads the synthesized dev template (infra/testdata, kept current
// by infra's TestIAMTemplateIsCurrent), binds its tables and keys to the
// emulated ones, and puts a recording endpoint in front of the emulators.
func (w *world) record(t *testing.T, root string) {
	t.Helper()
	tpl, err := iampolicy.Load(filepath.Join(root, "infra", "testdata", "iam.dev.template.json"), account, region)
	if err != nil {
		t.Fatal(err)
	}
	uuid := func(id string) string { return id[strings.LastIndex(id, "/")+1:] }
	for _, b := range []struct{ fn, env, physical string }{
		{"resources-put", "VSECURE_TABLE", w.vars["VSECURE_TABLE"]},
		{"resources-put", "VSECURE_AUDIT_TABLE", w.vars["VSECURE_AUDIT_TABLE"]},
		{"resources-put", "VSECURE_KMS_KEY_ARN", uuid(w.vars["VSECURE_KMS_KEY_ID"])},
		{"resources-put", "VSECURE_AUDIT_MAC_KEY_ID", uuid(w.vars["VSECURE_AUDIT_MAC_KEY_ID"])},
		{"audit-digest", "VSECURE_AUDIT_SIGNING_KEY_ARN", uuid(w.vars["VSECURE_AUDIT_SIGNING_KEY_ARN"])},
	} {
		if err := tpl.Bind(stackName(b.fn), b.env, b.physical); err != nil {
			t.Fatal(err)
		}
	}
	w.stack = tpl
	pks := map[string]string{w.vars["VSECURE_TABLE"]: schema.State().PartitionKey, w.vars["VSECURE_AUDIT_TABLE"]: schema.Audit().PartitionKey}
	secrets := map[string]string{}
	for _, fn := range []string{"secrets-list", "mcp"} {
		f, err := tpl.Function(stackName(fn))
		if err != nil {
			t.Fatal(err)
		}
		secrets[f.Env["VSECURE_CURSOR_SECRET_ARN"]] = cursorSecretValue
	}
	// Every console function reads the one session secret.
	f, err := tpl.Function(stackName("console-inbox"))
	if err != nil {
		t.Fatal(err)
	}
	secrets[f.Env[consolefn.EnvSessionSecretARN]] = consoleSecretValue
	sm, stop, err := awsrec.Serve(awsrec.Secrets(secrets))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	w.rec = &awsrec.Recorder{
		Upstreams: awsrec.Upstreams{DynamoDB: w.vars["AWS_ENDPOINT_URL_DYNAMODB"], KMS: w.vars["AWS_ENDPOINT_URL_KMS"],
			StepFunctions: w.vars["AWS_ENDPOINT_URL_SFN"], SecretsManager: sm},
		Parser: awsrec.Parser{Account: account, Region: region, PartitionKey: func(table string) string { return pks[table] }, StateMachine: stateMachineARN},
	}
}

// stackEnv is what function fn's environment adds to the world's: its own
// recording endpoint for every service, and the secrets the stack gives it
// (the cursor key from Secrets Manager, as deployed, not from the
// environment).
func (w *world) stackEnv(t *testing.T, fn string) []string {
	t.Helper()
	end, ok := w.ends[fn]
	if !ok {
		var stop func()
		var err error
		if end, stop, err = awsrec.Serve(w.rec.For(fn)); err != nil {
			t.Fatal(err)
		}
		// Stopped with the world, not with the subtest that started it.
		w.stops = append(w.stops, stop)
		w.ends[fn] = end
	}
	env := []string{"AWS_LAMBDA_FUNCTION_NAME=vsecure-" + fn}
	for _, s := range []string{"DYNAMODB", "KMS", "SFN", "SECRETS_MANAGER"} {
		env = append(env, "AWS_ENDPOINT_URL_"+s+"="+end)
	}
	f, err := w.stack.Function(stackName(fn))
	if err != nil {
		t.Fatal(err)
	}
	if arn := f.Env["VSECURE_CURSOR_SECRET_ARN"]; arn != "" {
		env = append(env, "VSECURE_CURSOR_KEY=", "VSECURE_CURSOR_SECRET_ARN="+arn)
	}
	if arn := f.Env[consolefn.EnvSessionSecretARN]; arn != "" {
		env = append(env, consolefn.EnvSessionSecretARN+"="+arn)
	}
	return env
}

// refusal is one recorded authorization a function's policy refuses.
func (w *world) decide(fn string, r iampolicy.Request) (iampolicy.Result, *iampolicy.Function, error) {
	f, err := w.stack.Function(stackName(fn))
	if err != nil {
		return iampolicy.Result{}, nil, err
	}
	r.Principal = f.Role
	if strings.HasPrefix(r.Action, "kms:") {
		kp, err := w.stack.KeyPolicy(r.Resource[strings.LastIndex(r.Resource, "/")+1:])
		if err != nil {
			return iampolicy.Result{}, nil, err
		}
		res, err := iampolicy.EvaluateWithKeyPolicy(f.Statements, kp, r)
		return res, f, err
	}
	res, err := iampolicy.Evaluate(f.Statements, r)
	if err != nil || !strings.HasPrefix(r.Action, "dynamodb:") {
		return res, f, err
	}
	// Same account: the table's resource policy can only add an explicit
	// Deny to what the role's policy decided (the audit table's append-only
	// statements).
	tp, err := w.stack.TablePolicy(r.Resource)
	if err != nil {
		return res, f, err
	}
	if tr, err := iampolicy.Evaluate(tp, r); err != nil || tr.Decision == iampolicy.ExplicitDeny {
		return tr, f, err
	}
	return res, f, err
}

// checkIAM is the enforcement: every authorization of every recorded call
// must be allowed by the calling function's synthesized policy (and, for
// KMS, the key policy). It then reports the grants no call used.
func checkIAM(t *testing.T, w *world) {
	calls := w.rec.Calls()
	if len(calls) == 0 {
		t.Fatal("no AWS call was recorded: the functions do not go through the recording endpoints")
	}
	used := map[string]map[string]bool{} // function → "sid action resource"
	refused := 0
	for _, c := range calls {
		for _, r := range c.Requests {
			res, f, err := w.decide(c.Function, r)
			if err != nil {
				t.Fatalf("%s: %v", c.Function, err)
			}
			if res.Decision != iampolicy.Allow {
				refused++
				why := "no statement allows it"
				if res.Statement != nil {
					why = fmt.Sprintf("statement %q of %s denies it", res.Statement.Sid, res.Statement.Source)
				}
				t.Errorf("%s (%s, role %s): %s refused by its synthesized policy: %s (%s; the call answered %d)",
					c.Function, c.Target, f.Role, r, res.Decision, why, c.Status)
				continue
			}
			if used[c.Function] == nil {
				used[c.Function] = map[string]bool{}
			}
			used[c.Function][grantKey(res.Statement, r)] = true
		}
	}
	t.Logf("%d AWS calls recorded, %d authorizations refused", len(calls), refused)
	// Grants no test used: printed for review, not failed, because some
	// serve only error paths (an idempotency release, a retried audit
	// append) that a suite of success cases does not reach.
	var unused []string
	fns := map[string]bool{}
	for _, c := range calls {
		fns[c.Function] = true
	}
	for fn := range fns {
		f, _ := w.stack.Function(stackName(fn))
		for i := range f.Statements {
			s := &f.Statements[i]
			if s.Effect != "Allow" {
				continue
			}
			for _, a := range s.Actions {
				if !slices.ContainsFunc([]string{"dynamodb:", "kms:", "states:", "secretsmanager:"}, func(p string) bool { return strings.HasPrefix(a, p) }) {
					continue
				}
				for _, res := range s.Resources {
					if !used[fn][s.Sid+" "+a+" "+res] {
						unused = append(unused, fmt.Sprintf("%s: %s %s on %s", fn, s.Sid, a, res))
					}
				}
			}
		}
	}
	slices.Sort(unused)
	t.Logf("%d grants no call used (error paths, or candidates to remove):\n  %s", len(unused), strings.Join(unused, "\n  "))
}

// grantKey names the (statement, action pattern, resource pattern) of s
// that allowed r.
func grantKey(s *iampolicy.Statement, r iampolicy.Request) string {
	var a, res string
	for _, x := range s.Actions {
		if iampolicy.Like(x, r.Action, true) {
			a = x
		}
	}
	for _, x := range s.Resources {
		if iampolicy.Like(x, r.Resource, false) {
			res = x
		}
	}
	return s.Sid + " " + a + " " + res
}

// variants invokes the functions on the code paths the sample events do
// not reach, so that their AWS calls are checked too: listings as an
// agent and as an admin with each status filter (the VIS# partition, the
// live index, gsi1), and every MCP tool.
func variants(t *testing.T, ctx context.Context, w *world) {
	admin := map[string]string{"principal": "admin", "roles": "admin", "keyId": sample.AdminKeyID}
	agent := map[string]string{"principal": "agent-1", "roles": "agent", "keyId": sample.AgentKeyID}
	for _, tc := range []struct {
		fn, query string
		who       map[string]string
	}{
		{"approvals-list", "", agent}, {"approvals-list", "status=approved", agent},
		{"approvals-list", "", admin}, {"approvals-list", "status=pending", admin}, {"approvals-list", "status=approved", admin},
		{"approvals-list", "status=denied", admin}, {"approvals-list", "limit=1", admin},
		{"resources-list", "", agent}, {"secrets-list", "limit=1", agent}, {"keys-list", "limit=1", admin},
		{"audit-list", "actor=agent-1", admin}, {"audit-list", "resource=" + url.QueryEscape(sample.StagingSecret), admin},
		{"audit-list", "resource=" + url.QueryEscape("vsecure://secrets/staging/*"), admin}, {"audit-list", "limit=1", admin},
	} {
		var ev events.APIGatewayV2HTTPRequest
		w.readEvent(t, tc.fn, &ev)
		ev.RawQueryString, ev.QueryStringParameters = tc.query, nil
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{Lambda: map[string]any{}}
		for k, v := range tc.who {
			ev.RequestContext.Authorizer.Lambda[k] = v
		}
		ev.RequestContext.RequestID = "variant-" + tc.fn + "-" + tc.who["principal"] + "-" + tc.query
		var resp events.APIGatewayV2HTTPResponse
		w.invoke(t, ctx, tc.fn, ev, &resp)
		if resp.StatusCode != 200 {
			t.Errorf("%s ?%s as %s: %d %s", tc.fn, tc.query, tc.who["principal"], resp.StatusCode, resp.Body)
		}
	}
	for i, call := range []struct{ tool, args string }{
		{"list_resources", `{}`},
		{"read_secret", `{"uri":"` + sample.StagingSecret + `","reason":"iam suite"}`},
		{"read_secret", `{"uri":"` + sample.ProductionSecret + `","reason":"iam suite"}`},
		{"write_secret", `{"uri":"vsecure://secrets/staging/MCP_WRITTEN","value":"v","reason":"iam suite"}`},
		{"request_approval", `{"uri":"` + sample.ProductionSecret + `","operation":"read","reason":"iam suite"}`},
		{"get_approval", `{"approvalId":"` + sample.PendingApproval + `"}`},
		{"list_approvals", `{}`}, {"list_approvals", `{"status":"pending"}`}, {"list_approvals", `{"status":"approved","limit":1}`},
		{"audit_log", `{}`},
	} {
		var ev events.APIGatewayV2HTTPRequest
		w.readEvent(t, "mcp", &ev)
		ev.Body = fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,"arguments":%s}}`, i+2, call.tool, call.args)
		ev.Headers["content-length"] = fmt.Sprint(len(ev.Body))
		ev.RequestContext.RequestID = fmt.Sprintf("variant-mcp-%d", i)
		if call.tool == "audit_log" { // admins and auditors only
			ev.Headers["authorization"] = "Bearer " + sample.AdminKey
			ev.RequestContext.Authorizer.Lambda = map[string]any{"principal": "admin", "roles": "admin", "keyId": sample.AdminKeyID}
		}
		var resp events.APIGatewayV2HTTPResponse
		w.invoke(t, ctx, "mcp", ev, &resp)
		if resp.StatusCode != 200 || strings.Contains(resp.Body, `"isError":true`) && !strings.Contains(resp.Body, "approval") {
			t.Errorf("mcp %s: %d %s", call.tool, resp.StatusCode, resp.Body)
		}
	}
}

// TestLeastPrivilegeConditions proves each item-level condition of the
// synthesized policies with the evaluator, on requests as the recording
// proxy builds them (no emulator needed).
func TestLeastPrivilegeConditions(t *testing.T) {
	root, err := rie.Root()
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := iampolicy.Load(filepath.Join(root, "infra", "testdata", "iam.dev.template.json"), account, region)
	if err != nil {
		t.Fatal(err)
	}
	const keyUUID = "6f1c7a52-0b7e-4c1e-9a0b-7a1d2e3f4a5b"
	for _, b := range [][2]string{{"VSECURE_TABLE", "vsecure"}, {"VSECURE_AUDIT_TABLE", "vsecure-audit"}, {"VSECURE_KMS_KEY_ARN", keyUUID}} {
		if err := tpl.Bind(stackName("resources-put"), b[0], b[1]); err != nil {
			t.Fatal(err)
		}
	}
	w := &world{stack: tpl}
	state := "arn:aws:dynamodb:" + region + ":" + account + ":table/vsecure"
	key := "arn:aws:kms:" + region + ":" + account + ":key/" + keyUUID
	ddb := func(action, pk string, attrs ...string) iampolicy.Request {
		r := iampolicy.Request{Action: action, Resource: state, Context: map[string][]string{"dynamodb:LeadingKeys": {pk}}}
		if len(attrs) > 0 {
			r.Context["dynamodb:Attributes"] = attrs
		}
		return r
	}
	audit := "arn:aws:dynamodb:" + region + ":" + account + ":table/vsecure-audit"
	// onAudit is a write of items with partition keys pks to the audit
	// table (a BatchWriteItem names every item's).
	onAudit := func(action string, pks ...string) iampolicy.Request {
		return iampolicy.Request{Action: action, Resource: audit, Context: map[string][]string{"dynamodb:LeadingKeys": pks}}
	}
	entry, segment := schema.AuditEntryPK("log_x"), schema.AuditIndexPrefix+"r:"+sample.StagingSecret
	head := "SECRET#" + sample.StagingSecret
	counters := []string{"accessCount", "accessedAt", "indexedThrough", "pk", "sk"}
	dataKey := func(action string) iampolicy.Request {
		return iampolicy.Request{Action: action, Resource: key, Context: map[string][]string{
			"kms:EncryptionContext:uri": {sample.StagingSecret}, "kms:EncryptionContext:version": {"1"}, "kms:EncryptionContextKeys": {"uri", "version"}}}
	}
	for _, tc := range []struct {
		name, fn string
		r        iampolicy.Request
		want     iampolicy.Decision
	}{
		{"mcp cannot mint a key", "mcp", ddb("dynamodb:PutItem", schema.KeyPrefix+"key_x", "pk", "sk", "data"), iampolicy.ExplicitDeny},
		{"mcp cannot write a key's hash item", "mcp", ddb("dynamodb:PutItem", schema.KeyHashPrefix+"h", "pk", "sk"), iampolicy.ExplicitDeny},
		{"mcp cannot touch a key item in a transaction", "mcp", ddb("dynamodb:UpdateItem", schema.KeyPrefix+"key_x", "pk", "sk", "roles"), iampolicy.ExplicitDeny},
		{"mcp still writes secrets", "mcp", ddb("dynamodb:PutItem", "SECRET#"+sample.StagingSecret, "pk", "sk", "data"), iampolicy.Allow},
		{"resources-put cannot write a key item", "resources-put", ddb("dynamodb:PutItem", schema.KeyPrefix+"key_x"), iampolicy.ExplicitDeny},
		{"approvals-respond cannot delete a key item", "approvals-respond", ddb("dynamodb:DeleteItem", schema.KeyHashPrefix+"h"), iampolicy.ExplicitDeny},
		// The console's pages run behind no authorizer: none may touch a key.
		{"console-decide cannot write a key item", "console-decide", ddb("dynamodb:PutItem", schema.KeyPrefix+"key_x", "pk", "sk", "data"), iampolicy.ExplicitDeny},
		{"console-passkeys cannot write a key's hash item", "console-passkeys", ddb("dynamodb:PutItem", schema.KeyHashPrefix+"h", "pk", "sk"), iampolicy.ExplicitDeny},
		{"console-stepup cannot update a key item", "console-stepup", ddb("dynamodb:UpdateItem", schema.KeyPrefix+"key_x", "pk", "sk", "roles"), iampolicy.ExplicitDeny},
		{"console-inbox cannot write the state table", "console-inbox", ddb("dynamodb:PutItem", "APPROVAL#x", "pk", "sk"), iampolicy.ImplicitDeny},
		{"keys-create mints keys", "keys-create", ddb("dynamodb:PutItem", schema.KeyPrefix+"key_x", "pk", "sk", "data"), iampolicy.Allow},
		{"keys-update changes keys", "keys-update", ddb("dynamodb:PutItem", schema.KeyHashPrefix+"h", "pk", "sk", "data"), iampolicy.Allow},
		{"admin-bootstrap mints keys", "admin-bootstrap", ddb("dynamodb:PutItem", schema.KeyPrefix+"key_x", "pk", "sk", "data"), iampolicy.Allow},
		{"the authorizer marks a key used", "authorizer", ddb("dynamodb:UpdateItem", schema.KeyHashPrefix+"h", "keyId", "lastUsed", "pk", "sk"), iampolicy.Allow},
		{"the authorizer cannot change a key's roles", "authorizer", ddb("dynamodb:UpdateItem", schema.KeyPrefix+"key_x", "lastUsed", "pk", "roles", "sk"), iampolicy.ImplicitDeny},
		{"the authorizer cannot update another item", "authorizer", ddb("dynamodb:UpdateItem", "SECRET#x", "lastUsed", "pk", "sk"), iampolicy.ImplicitDeny},
		{"the authorizer cannot put a key", "authorizer", ddb("dynamodb:PutItem", schema.KeyPrefix+"key_x", "pk", "sk"), iampolicy.ImplicitDeny},

		// The audit table, item by item: entries (T#), digests, the
		// indexer's segments (I#) and state (X#).
		{"resources-get appends an entry", "resources-get", onAudit("dynamodb:PutItem", entry), iampolicy.Allow},
		{"resources-get cannot put an index segment", "resources-get", onAudit("dynamodb:PutItem", segment), iampolicy.ImplicitDeny},
		{"resources-get cannot move the indexer's watermark", "resources-get", onAudit("dynamodb:PutItem", schema.AuditWatermarkPK), iampolicy.ImplicitDeny},
		{"resources-get cannot claim an indexer pass", "resources-get", onAudit("dynamodb:PutItem", schema.AuditClaimPK), iampolicy.ImplicitDeny},
		{"resources-get cannot put a digest", "resources-get", onAudit("dynamodb:PutItem", schema.AuditDigestPK), iampolicy.ImplicitDeny},
		{"mcp cannot put an index segment", "mcp", onAudit("dynamodb:PutItem", segment), iampolicy.ImplicitDeny},
		{"admin-bootstrap cannot put the watermark", "admin-bootstrap", onAudit("dynamodb:PutItem", schema.AuditWatermarkPK), iampolicy.ImplicitDeny},
		{"the digest step puts a digest", "audit-digest", onAudit("dynamodb:PutItem", schema.AuditDigestPK), iampolicy.Allow},
		{"the digest step cannot put an entry", "audit-digest", onAudit("dynamodb:PutItem", entry), iampolicy.ImplicitDeny},
		{"the digest step cannot put a segment", "audit-digest", onAudit("dynamodb:PutItem", segment), iampolicy.ImplicitDeny},
		{"the indexer writes segments", "audit-index", onAudit("dynamodb:BatchWriteItem", segment, schema.AuditIndexPrefix+"a:agent-1"), iampolicy.Allow},
		{"the indexer claims a pass", "audit-index", onAudit("dynamodb:PutItem", schema.AuditClaimPK), iampolicy.Allow},
		{"the indexer moves its watermark", "audit-index", onAudit("dynamodb:PutItem", schema.AuditWatermarkPK), iampolicy.Allow},
		{"the indexer cannot put an entry", "audit-index", onAudit("dynamodb:PutItem", entry), iampolicy.ImplicitDeny},
		{"the indexer cannot batch-write an entry among segments", "audit-index", onAudit("dynamodb:BatchWriteItem", segment, entry), iampolicy.ExplicitDeny},
		{"the indexer cannot put a digest", "audit-index", onAudit("dynamodb:PutItem", schema.AuditDigestPK), iampolicy.ImplicitDeny},
		{"the indexer counts a secret's reads", "audit-index", ddb("dynamodb:UpdateItem", head, counters...), iampolicy.Allow},
		{"the indexer cannot update a key item", "audit-index", ddb("dynamodb:UpdateItem", schema.KeyPrefix+"key_x", counters...), iampolicy.ImplicitDeny},
		{"the indexer cannot change a secret head's data", "audit-index", ddb("dynamodb:UpdateItem", head, "accessCount", "data", "pk", "sk"), iampolicy.ImplicitDeny},
		{"the indexer cannot put a state item", "audit-index", ddb("dynamodb:PutItem", head, "pk", "sk", "data"), iampolicy.ImplicitDeny},
		// The bootstrap marker: admin-bootstrap's writes are key items and it.
		{"admin-bootstrap puts the bootstrap marker", "admin-bootstrap", ddb("dynamodb:PutItem", schema.BootstrapPK, "keyId", "pk", "sk"), iampolicy.Allow},
		{"admin-bootstrap cannot put a secret", "admin-bootstrap", ddb("dynamodb:PutItem", head, "pk", "sk", "data"), iampolicy.ImplicitDeny},

		// Rate buckets: the functions that request approvals take tokens;
		// a function without that store call cannot touch a bucket.
		{"approvals-request takes a token", "approvals-request", ddb("dynamodb:PutItem", schema.RatePrefix+"approvals#agent-1", "pk", "sk", "tat", "ttl"), iampolicy.Allow},
		{"mcp takes a token", "mcp", ddb("dynamodb:PutItem", schema.RatePrefix+"approvals#agent-1", "pk", "sk", "tat", "ttl"), iampolicy.Allow},
		{"resources-get cannot reset a rate bucket", "resources-get", ddb("dynamodb:PutItem", schema.RatePrefix+"approvals#agent-1", "pk", "sk", "tat", "ttl"), iampolicy.ImplicitDeny},
		{"audit-list cannot reset a rate bucket", "audit-list", ddb("dynamodb:PutItem", schema.RatePrefix+"approvals#agent-1", "pk", "sk", "tat", "ttl"), iampolicy.ImplicitDeny},

		{"resources-get opens data keys", "resources-get", dataKey("kms:Decrypt"), iampolicy.Allow},
		{"resources-put seals data keys", "resources-put", dataKey("kms:GenerateDataKey"), iampolicy.Allow},
		{"resources-get cannot seal", "resources-get", dataKey("kms:GenerateDataKey"), iampolicy.ImplicitDeny},
		{"audit-list cannot open data keys (the key policy denies it)", "audit-list", dataKey("kms:Decrypt"), iampolicy.ExplicitDeny},
	} {
		res, _, err := w.decide(tc.fn, tc.r)
		if err != nil {
			t.Fatal(err)
		}
		if res.Decision != tc.want {
			t.Errorf("%s: %s by %s: %v, want %v", tc.name, tc.r, tc.fn, res.Decision, tc.want)
		}
	}

	// No function may update or delete any audit item (entry, digest,
	// segment, indexer state), and the table's resource policy refuses it
	// to every principal, an account administrator included.
	var fns []string
	for _, r := range tpl.Resources {
		if n, _ := r.Properties["FunctionName"].(string); r.Type == "AWS::Lambda::Function" && strings.HasPrefix(n, stackName("")) {
			fns = append(fns, strings.TrimPrefix(n, stackName("")))
		}
	}
	if len(fns) < 30 {
		t.Fatalf("%d functions in the template", len(fns))
	}
	rp, err := tpl.TablePolicy(audit)
	if err != nil || len(rp) == 0 {
		t.Fatalf("the audit table has no resource policy (%v)", err)
	}
	for _, action := range []string{"dynamodb:UpdateItem", "dynamodb:DeleteItem"} {
		for _, pk := range []string{entry, schema.AuditDigestPK, segment, schema.AuditWatermarkPK, schema.AuditClaimPK} {
			for _, fn := range fns {
				if res, _, err := w.decide(fn, onAudit(action, pk)); err != nil || res.Decision == iampolicy.Allow {
					t.Errorf("%s may %s audit item %s (%v)", fn, action, pk, err)
				}
			}
			r := onAudit(action, pk)
			r.Principal = "arn:aws:iam::" + account + ":role/Administrator"
			if res, err := iampolicy.Evaluate(rp, r); err != nil || res.Decision != iampolicy.ExplicitDeny {
				t.Errorf("the audit table's resource policy lets an administrator %s %s: %v (%v)", action, pk, res.Decision, err)
			}
		}
	}

	// The key policy: an account administrator (IAM kms:* on everything)
	// is refused a secret's data key; the break-glass role is not.
	kp, err := tpl.KeyPolicy(keyUUID)
	if err != nil {
		t.Fatal(err)
	}
	adminIAM := []iampolicy.Statement{{Effect: "Allow", Actions: []string{"*"}, Resources: []string{"*"}}}
	for _, tc := range []struct {
		principal string
		identity  []iampolicy.Statement
		action    string
		want      iampolicy.Decision
	}{
		{"arn:aws:iam::" + account + ":role/Administrator", adminIAM, "kms:Decrypt", iampolicy.ExplicitDeny},
		{"arn:aws:iam::" + account + ":role/Administrator", adminIAM, "kms:GenerateDataKey", iampolicy.ExplicitDeny},
		{"arn:aws:iam::" + account + ":role/Administrator", adminIAM, "kms:ReEncryptFrom", iampolicy.ExplicitDeny},
		{"arn:aws:iam::" + account + ":role/vsecure-dev-break-glass", breakGlass(t, tpl), "kms:Decrypt", iampolicy.Allow},
		{"arn:aws:iam::" + account + ":role/vsecure-dev-break-glass", breakGlass(t, tpl), "kms:GenerateDataKey", iampolicy.ImplicitDeny},
	} {
		r := dataKey(tc.action)
		r.Principal = tc.principal
		res, err := iampolicy.EvaluateWithKeyPolicy(tc.identity, kp, r)
		if err != nil {
			t.Fatal(err)
		}
		if res.Decision != tc.want {
			t.Errorf("%s %s: %v, want %v", tc.principal, tc.action, res.Decision, tc.want)
		}
	}
	// A table read by DynamoDB on the administrator's behalf is another
	// context, untouched by the Deny.
	r := iampolicy.Request{Principal: "arn:aws:iam::" + account + ":role/Administrator", Action: "kms:Decrypt", Resource: key,
		Context: map[string][]string{"kms:EncryptionContext:aws:dynamodb:tableName": {"vsecure"}}}
	if res, _ := iampolicy.EvaluateWithKeyPolicy(adminIAM, kp, r); res.Decision == iampolicy.ExplicitDeny {
		t.Errorf("the Deny refuses DynamoDB's own use of the key: %v", res.Statement)
	}
}

// breakGlass is the break-glass role's policy from the template.
func breakGlass(t *testing.T, tpl *iampolicy.Template) []iampolicy.Statement {
	t.Helper()
	var out []iampolicy.Statement
	for id, r := range tpl.Resources {
		if r.Type != "AWS::IAM::Policy" {
			continue
		}
		roles, _ := r.Properties["Roles"].([]any)
		for _, x := range roles {
			if m, _ := x.(map[string]any); strings.HasPrefix(fmt.Sprint(m["Ref"]), "BreakGlassRole") {
				st, err := tpl.Statements(r.Properties["PolicyDocument"], id)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, st...)
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("no break-glass role policy in the template")
	}
	return out
}
