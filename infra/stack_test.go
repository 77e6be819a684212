package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"

	"github.com/vsecure/vsecure/shared/catalog"
	"github.com/vsecure/vsecure/shared/httpapi"
	"github.com/vsecure/vsecure/shared/store/dynamo/schema"
)

// synthesized is one stack synthesized for tests: the assertions handle,
// the raw template, and nag's annotations.
type synthesized struct {
	v           *Vsecure
	template    assertions.Template
	raw         map[string]any // the template as JSON
	resources   map[string]resource
	annotations assertions.Annotations
}

type resource struct {
	Type           string         `json:"Type"`
	Properties     map[string]any `json:"Properties"`
	DeletionPolicy string         `json:"DeletionPolicy"`
}

var (
	synthMu sync.Mutex
	synths  = map[string]*synthesized{}
)

// synth builds (once per configuration) the stack with placeholder code,
// checked by cdk-nag exactly as `cdk synth` does.
func synth(t *testing.T, env string, cacheSeconds int) *synthesized {
	t.Helper()
	return synthConfig(t, Config{Env: env, AuthCacheSeconds: cacheSeconds})
}

// synthConfig is synth for a Config (its slack channel, alarm e-mail and
// code are the tests' own).
func synthConfig(t *testing.T, cfg Config) *synthesized {
	t.Helper()
	synthMu.Lock()
	defer synthMu.Unlock()
	k := fmt.Sprint(cfg.Env, cfg.AuthCacheSeconds)
	if cfg.Tracing != nil {
		k += fmt.Sprint(" tracing=", *cfg.Tracing)
	}
	if cfg.OIDC.On() {
		k += fmt.Sprintf(" oidc=%+v", cfg.OIDC)
	}
	if s, ok := synths[k]; ok {
		return s
	}
	app := awscdk.NewApp(nil)
	cfg.SlackChannel, cfg.AlarmEmail = "#vsecure-approvals", "ops@example.com"
	cfg.Code = func(string) (awslambda.Code, error) {
		return awslambda.Code_FromAsset(jsii.String("testdata/placeholder"), nil), nil
	}
	v, err := NewVsecure(app, cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkWithNag(app)
	tpl := assertions.Template_FromStack(v.Stack, nil)
	raw, err := json.Marshal(tpl.ToJSON())
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Resources map[string]resource `json:"Resources"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var whole map[string]any
	if err := json.Unmarshal(raw, &whole); err != nil {
		t.Fatal(err)
	}
	s := &synthesized{v: v, template: tpl, raw: whole, resources: doc.Resources, annotations: assertions.Annotations_FromStack(v.Stack)}
	synths[k] = s
	return s
}

func (s *synthesized) ofType(typ string) map[string]resource {
	out := map[string]resource{}
	for id, r := range s.resources {
		if r.Type == typ {
			out[id] = r
		}
	}
	return out
}

// getAtt returns X of {"Fn::GetAtt": [X, "Arn"]} (or {"Ref": X}).
func getAtt(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	if ga, ok := m["Fn::GetAtt"].([]any); ok && len(ga) == 2 {
		return ga[0].(string)
	}
	if ref, ok := m["Ref"].(string); ok {
		return ref
	}
	return ""
}

// functionIDs maps function name → logical id.
func (s *synthesized) functionIDs(t *testing.T) map[string]string {
	out := map[string]string{}
	for id, r := range s.ofType("AWS::Lambda::Function") {
		name := strings.TrimPrefix(r.Properties["FunctionName"].(string), "vsecure-"+s.v.Config.Env+"-")
		out[name] = id
	}
	return out
}

func TestEveryRouteReachesItsOwnFunction(t *testing.T) {
	s := synth(t, "dev", 30)
	fns := s.functionIDs(t)
	integrations := s.ofType("AWS::ApiGatewayV2::Integration")
	routes := map[string]resource{}
	for _, r := range s.ofType("AWS::ApiGatewayV2::Route") {
		routes[r.Properties["RouteKey"].(string)] = r
	}
	table := httpapi.Routes()
	if len(routes) != len(table)+1 {
		t.Fatalf("%d routes in the template, %d in the route table and $default", len(routes), len(table))
	}
	// $default (what no route takes) reaches the fallback, unauthenticated
	// as the local server's 405/404/400 are.
	table = append(table, httpapi.Route{Function: httpapi.FallbackFunction, Auth: httpapi.AuthNone})
	for _, want := range table {
		key := want.Method + " " + want.APIGatewayPath()
		if want.Function == httpapi.FallbackFunction {
			key = "$default"
		}
		r, ok := routes[key]
		if !ok {
			t.Errorf("route %s missing", key)
			continue
		}
		target := joinedRef(r.Properties["Target"])
		integ := integrations[strings.TrimPrefix(target, "integrations/")]
		if got := getAtt(integ.Properties["IntegrationUri"]); got != fns[want.Function] || got == "" {
			t.Errorf("route %s: integration %v calls %q, want function %s (%s)", key, target, got, want.Function, fns[want.Function])
		}
		if integ.Properties["PayloadFormatVersion"] != "2.0" {
			t.Errorf("route %s: payload format %v, want 2.0", key, integ.Properties["PayloadFormatVersion"])
		}
		wantAuth := map[httpapi.Auth]string{httpapi.AuthKey: "CUSTOM", httpapi.AuthNone: "NONE", httpapi.AuthSlack: "NONE", httpapi.AuthSession: "NONE", httpapi.AuthSignIn: "NONE"}[want.Auth]
		if got := r.Properties["AuthorizationType"]; got != wantAuth {
			t.Errorf("route %s: authorization %v, want %s", key, got, wantAuth)
		}
	}
}

// TestConsolePagesArePublicAtTheGateway: a console page's session is a
// cookie, which no gateway authorizer reads, so its route has none and its
// function checks the cookie (and gets the session secret to); every
// AuthKey route keeps the Lambda authorizer.
func TestConsolePagesArePublicAtTheGateway(t *testing.T) {
	s := synth(t, "dev", 30)
	routes := map[string]resource{}
	for _, r := range s.ofType("AWS::ApiGatewayV2::Route") {
		routes[r.Properties["RouteKey"].(string)] = r
	}
	var authorizer string
	for id := range s.ofType("AWS::ApiGatewayV2::Authorizer") {
		authorizer = id
	}
	pages := 0
	for _, rt := range httpapi.Routes() {
		r := routes[rt.Method+" "+rt.APIGatewayPath()]
		auth, id := r.Properties["AuthorizationType"], getAtt(r.Properties["AuthorizerId"])
		switch rt.Auth {
		case httpapi.AuthSession:
			pages++
			if auth != "NONE" || r.Properties["AuthorizerId"] != nil {
				t.Errorf("console page %s: authorization %v, authorizer %v; want none", rt.Pattern(), auth, id)
			}
			if !functionSpecs[rt.Function].Console {
				t.Errorf("console page %s: its function %s does not read the session secret", rt.Pattern(), rt.Function)
			}
		case httpapi.AuthKey:
			if auth != "CUSTOM" || id != authorizer {
				t.Errorf("%s: authorization %v by %q, want CUSTOM by the key authorizer %s", rt.Pattern(), auth, id, authorizer)
			}
		}
	}
	if pages == 0 {
		t.Fatal("no console page in the route table")
	}
}

// joinedRef renders {"Fn::Join": ["", ["integrations/", {"Ref": X}]]} as
// "integrations/X".
func joinedRef(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Sprint(v)
	}
	j, ok := m["Fn::Join"].([]any)
	if !ok {
		return getAtt(v)
	}
	var b strings.Builder
	for _, p := range j[1].([]any) {
		if str, ok := p.(string); ok {
			b.WriteString(str)
		} else {
			b.WriteString(getAtt(p))
		}
	}
	return b.String()
}

func TestFunctionsAreArmAL2023TracedSizedAndLogged(t *testing.T) {
	s := synth(t, "dev", 30)
	logGroups := s.ofType("AWS::Logs::LogGroup")
	fns := s.functionIDs(t)
	var names []string
	for name := range fns {
		names = append(names, name)
	}
	if want := catalog.Names(); !sameSet(names, want) {
		t.Fatalf("functions %v in the template, want the catalog's %v (shared/catalog)", names, want)
	}
	for name, id := range fns {
		p := s.resources[id].Properties
		spec := functionSpecs[name]
		checks := map[string][2]any{
			"Runtime":      {p["Runtime"], "provided.al2023"},
			"Architecture": {fmt.Sprint(p["Architectures"]), "[arm64]"},
			"Handler":      {p["Handler"], "bootstrap"},
			"Tracing":      {fmt.Sprint(p["TracingConfig"]), "map[Mode:Active]"},
			"MemorySize":   {p["MemorySize"], float64(spec.MemoryMB)},
			"Timeout":      {p["Timeout"], float64(spec.TimeoutSeconds)},
		}
		for what, c := range checks {
			if c[0] != c[1] {
				t.Errorf("%s: %s = %v, want %v", name, what, c[0], c[1])
			}
		}
		if spec.Why == "" {
			t.Errorf("%s: sized without a reason", name)
		}
		lg := getAtt(p["LoggingConfig"].(map[string]any)["LogGroup"])
		if r, ok := logGroups[lg]; !ok || r.Properties["RetentionInDays"] != float64(14) {
			t.Errorf("%s: log group %s missing or without 14-day retention: %+v", name, lg, r.Properties)
		}
	}
}

// policyLines renders every IAM statement of a function's role as
// "Effect actions on resources [if conditions]", with CloudFormation
// references replaced by readable names.
func (s *synthesized) policyLines(t *testing.T, fnID string) []string {
	t.Helper()
	fn := s.resources[fnID]
	role := getAtt(fn.Properties["Role"])
	logs := getAtt(fn.Properties["LoggingConfig"].(map[string]any)["LogGroup"])
	names := map[string]string{logs: "own-logs"}
	for id, r := range s.resources {
		switch r.Type {
		case "AWS::DynamoDB::Table":
			names[id] = "table:" + tableNameOf(r)
		case "AWS::KMS::Key":
			names[id] = "key"
			if r.Properties["KeyUsage"] == "SIGN_VERIFY" {
				names[id] = "signing-key"
			}
			if strings.Contains(r.Properties["Description"].(string), "audit MAC") {
				names[id] = "mac-key"
			}
		case "AWS::S3::Bucket":
			names[id] = "witness-bucket"
		case "AWS::SecretsManager::Secret":
			names[id] = "secret:" + strings.Fields(r.Properties["Description"].(string))[2]
		}
	}
	render := func(v any) string {
		if str, ok := v.(string); ok {
			return str
		}
		j := joinedRef(v)
		// ARNs built from names (the state machine's): arn:<partition>:...
		if rest, ok := strings.CutPrefix(j, "arn:AWS::Partition:states:AWS::Region:AWS::AccountId:"); ok {
			return "states:" + rest
		}
		for id, n := range names {
			if strings.HasPrefix(j, id) {
				return n + strings.TrimPrefix(j, id)
			}
		}
		return "?" + j
	}
	list := func(v any) []string {
		var out []string
		if l, ok := v.([]any); ok {
			for _, e := range l {
				out = append(out, render(e))
			}
		} else {
			out = append(out, render(v))
		}
		return out
	}
	if mp, ok := s.resources[role].Properties["ManagedPolicyArns"]; ok {
		t.Errorf("role %s has managed policies %v", role, mp)
	}
	if s.resources[role].Properties["Policies"] != nil {
		t.Errorf("role %s has inline policies", role)
	}
	var lines []string
	for _, p := range s.ofType("AWS::IAM::Policy") {
		if getAtt(p.Properties["Roles"].([]any)[0]) != role {
			continue
		}
		for _, st := range p.Properties["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			m := st.(map[string]any)
			line := m["Effect"].(string) + " " + strings.Join(list(m["Action"]), ",") + " on " + strings.Join(list(m["Resource"]), ",")
			if c, ok := m["Condition"]; ok {
				b, _ := json.Marshal(c)
				line += " if " + string(b)
			}
			lines = append(lines, line)
		}
	}
	sort.Strings(lines)
	return lines
}

// tableNameOf names a synthesized table by the schema table of the same
// shape: key attributes and index names (the state and audit tables share
// pk/sk; only the state table has indexes).
func tableNameOf(r resource) string {
	var got []string
	for _, k := range r.Properties["KeySchema"].([]any) {
		got = append(got, fmt.Sprint(k.(map[string]any)["AttributeName"]))
	}
	gsis, _ := r.Properties["GlobalSecondaryIndexes"].([]any)
	for _, g := range gsis {
		got = append(got, "index:"+fmt.Sprint(g.(map[string]any)["IndexName"]))
	}
	for _, tb := range schema.Tables() {
		want := []string{tb.PartitionKey}
		if tb.SortKey != "" {
			want = append(want, tb.SortKey)
		}
		for _, ix := range tb.Indexes {
			want = append(want, "index:"+ix.Name)
		}
		if slices.Equal(got, want) {
			return tb.Name
		}
	}
	return "?"
}

// The exact permissions of every function, written out by hand: a change
// to storeAccess or functionSpecs shows up here as a reviewed diff.
var wantPolicies = func() map[string][]string {
	const (
		logs = "Allow logs:CreateLogStream,logs:PutLogEvents on own-logs"
		xray = "Allow xray:PutTraceSegments,xray:PutTelemetryRecords on *"
		// Appending an entry: a Put into the entry shards (T#00..T#15) only,
		// never a digest, an index segment or the indexer's state.
		audit = `Allow dynamodb:PutItem on table:vsecure-audit if {"ForAllValues:StringLike":{"dynamodb:LeadingKeys":["T#*"]}}`
		// Audit readers Query the table itself (no index); a listing of
		// secrets reads the not yet indexed reads; a filtered audit query
		// fetches the entries its segments name.
		auditQuery = "Allow dynamodb:Query on table:vsecure-audit"
		auditFetch = "Allow dynamodb:BatchGetItem,dynamodb:Query on table:vsecure-audit"
		gsi        = "table:vsecure/index/gsi1"
		cursor     = "Allow secretsmanager:GetSecretValue on secret:HMAC"
		slack      = "Allow secretsmanager:GetSecretValue on secret:Slack"
		machine    = "states:stateMachine:vsecure-dev-approvals"
		epoch      = ` if {"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["vsecure:audit-epoch"]},"Null":{"kms:EncryptionContextKeys":"false"}}`
		mac        = "Allow kms:GenerateDataKey on mac-key" + epoch
		spend      = `Allow dynamodb:DeleteItem,dynamodb:GetItem,dynamodb:PutItem on table:vsecure if {"ForAllValues:StringLike":{"dynamodb:LeadingKeys":["APPR#*","VIS#*","GRANT#*","TOKEN#*"]}}`
		context    = ` if {"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["uri","version"]},"Null":{"kms:EncryptionContextKeys":"false"},"StringLike":{"kms:EncryptionContext:uri":"vsecure://*"}}`
	)
	m := map[string][]string{
		"health":   {logs, xray},
		"fallback": {logs, xray, audit},
		// lastUsed on key items only: the authorizer can change nothing else.
		"authorizer": {logs, xray, audit, "Allow dynamodb:GetItem on table:vsecure",
			`Allow dynamodb:UpdateItem on table:vsecure if {"ForAllValues:StringLike":{"dynamodb:Attributes":["pk","sk","lastUsed","keyId"],"dynamodb:LeadingKeys":["KEY#*","KEYHASH#*"]}}`},
		"resources-list": {logs, xray, audit, "Allow dynamodb:Query on " + gsi},
		"resources-configure": {logs, xray, audit, "Allow dynamodb:GetItem,dynamodb:PutItem on table:vsecure",
			`Allow dynamodb:UpdateItem on table:vsecure if {"ForAllValues:StringLike":{"dynamodb:LeadingKeys":["POLICYSET"]}}`},
		// GetItem, PutItem, DeleteItem on an approval's items only: the
		// spend of a capped approval's use (SpendUse).
		"resources-get": {logs, xray, audit, "Allow dynamodb:BatchGetItem on table:vsecure", spend, "Allow kms:Decrypt on key" + context},
		"secrets-use":   {logs, xray, audit, "Allow dynamodb:BatchGetItem on table:vsecure", spend, "Allow kms:Decrypt on key" + context},
		// UpdateItem: the head's update inside the write's transaction.
		"resources-put":     {logs, xray, "Allow dynamodb:BatchGetItem,dynamodb:DeleteItem,dynamodb:GetItem,dynamodb:PutItem,dynamodb:UpdateItem on table:vsecure", audit, "Allow kms:GenerateDataKey on key" + context},
		"secrets-list":      {logs, xray, audit, "Allow dynamodb:Query on table:vsecure-audit," + gsi, cursor},
		"approvals-request": {logs, xray, "Allow dynamodb:BatchGetItem,dynamodb:DeleteItem,dynamodb:GetItem,dynamodb:PutItem on table:vsecure", audit},
		// A non-admin's VIS# partition of the table, the live index for
		// status=pending|approved, gsi1 for an admin's other listings.
		"approvals-list":    {logs, xray, audit, "Allow dynamodb:Query on table:vsecure/index/gsi1,table:vsecure/index/live", cursor},
		"approvals-get":     {logs, xray, audit, "Allow dynamodb:GetItem on table:vsecure"},
		"approvals-respond": {logs, xray, audit, "Allow dynamodb:DeleteItem,dynamodb:GetItem,dynamodb:PutItem on table:vsecure"},
		"approvals-revoke":  {logs, xray, audit, "Allow dynamodb:DeleteItem,dynamodb:GetItem,dynamodb:PutItem on table:vsecure"},
		"approvals-cancel":  {logs, xray, audit, "Allow dynamodb:DeleteItem,dynamodb:GetItem,dynamodb:PutItem on table:vsecure"},
		"audit-list":        {logs, xray, audit, auditFetch, cursor},
		"keys-create":       {logs, xray, audit, "Allow dynamodb:DeleteItem,dynamodb:GetItem,dynamodb:PutItem on table:vsecure"},
		"keys-rotate":       {logs, xray, audit, "Allow dynamodb:DeleteItem,dynamodb:GetItem,dynamodb:PutItem on table:vsecure"},
		"keys-list":         {logs, xray, audit, "Allow dynamodb:Query on " + gsi, cursor},
		"keys-delete":       {logs, xray, audit, "Allow dynamodb:GetItem,dynamodb:PutItem on table:vsecure"},
		"keys-update":       {logs, xray, audit, "Allow dynamodb:GetItem,dynamodb:PutItem on table:vsecure"},
		"whoami":            {logs, xray, audit},
		"slack-interactions": {logs, xray, audit, "Allow dynamodb:DeleteItem,dynamodb:GetItem,dynamodb:PutItem on table:vsecure",
			"Allow dynamodb:Query on " + gsi, slack},
		"mcp": {logs, xray, audit, auditFetch, cursor, spend,
			"Allow dynamodb:BatchGetItem,dynamodb:GetItem,dynamodb:PutItem,dynamodb:Query,dynamodb:UpdateItem on table:vsecure",
			"Allow dynamodb:Query on table:vsecure/index/gsi1,table:vsecure/index/live",
			"Allow kms:Decrypt,kms:GenerateDataKey on key" + context, "Allow states:StartExecution on " + machine},
		"workflow-notify": {logs, xray, audit, "Allow dynamodb:DeleteItem,dynamodb:GetItem,dynamodb:PutItem on table:vsecure",
			"Allow states:SendTaskSuccess on " + machine, slack},
		"workflow-expire": {logs, xray, audit, "Allow dynamodb:DeleteItem,dynamodb:GetItem,dynamodb:PutItem on table:vsecure", slack},
		"workflow-revoke": {logs, xray, audit, "Allow dynamodb:DeleteItem,dynamodb:GetItem,dynamodb:PutItem on table:vsecure", slack},
		// A Query on the sparse live index (never a Scan), the expiry's
		// conditional audited write, and exactly its two Step Functions calls.
		"workflow-reconcile": {logs, xray, audit, "Allow dynamodb:DeleteItem,dynamodb:GetItem,dynamodb:PutItem on table:vsecure",
			"Allow dynamodb:Query on table:vsecure/index/live", slack,
			"Allow states:StartExecution on " + machine, "Allow states:DescribeExecution on states:execution:vsecure-dev-approvals:*"},
		"audit-verify": {logs, xray, audit, auditQuery,
			"Allow kms:GetPublicKey on signing-key"},
		// The digest step puts digests (pk DIGEST) and no entry.
		"audit-digest": {logs, xray, auditQuery, `Allow dynamodb:PutItem on table:vsecure-audit if {"ForAllValues:StringLike":{"dynamodb:LeadingKeys":["DIGEST"]}}`,
			"Allow kms:Sign on signing-key"},
		"audit-export": {logs, xray, audit, auditQuery,
			"Allow kms:GetPublicKey on signing-key", cursor},
		// The indexer: exactly the calls of one pass (dynamo.Store.IndexAudit)
		// on the audit table, the accessCount Update of the secret heads on
		// the state table; no KMS (it writes no entry, opens no secret).
		// Its writes: its own items (segments I#, watermark, claims), and
		// on the state table only the counters of secret heads.
		"audit-index": {logs, xray, auditQuery,
			`Allow dynamodb:BatchWriteItem,dynamodb:PutItem on table:vsecure-audit if {"ForAllValues:StringLike":{"dynamodb:LeadingKeys":["I#*","X#index","X#pass"]}}`,
			`Allow dynamodb:UpdateItem on table:vsecure if {"ForAllValues:StringLike":{"dynamodb:Attributes":["pk","sk","accessCount","accessedAt","indexedThrough"],"dynamodb:LeadingKeys":["SECRET#*"]}}`},
		// Lists keys (GSI Query) and creates one with its entry; nothing else.
		// (the key's two items, the bootstrap marker and the entry in one
		// transaction of Puts).
		"admin-bootstrap": {logs, xray, audit, "Allow dynamodb:Query on " + gsi,
			`Allow dynamodb:GetItem,dynamodb:PutItem on table:vsecure if {"ForAllValues:StringLike":{"dynamodb:LeadingKeys":["KEY#*","KEYHASH#*","BOOTSTRAP#admin"]}}`},
	}
	// The functions that had no other read of the state table now read the
	// caller's key (GetItem; lambdafn.AuthorizerContext).
	for _, fn := range []string{"resources-list", "secrets-list", "audit-list", "audit-verify", "audit-export", "keys-list", "whoami"} {
		m[fn] = append(m[fn], "Allow dynamodb:GetItem on table:vsecure")
	}
	m["approvals-list"] = append(m["approvals-list"], "Allow dynamodb:GetItem,dynamodb:Query on table:vsecure")
	// Every function that writes the state table but manages no keys is
	// denied writing a key's items (dynamodb:LeadingKeys), mcp included.
	// (The indexer's state-table grant is itself limited to secret heads.)
	// (resources-get writes only its audit entry since the indexer counts reads.)
	for _, fn := range []string{"resources-configure", "resources-put", "approvals-request", "approvals-respond", "approvals-revoke", "approvals-cancel",
		"slack-interactions", "mcp", "workflow-notify", "workflow-expire", "workflow-revoke", "workflow-reconcile"} {
		m[fn] = append(m[fn], `Deny dynamodb:PutItem,dynamodb:UpdateItem,dynamodb:DeleteItem,dynamodb:ConditionCheckItem,dynamodb:BatchWriteItem on table:vsecure if {"ForAnyValue:StringLike":{"dynamodb:LeadingKeys":["KEY#*","KEYHASH#*"]}}`)
	}
	// Every function that appends audit entries may generate MAC keys
	// (never decrypt them); only the digest step and audit-verify may
	// open them, and only they touch the witness bucket.
	for name, p := range m {
		if !slices.Contains([]string{"health", "audit-digest", "audit-verify", "audit-index"}, name) {
			m[name] = append(p, mac)
		}
	}
	m["audit-verify"] = append(m["audit-verify"], "Allow kms:Decrypt,kms:GenerateDataKey on mac-key"+epoch,
		"Allow s3:GetObject on witness-bucket/digests/*", `Allow s3:ListBucket on witness-bucket if {"StringLike":{"s3:prefix":"digests/*"}}`,
		"Allow s3:GetObject on witness-bucket/archive/*", `Allow s3:ListBucket on witness-bucket if {"StringLike":{"s3:prefix":"archive/*"}}`)
	m["audit-digest"] = append(m["audit-digest"], "Allow kms:Decrypt on mac-key"+epoch,
		"Allow s3:GetObject,s3:PutObject,s3:PutObjectRetention on witness-bucket/digests/*",
		"Allow s3:GetObject,s3:PutObject,s3:PutObjectRetention on witness-bucket/archive/*",
		`Allow s3:ListBucket on witness-bucket if {"StringLike":{"s3:prefix":"archive/*"}}`)
	m["approvals-request"] = append(m["approvals-request"], "Allow states:StartExecution on "+machine)
	// Both request approvals: a token from the requester's rate bucket
	// (RATE# items only) first.
	for _, fn := range []string{"approvals-request", "mcp"} {
		m[fn] = append(m[fn], `Allow dynamodb:GetItem,dynamodb:PutItem on table:vsecure if {"ForAllValues:StringLike":{"dynamodb:LeadingKeys":["RATE#*"]}}`)
	}
	m["approvals-respond"] = append(m["approvals-respond"], "Allow states:SendTaskSuccess on "+machine)
	m["slack-interactions"] = append(m["slack-interactions"], "Allow states:SendTaskSuccess on "+machine)
	m["approvals-revoke"] = append(m["approvals-revoke"], "Allow states:StopExecution on states:execution:vsecure-dev-approvals:*")
	// A cancel ends a pending request's wait as a denial does, an approved
	// one's execution as a revocation does.
	m["approvals-cancel"] = append(m["approvals-cancel"], "Allow states:SendTaskSuccess on "+machine,
		"Allow states:StopExecution on states:execution:vsecure-dev-approvals:*")
	// All rewrite the approval's Slack message with the outcome.
	m["approvals-respond"] = append(m["approvals-respond"], slack)
	m["approvals-revoke"] = append(m["approvals-revoke"], slack)
	m["approvals-cancel"] = append(m["approvals-cancel"], slack)
	// The console's pages: as the API function of the same gate method,
	// without the caller's key (no authorizer: the identity is the sealed
	// session cookie), plus the session secret.
	const (
		session = "Allow secretsmanager:GetSecretValue on secret:Console"
		decides = "Allow dynamodb:DeleteItem,dynamodb:GetItem,dynamodb:PutItem on table:vsecure"
		noKeys  = `Deny dynamodb:PutItem,dynamodb:UpdateItem,dynamodb:DeleteItem,dynamodb:ConditionCheckItem,dynamodb:BatchWriteItem on table:vsecure if {"ForAnyValue:StringLike":{"dynamodb:LeadingKeys":["KEY#*","KEYHASH#*"]}}`
	)
	for fn, p := range map[string][]string{
		// Its only store call: an unclean path's audited refusal.
		"console-signin":   {session},
		"console-inbox":    {session, "Allow dynamodb:Query on table:vsecure,table:vsecure/index/gsi1,table:vsecure/index/live"},
		"console-approval": {session, "Allow dynamodb:GetItem on table:vsecure"},
		"console-decide": {"Allow secretsmanager:GetSecretValue on secret:Slack,secret:Console", decides, noKeys,
			"Allow states:SendTaskSuccess on " + machine},
		"console-revoke": {"Allow secretsmanager:GetSecretValue on secret:Slack,secret:Console", decides, noKeys,
			"Allow states:StopExecution on states:execution:vsecure-dev-approvals:*"},
		"console-cancel": {"Allow secretsmanager:GetSecretValue on secret:Slack,secret:Console", decides, noKeys,
			"Allow states:SendTaskSuccess on " + machine, "Allow states:StopExecution on states:execution:vsecure-dev-approvals:*"},
		"console-keys":     {session, "Allow dynamodb:Query on " + gsi},
		"console-policies": {session, "Allow dynamodb:Query on " + gsi},
		"console-passkeys": {session, noKeys, "Allow dynamodb:DeleteItem,dynamodb:GetItem,dynamodb:PutItem,dynamodb:Query on table:vsecure"},
		"console-stepup":   {session, noKeys, "Allow dynamodb:DeleteItem,dynamodb:GetItem,dynamodb:PutItem,dynamodb:Query,dynamodb:UpdateItem on table:vsecure"},
	} {
		m[fn] = append(p, logs, xray, audit, mac)
	}
	// The audit page: audit-list's query and audit-verify's check.
	m["console-audit"] = []string{logs, xray, audit, auditFetch, "Allow secretsmanager:GetSecretValue on secret:HMAC,secret:Console",
		"Allow kms:GetPublicKey on signing-key", "Allow kms:Decrypt,kms:GenerateDataKey on mac-key" + epoch,
		"Allow s3:GetObject on witness-bucket/digests/*", `Allow s3:ListBucket on witness-bucket if {"StringLike":{"s3:prefix":"digests/*"}}`,
		"Allow s3:GetObject on witness-bucket/archive/*", `Allow s3:ListBucket on witness-bucket if {"StringLike":{"s3:prefix":"archive/*"}}`}
	m["console-static"] = []string{logs, xray}
	for _, v := range m {
		sort.Strings(v)
	}
	return m
}()

func TestIAMIsExactPerFunction(t *testing.T) {
	s := synth(t, "dev", 30)
	for name, id := range s.functionIDs(t) {
		want, ok := wantPolicies[name]
		if !ok {
			t.Errorf("%s: no expected policy written down in wantPolicies", name)
			continue
		}
		if got := s.policyLines(t, id); !slices.Equal(got, want) {
			t.Errorf("%s policy:\n got  %s\n want %s", name, strings.Join(got, "\n      "), strings.Join(want, "\n      "))
		}
	}
}

func TestAuditTableIsAppendOnly(t *testing.T) {
	s := synth(t, "dev", 30)
	for name, id := range s.functionIDs(t) {
		if name == indexFunction {
			continue // its grants are pinned by wantPolicies; the resource policy keeps it off entries
		}
		for _, l := range s.policyLines(t, id) {
			if !strings.Contains(l, "table:vsecure-audit") {
				continue
			}
			for _, bad := range []string{"UpdateItem", "DeleteItem", "BatchWriteItem", "PartiQL", "dynamodb:*", "dynamodb:GetItem", "Scan"} {
				if strings.Contains(l, bad) {
					t.Errorf("%s may %s the audit table: %s", name, bad, l)
				}
			}
			// The audit readers: audit-list and mcp's audit_log tool (admins
			// and auditors, checked by the gate), audit-verify, and the digest
			// step, which re-reads windows to seal them.
			// The secret listing reads the reads not yet counted into the
			// heads (the indexer's tail).
			if !slices.Contains([]string{"audit-list", "mcp", "audit-verify", "audit-export", "audit-digest", "secrets-list", "console-audit"}, name) && strings.Contains(l, "Query") {
				t.Errorf("%s may read the audit table: %s", name, l)
			}
		}
	}
	var audit resource
	for _, r := range s.ofType("AWS::DynamoDB::Table") {
		if tableNameOf(r) == schema.Audit().Name {
			audit = r
		}
	}
	b, _ := json.Marshal(audit.Properties["ResourcePolicy"])
	for _, want := range []string{`"Effect":"Deny"`, `"Principal":{"AWS":"*"}`, "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("audit table resource policy lacks %s: %s", want, b)
		}
	}
	// Every principal: no update or delete at all; no batch write of any
	// item but the indexer's own (segments I#, watermark and claims X#).
	var doc struct {
		PolicyDocument struct {
			Statement []struct {
				Effect    string
				Principal map[string]any
				Action    any
				Condition map[string]map[string]any
			}
		}
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, st := range doc.PolicyDocument.Statement {
		if st.Effect != "Deny" || st.Principal["AWS"] != "*" {
			t.Errorf("resource policy statement %+v", st)
			continue
		}
		cond, _ := json.Marshal(st.Condition)
		var actions []string
		switch a := st.Action.(type) {
		case string:
			actions = []string{a}
		case []any:
			for _, x := range a {
				actions = append(actions, x.(string))
			}
		}
		for _, a := range actions {
			got[a] = string(cond)
		}
	}
	onlyIndex := `{"ForAnyValue:StringNotLike":{"dynamodb:LeadingKeys":["I#*","X#*"]}}`
	want := map[string]string{"dynamodb:DeleteItem": "null", "dynamodb:PartiQLUpdate": "null", "dynamodb:PartiQLDelete": "null",
		"dynamodb:UpdateItem": "null", "dynamodb:BatchWriteItem": onlyIndex}
	if !maps.Equal(got, want) {
		t.Errorf("audit table denies %v, want %v", got, want)
	}
}

func TestOnlySecretFunctionsUseTheKeyForDataKeys(t *testing.T) {
	s := synth(t, "dev", 30)
	for name, id := range s.functionIDs(t) {
		for _, l := range s.policyLines(t, id) {
			if strings.Contains(l, "on key") && name != "resources-get" && name != "secrets-use" && name != "resources-put" && name != "mcp" {
				t.Errorf("%s uses the data key: %s", name, l)
			}
		}
	}
	s.template.HasResourceProperties(jsii.String("AWS::KMS::Key"), &map[string]any{"EnableKeyRotation": true})
}

// Only the digest step signs, only audit-verify reads the public key.
func TestOnlyTheDigestStepSignsAuditDigests(t *testing.T) {
	s := synth(t, "dev", 30)
	s.template.HasResourceProperties(jsii.String("AWS::KMS::Key"), &map[string]any{
		"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY",
	})
	want := map[string]string{"audit-digest": "Allow kms:Sign on signing-key", "audit-verify": "Allow kms:GetPublicKey on signing-key", "audit-export": "Allow kms:GetPublicKey on signing-key",
		"console-audit": "Allow kms:GetPublicKey on signing-key"} // the audit page's verify status
	for name, id := range s.functionIDs(t) {
		for _, l := range s.policyLines(t, id) {
			if strings.Contains(l, "signing-key") && l != want[name] {
				t.Errorf("%s: %s", name, l)
			}
		}
		env := s.resources[id].Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
		if _, ok := env["VSECURE_AUDIT_SIGNING_KEY_ARN"]; ok != (want[name] != "") {
			t.Errorf("%s: VSECURE_AUDIT_SIGNING_KEY_ARN set = %v", name, ok)
		}
	}
}

// The digest step and the workflow reconciler each run every 5 minutes,
// the audit indexer every minute, from their own EventBridge rule, which
// alone may invoke them.
func TestScheduledFunctionsAreScheduled(t *testing.T) {
	s := synth(t, "dev", 30)
	rules := s.ofType("AWS::Events::Rule")
	if len(rules) != 3 {
		t.Fatalf("%d event rules, want 3 (audit-digest, workflow-reconcile, audit-index)", len(rules))
	}
	rates := map[string]string{digestFunction: "rate(5 minutes)", reconcileFunction: "rate(5 minutes)", indexFunction: "rate(1 minute)"}
	for name, rate := range rates {
		fn := s.functionIDs(t)[name]
		if fn == "" {
			t.Fatalf("no %s function", name)
		}
		var ruled int
		for _, r := range rules {
			targets := r.Properties["Targets"].([]any)
			if len(targets) != 1 || getAtt(targets[0].(map[string]any)["Arn"]) != fn {
				continue
			}
			ruled++
			if r.Properties["ScheduleExpression"] != rate || r.Properties["State"] != "ENABLED" {
				t.Errorf("%s rule %v", name, r.Properties)
			}
		}
		if ruled != 1 {
			t.Errorf("%d rules target %s alone, want 1", ruled, name)
		}
		var perms int
		for _, p := range s.ofType("AWS::Lambda::Permission") {
			if getAtt(p.Properties["FunctionName"]) == fn {
				perms++
				if p.Properties["Principal"] != "events.amazonaws.com" {
					t.Errorf("%s may be invoked by %v", name, p.Properties["Principal"])
				}
			}
		}
		if perms != 1 {
			t.Errorf("%d invoke permissions on %s, want 1 (the rule)", perms, name)
		}
	}
}

// The audit indexer: one runner (reserved concurrency 1, both envs), a
// 70 s timeout, a tick that waits for the running one dropped after a
// minute and a failed run not retried (the next tick runs anyway), and an
// alarm when its lag stayed above 5 minutes for 10 minutes or went
// unreported.
func TestAuditIndexerRunsAloneAndItsLagAlarms(t *testing.T) {
	for _, env := range []string{"dev", "prod"} {
		s := synth(t, env, 30)
		fn := s.functionIDs(t)[indexFunction]
		p := s.resources[fn].Properties
		if p["ReservedConcurrentExecutions"] != float64(1) || p["Timeout"] != float64(70) {
			t.Errorf("%s: %s reserved %v, timeout %v; want 1 and 70 s", env, indexFunction, p["ReservedConcurrentExecutions"], p["Timeout"])
		}
		var async int
		for _, c := range s.ofType("AWS::Lambda::EventInvokeConfig") {
			if c.Properties["FunctionName"] != nil && strings.Contains(fmt.Sprint(c.Properties["FunctionName"]), fn) {
				async++
				if c.Properties["MaximumEventAgeInSeconds"] != float64(60) || c.Properties["MaximumRetryAttempts"] != float64(0) {
					t.Errorf("%s: async invoke config %v", env, c.Properties)
				}
			}
		}
		if async != 1 {
			t.Errorf("%s: %d async invoke configs of %s, want 1", env, async, indexFunction)
		}
		var found int
		for _, a := range s.ofType("AWS::CloudWatch::Alarm") {
			p := a.Properties
			if p["MetricName"] != auditIndexLagMetric {
				continue
			}
			found++
			dims, _ := p["Dimensions"].([]any)
			if p["Namespace"] != metricNamespace || p["Statistic"] != "Minimum" || p["Period"] != float64(300) ||
				p["Threshold"] != float64(300) || p["ComparisonOperator"] != "GreaterThanThreshold" ||
				p["EvaluationPeriods"] != float64(2) || p["DatapointsToAlarm"] != float64(2) ||
				p["TreatMissingData"] != "breaching" || len(dims) != 1 {
				t.Errorf("%s: alarm %v", env, p)
				continue
			}
			if d := dims[0].(map[string]any); d["Name"] != "FunctionName" || getAtt(d["Value"]) != fn {
				t.Errorf("%s: alarm dimension %v, want FunctionName of %s", env, d, fn)
			}
			if acts, _ := p["AlarmActions"].([]any); len(acts) != 1 {
				t.Errorf("%s: alarm actions %v, want the alarm topic", env, acts)
			}
		}
		if found != 1 {
			t.Errorf("%s: %d alarms on %s, want 1", env, found, auditIndexLagMetric)
		}
	}
}

// Any repair by the reconciler in 15 minutes alarms: each one means an
// approval had lost its execution.
func TestReconciliationsAlarm(t *testing.T) {
	s := synth(t, "dev", 30)
	fn := s.functionIDs(t)[reconcileFunction]
	var found int
	for _, a := range s.ofType("AWS::CloudWatch::Alarm") {
		p := a.Properties
		if p["MetricName"] != reconciledMetric {
			continue
		}
		found++
		dims, _ := p["Dimensions"].([]any)
		if p["Namespace"] != metricNamespace || p["Statistic"] != "Sum" || p["Period"] != float64(900) ||
			p["Threshold"] != float64(0) || p["ComparisonOperator"] != "GreaterThanThreshold" || p["EvaluationPeriods"] != float64(1) ||
			p["TreatMissingData"] != "notBreaching" || len(dims) != 1 {
			t.Errorf("alarm %v", p)
			continue
		}
		d := dims[0].(map[string]any)
		if d["Name"] != "FunctionName" || getAtt(d["Value"]) != fn {
			t.Errorf("alarm dimension %v, want FunctionName of %s", d, fn)
		}
		if acts, _ := p["AlarmActions"].([]any); len(acts) != 1 {
			t.Errorf("alarm actions %v, want the alarm topic", acts)
		}
	}
	if found != 1 {
		t.Fatalf("%d alarms on %s, want 1", found, reconciledMetric)
	}
}

func TestTablesAreTheStoreSchema(t *testing.T) {
	for _, env := range []string{"dev", "prod"} {
		s := synth(t, env, 30)
		tables := s.ofType("AWS::DynamoDB::Table")
		if len(tables) != len(schema.Tables()) {
			t.Fatalf("%s: %d tables, schema has %d", env, len(tables), len(schema.Tables()))
		}
		keyID := ""
		for id, k := range s.ofType("AWS::KMS::Key") {
			// Not the audit signing key, nor the audit MAC key.
			if k.Properties["KeyUsage"] != "SIGN_VERIFY" && !strings.Contains(k.Properties["Description"].(string), "audit MAC") {
				keyID = id
			}
		}
		for _, want := range schema.Tables() {
			var got resource
			for _, r := range tables {
				if tableNameOf(r) == want.Name {
					got = r
				}
			}
			p := got.Properties
			keys := func(pk, sk string) string {
				s := pk + " HASH"
				if sk != "" {
					s += ", " + sk + " RANGE"
				}
				return s
			}
			render := func(ks any) string {
				var parts []string
				for _, k := range ks.([]any) {
					m := k.(map[string]any)
					parts = append(parts, fmt.Sprint(m["AttributeName"], " ", m["KeyType"]))
				}
				return strings.Join(parts, ", ")
			}
			if g := render(p["KeySchema"]); g != keys(want.PartitionKey, want.SortKey) {
				t.Errorf("%s %s: keys %s", env, want.Name, g)
			}
			var gotIx, wantIx []string
			for _, ix := range want.Indexes {
				wantIx = append(wantIx, ix.Name+": "+keys(ix.PartitionKey, ix.SortKey)+" "+ix.Projection)
			}
			gsis, _ := p["GlobalSecondaryIndexes"].([]any)
			for _, g := range gsis {
				m := g.(map[string]any)
				gotIx = append(gotIx, fmt.Sprint(m["IndexName"], ": ", render(m["KeySchema"]), " ", m["Projection"].(map[string]any)["ProjectionType"]))
			}
			if !slices.Equal(gotIx, wantIx) {
				t.Errorf("%s %s: indexes\n got  %q\n want %q", env, want.Name, gotIx, wantIx)
			}
			ttl, _ := p["TimeToLiveSpecification"].(map[string]any)
			if want.TTLAttribute != "" && (ttl["AttributeName"] != want.TTLAttribute || ttl["Enabled"] != true) {
				t.Errorf("%s %s: TTL %v, want %s", env, want.Name, ttl, want.TTLAttribute)
			}
			if want.TTLAttribute == "" && ttl != nil {
				t.Errorf("%s %s: TTL %v on a table without one", env, want.Name, ttl)
			}
			sse := p["SSESpecification"].(map[string]any)
			if sse["SSEType"] != "KMS" || getAtt(sse["KMSMasterKeyId"]) != keyID {
				t.Errorf("%s %s: encryption %v, want the stack key", env, want.Name, sse)
			}
			if p["BillingMode"] != "PAY_PER_REQUEST" || fmt.Sprint(p["PointInTimeRecoverySpecification"]) != "map[PointInTimeRecoveryEnabled:true]" {
				t.Errorf("%s %s: billing %v, PITR %v", env, want.Name, p["BillingMode"], p["PointInTimeRecoverySpecification"])
			}
			wantPolicy, wantProtect := "Delete", false
			if env == "prod" {
				wantPolicy, wantProtect = "Retain", true
			}
			if got.DeletionPolicy != wantPolicy || p["DeletionProtectionEnabled"] != wantProtect {
				t.Errorf("%s %s: DeletionPolicy %s, protection %v", env, want.Name, got.DeletionPolicy, p["DeletionProtectionEnabled"])
			}
		}
	}
}

func TestAlarmsCoverAPIFunctionsAndAuthorizer(t *testing.T) {
	s := synth(t, "dev", 30)
	var topic string
	for id := range s.ofType("AWS::SNS::Topic") {
		topic = id
	}
	seen := map[string]bool{}
	for _, a := range s.ofType("AWS::CloudWatch::Alarm") {
		p := a.Properties
		actions, _ := p["AlarmActions"].([]any)
		if len(actions) != 1 || getAtt(actions[0]) != topic {
			t.Errorf("alarm %v does not notify the topic", p["AlarmDescription"])
		}
		dims := map[string]string{}
		for _, d := range p["Dimensions"].([]any) {
			m := d.(map[string]any)
			dims[m["Name"].(string)] = getAtt(m["Value"])
		}
		seen[fmt.Sprint(p["Namespace"], " ", p["MetricName"], " ", dims["FunctionName"]+dims["ApiId"])] = true
	}
	want := []string{"AWS/ApiGateway 5xx " + getAtt(map[string]any{"Ref": firstID(s.ofType("AWS::ApiGatewayV2::Api"))})}
	for _, id := range s.functionIDs(t) {
		want = append(want, "AWS/Lambda Errors "+id, "AWS/Lambda Throttles "+id)
	}
	for _, w := range want {
		if !seen[w] {
			t.Errorf("no alarm on %s", w)
		}
	}
	s.template.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), &map[string]any{
		"AlarmDescription": assertions.Match_StringLikeRegexp(jsii.String("authorizer failed")),
	})
	s.template.HasResourceProperties(jsii.String("AWS::SNS::Topic"), &map[string]any{
		"KmsMasterKeyId": assertions.Match_AnyValue(),
	})
	s.template.HasResourceProperties(jsii.String("AWS::SNS::Subscription"), &map[string]any{
		"Protocol": "email", "Endpoint": "ops@example.com",
	})
}

func firstID(m map[string]resource) string {
	for id := range m {
		return id
	}
	return ""
}

func TestAPIIsThrottledLoggedAndAuthorized(t *testing.T) {
	s := synth(t, "dev", 30)
	s.template.HasResourceProperties(jsii.String("AWS::ApiGatewayV2::Stage"), &map[string]any{
		"StageName":            "$default",
		"DefaultRouteSettings": map[string]any{"ThrottlingRateLimit": 20, "ThrottlingBurstLimit": 40},
		"AccessLogSettings": map[string]any{
			"DestinationArn": assertions.Match_AnyValue(),
			"Format":         assertions.Match_StringLikeRegexp(jsii.String(`"principal":"\$context.authorizer.principal"`)),
		},
	})
	// The access log is every request's one line in prod: valid JSON with
	// what an operator needs to follow a request, nothing it repeats.
	for _, st := range s.ofType("AWS::ApiGatewayV2::Stage") {
		format := st.Properties["AccessLogSettings"].(map[string]any)["Format"].(string)
		var line map[string]any
		if err := json.Unmarshal([]byte(regexp.MustCompile(`\$context\.[A-Za-z.]+`).ReplaceAllString(format, "x")), &line); err != nil {
			t.Fatalf("access log format is not JSON: %v: %s", err, format)
		}
		for _, k := range []string{"requestId", "ip", "route", "status", "ms", "principal", "authError", "integrationError", "ua"} {
			if _, ok := line[k]; !ok {
				t.Errorf("access log format lacks %q: %s", k, format)
			}
		}
		if len(line) != 9 {
			t.Errorf("access log format has %d fields, want 9: %s", len(line), format)
		}
	}
	s.template.HasResourceProperties(jsii.String("AWS::ApiGatewayV2::Authorizer"), &map[string]any{
		"AuthorizerType":                 "REQUEST",
		"EnableSimpleResponses":          true,
		"AuthorizerResultTtlInSeconds":   30,
		"IdentitySource":                 []any{"$request.header.Authorization"},
		"AuthorizerPayloadFormatVersion": "2.0",
	})
	for _, r := range s.ofType("AWS::Logs::LogGroup") {
		if r.Properties["RetentionInDays"] == nil {
			t.Errorf("log group without retention: %v", r.Properties)
		}
	}

	// With the cache off, no identity source: both auth headers reach the
	// authorizer.
	u := synth(t, "dev", 0)
	for _, a := range u.ofType("AWS::ApiGatewayV2::Authorizer") {
		if _, ok := a.Properties["IdentitySource"]; ok || a.Properties["AuthorizerResultTtlInSeconds"] != float64(0) {
			t.Errorf("uncached authorizer: %v", a.Properties)
		}
	}
}

func TestProdRetainsAndProtects(t *testing.T) {
	s := synth(t, "prod", 30)
	if !*s.v.Stack.TerminationProtection() {
		t.Error("prod stack without termination protection")
	}
	for id, r := range s.resources {
		switch r.Type {
		case "AWS::DynamoDB::Table", "AWS::KMS::Key", "AWS::SecretsManager::Secret", "AWS::Logs::LogGroup":
			if r.DeletionPolicy != "Retain" {
				t.Errorf("prod %s %s: DeletionPolicy %q", r.Type, id, r.DeletionPolicy)
			}
		}
		if r.Type == "AWS::Logs::LogGroup" && r.Properties["RetentionInDays"] != float64(365) {
			t.Errorf("prod log group %s: retention %v", id, r.Properties["RetentionInDays"])
		}
	}
}

// TestTracingFollowsConfig: X-Ray active tracing is on in dev and off in
// prod unless context says otherwise, and a function's role holds the
// X-Ray actions exactly when it is traced.
func TestTracingFollowsConfig(t *testing.T) {
	check := func(t *testing.T, s *synthesized, traced bool) {
		t.Helper()
		for name, id := range s.functionIDs(t) {
			mode := fmt.Sprint(s.resources[id].Properties["TracingConfig"])
			if got := mode == "map[Mode:Active]"; got != traced {
				t.Errorf("%s: TracingConfig %s, want traced=%v", name, mode, traced)
			}
			hasXRay := slices.ContainsFunc(s.policyLines(t, id), func(l string) bool { return strings.Contains(l, "xray:PutTraceSegments") })
			if hasXRay != traced {
				t.Errorf("%s: X-Ray permissions %v, want %v", name, hasXRay, traced)
			}
		}
	}
	t.Run("dev_default_on", func(t *testing.T) { check(t, synth(t, "dev", 30), true) })
	t.Run("prod_default_off", func(t *testing.T) { check(t, synth(t, "prod", 30), false) })
	t.Run("prod_context_on", func(t *testing.T) {
		on := true
		check(t, synthConfig(t, Config{Env: "prod", AuthCacheSeconds: 30, Tracing: &on}), true)
	})
}

func TestNagFindsNothingUnsuppressed(t *testing.T) {
	for _, env := range []string{"dev", "prod"} {
		s := synth(t, env, 30)
		rule := assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))
		for _, m := range *s.annotations.FindError(jsii.String("*"), rule) {
			t.Errorf("%s: nag error at %s: %v", env, *m.Id, m.Entry.Data)
		}
		for _, m := range *s.annotations.FindWarning(jsii.String("*"), rule) {
			t.Errorf("%s: nag warning at %s: %v", env, *m.Id, m.Entry.Data)
		}
	}
}

// routeFunctions are the distinct functions of the route table.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestSpecsAreTheCatalog: every function of the catalog has a spec, and
// no spec sizes a function the catalog does not have.
func TestSpecsAreTheCatalog(t *testing.T) {
	var specs []string
	for name := range functionSpecs {
		specs = append(specs, name)
	}
	if want := catalog.Names(); !sameSet(specs, want) {
		t.Errorf("functionSpecs has %v, the catalog %v", specs, want)
	}
}

func TestEveryRouteFunctionHasASpec(t *testing.T) {
	if _, err := dynamoStatements(functionSpecs[digestFunction].Store); err != nil {
		t.Errorf("%s: %v", digestFunction, err)
	}
	for _, r := range httpapi.Routes() {
		spec, ok := functionSpecs[r.Function]
		if !ok {
			t.Errorf("route %s %s: function %s has no spec", r.Method, r.Path, r.Function)
			continue
		}
		if _, err := dynamoStatements(spec.Store); err != nil {
			t.Errorf("%s: %v", r.Function, err)
		}
	}
}

// TestKeyedFunctionsMayReadTheCallersKey: every function behind the
// authorizer re-reads the caller's key (lambdafn.AuthorizerContext)
// unless it judges the key in its own read (httpapi.Route.JudgesKey); the grant
// follows that one fact.
func TestKeyedFunctionsMayReadTheCallersKey(t *testing.T) {
	for _, r := range httpapi.Routes() {
		if r.Auth != httpapi.AuthKey {
			continue
		}
		has := slices.Contains(functionSpecs[r.Function].Store, "GetKey")
		if !r.JudgesKey && !has {
			t.Errorf("%s re-reads the caller's key but its spec lacks GetKey", r.Function)
		}
		if r.JudgesKey && has {
			t.Errorf("%s judges the key in its own read; its spec should not add GetKey", r.Function)
		}
	}
}

func TestConfigRefusesBadContext(t *testing.T) {
	code := func(string) (awslambda.Code, error) { return nil, nil }
	for name, c := range map[string]Config{
		"unknown env":                {Env: "staging", Code: code},
		"cache too long":             {Env: "dev", AuthCacheSeconds: 7200, Code: code},
		"witness retention too long": {Env: "dev", WitnessRetentionDays: 40000, Code: code},
		"negative cache":             {Env: "dev", AuthCacheSeconds: -1, Code: code},
		"bad alarm email":            {Env: "dev", AlarmEmail: "not an address", Code: code},
	} {
		if err := c.validate(); err == nil {
			t.Errorf("%s: accepted %+v", name, c)
		}
	}
	if err := (Config{Env: "prod", Code: code}).validate(); err != nil {
		t.Errorf("valid prod config refused: %v", err)
	}
}

// TestRouteThrottles: the expensive and the rarely legitimate routes have
// throttles of their own, stricter than the stage's default for the rest,
// and each names a route that exists.
func TestRouteThrottles(t *testing.T) {
	for _, env := range []string{"dev", "prod"} {
		s := synth(t, env, 30)
		l := apiLimits[env]
		routes := map[string]bool{}
		for _, r := range s.ofType("AWS::ApiGatewayV2::Route") {
			routes[r.Properties["RouteKey"].(string)] = true
		}
		stages := s.ofType("AWS::ApiGatewayV2::Stage")
		if len(stages) != 1 {
			t.Fatalf("%s: %d stages", env, len(stages))
		}
		var stage resource
		for _, st := range stages {
			stage = st
		}
		def := stage.Properties["DefaultRouteSettings"].(map[string]any)
		if def["ThrottlingRateLimit"] != l.Stage.Rate || def["ThrottlingBurstLimit"] != l.Stage.Burst {
			t.Errorf("%s: default throttle %v", env, def)
		}
		settings, _ := stage.Properties["RouteSettings"].(map[string]any)
		for _, key := range []string{
			"GET /v1/security/mcp/audit/verify", "POST /mcp", "GET /mcp", "DELETE /mcp",
			"POST /v1/integrations/slack/interactions",
			"POST /v1/security/keys", "GET /v1/security/keys", "DELETE /v1/security/keys/{id}",
			"POST /v1/security/keys/{id}/rotate", "PATCH /v1/security/keys/{id}", "$default",
		} {
			rs, ok := settings[key].(map[string]any)
			if !ok {
				t.Errorf("%s: no throttle for %s in %v", env, key, settings)
				continue
			}
			r, b := rs["ThrottlingRateLimit"].(float64), rs["ThrottlingBurstLimit"].(float64)
			if r <= 0 || b < r || r >= l.Stage.Rate || b >= l.Stage.Burst {
				t.Errorf("%s: %s throttle %v/s burst %v, want stricter than the stage's %v", env, key, r, b, l.Stage)
			}
		}
		for key := range settings {
			if !routes[key] {
				t.Errorf("%s: throttle for %s, which is no route", env, key)
			}
		}
		if _, ok := settings["GET /v1/security/mcp/resources/{uri+}"]; ok {
			t.Errorf("%s: the audited read has a route throttle of its own; it should take the default", env)
		}
		// The route keys must exist when the stage deploys.
		var stageID string
		for id := range stages {
			stageID = id
		}
		raw := s.template.ToJSON()
		deps, _ := json.Marshal((*raw)["Resources"].(map[string]any)[stageID].(map[string]any)["DependsOn"])
		for id, r := range s.ofType("AWS::ApiGatewayV2::Route") {
			if !strings.Contains(string(deps), `"`+id+`"`) {
				t.Errorf("%s: stage does not depend on route %v", env, r.Properties["RouteKey"])
			}
		}
	}
}

// TestReservedConcurrency: audit-verify and mcp have reserved concurrency
// (capped, so they cannot take the authorizer's); the authorizer and the
// other functions draw on the shared pool.
func TestReservedConcurrency(t *testing.T) {
	for _, env := range []string{"dev", "prod"} {
		s := synth(t, env, 30)
		for name, id := range s.functionIDs(t) {
			got, ok := s.resources[id].Properties["ReservedConcurrentExecutions"]
			switch name {
			case "audit-verify", "audit-export", "mcp", indexFunction:
				if n, _ := got.(float64); n < 1 || int(n) != apiLimits[env].Reserved[name] {
					t.Errorf("%s: %s reserved concurrency %v, want %d", env, name, got, apiLimits[env].Reserved[name])
				}
			default:
				if ok {
					t.Errorf("%s: %s reserves %v: only the expensive functions do", env, name, got)
				}
			}
		}
	}
}

// The audit witness: an Object Lock bucket in COMPLIANCE mode (1 day in
// dev, 400 in prod), versioned, encrypted, private, TLS only, kept in
// prod; only the digest step writes it and only audit-verify reads it.
// The MAC key wrapping audit epochs rotates; every entry writer and the
// two audit checkers get its id, and only the checkers may decrypt.
func TestAuditWitnessBucketAndMACKey(t *testing.T) {
	for env, days := range map[string]float64{"dev": 1, "prod": 400} {
		s := synth(t, env, 30)
		buckets := s.ofType("AWS::S3::Bucket")
		if len(buckets) != 1 {
			t.Fatalf("%s: %d buckets, want the witness only", env, len(buckets))
		}
		for id, b := range buckets {
			p := b.Properties
			lock, _ := json.Marshal(p["ObjectLockConfiguration"])
			if p["ObjectLockEnabled"] != true || string(lock) != fmt.Sprintf(`{"ObjectLockEnabled":"Enabled","Rule":{"DefaultRetention":{"Days":%v,"Mode":"COMPLIANCE"}}}`, days) {
				t.Errorf("%s: object lock %v %s", env, p["ObjectLockEnabled"], lock)
			}
			if fmt.Sprint(p["VersioningConfiguration"]) != "map[Status:Enabled]" {
				t.Errorf("%s: versioning %v", env, p["VersioningConfiguration"])
			}
			if pab := fmt.Sprint(p["PublicAccessBlockConfiguration"]); pab != "map[BlockPublicAcls:true BlockPublicPolicy:true IgnorePublicAcls:true RestrictPublicBuckets:true]" {
				t.Errorf("%s: public access block %s", env, pab)
			}
			if enc, _ := json.Marshal(p["BucketEncryption"]); !strings.Contains(string(enc), `"SSEAlgorithm":"AES256"`) {
				t.Errorf("%s: encryption %s", env, enc)
			}
			if want := map[string]string{"dev": "Delete", "prod": "Retain"}[env]; b.DeletionPolicy != want {
				t.Errorf("%s: bucket DeletionPolicy %q, want %q", env, b.DeletionPolicy, want)
			}
			var ssl bool
			for _, bp := range s.ofType("AWS::S3::BucketPolicy") {
				doc, _ := json.Marshal(bp.Properties["PolicyDocument"])
				ssl = ssl || getAtt(bp.Properties["Bucket"]) == id && strings.Contains(string(doc), `"aws:SecureTransport":"false"`) && strings.Contains(string(doc), `"Effect":"Deny"`)
			}
			if !ssl {
				t.Errorf("%s: witness bucket does not deny plain HTTP", env)
			}
		}
		s.template.HasResourceProperties(jsii.String("AWS::KMS::Key"), &map[string]any{
			"Description": assertions.Match_StringLikeRegexp(jsii.String("audit MAC")), "EnableKeyRotation": true,
		})
		for name, id := range s.functionIDs(t) {
			env := s.resources[id].Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
			_, mac := env["VSECURE_AUDIT_MAC_KEY_ID"]
			_, bucket := env["VSECURE_WITNESS_BUCKET"]
			checker := name == "audit-digest" || name == "audit-verify" || name == "console-audit"
			// The indexer writes no entry: no MAC key either, nor the
			// functions that use no store.
			if mac != (name != "health" && name != "console-static" && name != indexFunction) || bucket != checker {
				t.Errorf("%s: VSECURE_AUDIT_MAC_KEY_ID set %v, VSECURE_WITNESS_BUCKET set %v", name, mac, bucket)
			}
			for _, l := range s.policyLines(t, id) {
				if strings.Contains(l, "witness-bucket") && !checker || strings.Contains(l, "kms:Decrypt on mac-key") && !checker {
					t.Errorf("%s: %s", name, l)
				}
			}
		}
	}
}
