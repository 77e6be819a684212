package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/vsecure/vsecure/shared/lambdafn"
)

type model struct {
	ms          []measured
	ix          *indexerRun
	stacks      map[string]*stack
	transitions int
	path        []string
	access      map[string]string
}

func (m model) get(key string) measured {
	for _, x := range m.ms {
		if x.key == key {
			return x
		}
	}
	panic("no scenario " + key)
}

// sampleAccessValues are the values API Gateway would put in the access
// log line of the sample read.
func sampleAccessValues(root string) (map[string]string, error) {
	b, err := os.ReadFile(filepath.Join(root, "events", "resources-get.json"))
	if err != nil {
		return nil, err
	}
	var ev struct {
		RequestContext struct {
			RequestID  string                               `json:"requestId"`
			RouteKey   string                               `json:"routeKey"`
			Time       string                               `json:"time"`
			HTTP       struct{ SourceIP, UserAgent string } `json:"http"`
			Authorizer struct {
				Lambda map[string]string `json:"lambda"`
			} `json:"authorizer"`
		} `json:"requestContext"`
	}
	if err := json.Unmarshal(b, &ev); err != nil {
		return nil, err
	}
	rc := ev.RequestContext
	return map[string]string{
		"$context.requestId": rc.RequestID, "$context.identity.sourceIp": rc.HTTP.SourceIP,
		"$context.requestTime": rc.Time, "$context.routeKey": rc.RouteKey, "$context.status": "200",
		"$context.responseLatency": "25", "$context.authorizer.principal": rc.Authorizer.Lambda["principal"],
		"$context.identity.userAgent": rc.HTTP.UserAgent,
	}, nil
}

// units sums a units map by kind ("RRU"/"WRU").
func units(m map[string]float64, kind string) float64 {
	var n float64
	for k, v := range m {
		if strings.HasPrefix(k, kind+" ") {
			n += v
		}
	}
	return n
}

type opTotals struct {
	ddbCalls, kms int
	entries       int // audit entries written
	local, billed map[string]float64
	approx        bool
	errs          []string
}

func totals(x measured) opTotals {
	t := opTotals{local: map[string]float64{}, billed: map[string]float64{}}
	for _, c := range x.calls {
		if strings.HasPrefix(c.op, "kms:") {
			t.kms++
			continue
		}
		t.ddbCalls++
		t.entries += c.entries
		for k, v := range c.local {
			t.local[k] += v
		}
		for k, v := range c.billed {
			t.billed[k] += v
		}
		t.approx = t.approx || c.approx
		if c.errTyp != "" {
			t.errs = append(t.errs, c.op+": "+c.errTyp)
		}
	}
	return t
}

// shortTable names a table by its role, not its per-run name.
func shortTable(k string) string {
	kind, name, _ := strings.Cut(k, " ")
	table, index, _ := strings.Cut(name, "/")
	role := "state"
	if strings.Contains(table, "-audit-") {
		role = "audit"
	}
	if index != "" {
		return kind + " " + role + "/" + index
	}
	return kind + " " + role
}

func detail(m map[string]float64) string {
	agg := map[string]float64{}
	for k, v := range m {
		agg[shortTable(k)] += v
	}
	var parts []string
	for _, k := range sortedKeys(agg) {
		parts = append(parts, fmt.Sprintf("%s %g", k, agg[k]))
	}
	return strings.Join(parts, ", ")
}

func ops(x measured) string {
	var l []string
	for _, c := range x.calls {
		l = append(l, c.op)
	}
	return strings.Join(l, " + ")
}

// fnCost is one invocation's Lambda cost: request plus billed GB-s.
func (m model) fnCost(x measured) (gbs, usd float64) {
	mem := float64(m.stacks["prod"].memoryMB[x.fn])
	gbs = mem / 1024 * math.Ceil(x.durationMs) / 1000
	return gbs, priceLambdaPerRequest + gbs*priceLambdaPerGBs
}

// logCost is one invocation's log ingestion in the prod stack (which drops
// Lambda's platform lines when its SystemLogLevel says so).
func (m model) logBytes(x measured, env string) int {
	n := x.logBytes
	if m.stacks[env].dropsPlatformLines(x.fn) {
		n -= x.platformLogB
	}
	if m.stacks[env].quietReqs[x.fn] {
		n -= x.requestLogB
	}
	return n
}

// xray is the share of an operation's requests X-Ray records in env: the
// default sampling's, if the function is traced at all.
func (m model) xray(x measured, env string) float64 {
	if m.stacks[env].traced[x.fn] {
		return xraySampled
	}
	return 0
}

func xrayLabel(share float64) string {
	if share == 0 {
		return "X-Ray: tracing off (infra context tracing)"
	}
	return fmt.Sprintf("X-Ray: %.0f %% of requests traced", share*100)
}

const gb = 1e9 // CloudWatch bills decimal GB; 1e9 rounds the cost up against 2^30

func report(w io.Writer, m model) {
	p := func(f string, a ...any) { fmt.Fprintf(w, f, a...) }
	p("Measured by `make cost`: each operation is its real function (`functions/<name>`) invoked with its sample\n")
	p("event (`events/`) under aws-lambda-rie, against DynamoDB Local and local-kms seeded with the sample world, through\n")
	p("proxies that record every DynamoDB and KMS request. \"Local\" is the ConsumedCapacity DynamoDB Local reports;\n")
	p("\"billed\" applies AWS's published rules to the items before and after each request (1 WRU per KB, 2 in a transaction;\n")
	p("each secondary-index write 1 WRU per KB of the projected item; 1 RRU per 4 KB strongly consistent, 0.5 eventually\n")
	p("consistent, 2 transactional; a query rounds the sum of what it read). Every price below uses the billed units.\n")
	p("Operations are measured warm (a second identical invocation) unless their event only succeeds once (marked *first*:\n")
	p("the first real invocation after the container's init).\n\n")

	p("### DynamoDB and KMS per operation\n\n")
	p("| operation | function | answer | requests | RRU local | WRU local | RRU billed | WRU billed | billed by table/index | KMS (first → measured) |\n")
	p("| --- | --- | --- | --- | ---: | ---: | ---: | ---: | --- | ---: |\n")
	for _, x := range m.ms {
		t := totals(x)
		approx := ""
		if t.approx {
			approx = " (≈: filtered or projected query)"
		}
		errs := ""
		if len(t.errs) > 0 {
			errs = " (" + strings.Join(t.errs, "; ") + ")"
		}
		p("| %s | %s | %s (%s) | %s%s | %g | %g | %g | %g | %s%s | %d → %d |\n", x.title, x.fn, x.status, x.which, ops(x), errs,
			units(t.local, "RRU"), units(t.local, "WRU"), units(t.billed, "RRU"), units(t.billed, "WRU"), detail(t.billed), approx, x.kmsCold, t.kms)
	}

	p("\n### Functions (aws-lambda-rie, host build of the deployed code)\n\n")
	p("Duration: the emulator's REPORT Duration (median of the warm invocations; DynamoDB Local's and local-kms's latency\n")
	p("included, which is slower than the AWS services), billed rounded up to 1 ms. Memory: peak RSS of the bootstrap\n")
	p("process (Lambda's \"Max Memory Used\" adds the runtime's few MB). CPU: the bootstrap's on-CPU time per invocation\n")
	p("(all threads, `/proc/<pid>/task/*/schedstat`, averaged over the first and the warm invocations) on this host's full\n")
	p("core; Lambda gives a function memory/1769 of a vCPU, so that part of the duration stretches by 1769/memory. Log bytes:\n")
	p("what one invocation writes at the default log level, Lambda's START/END/REPORT lines and the per-request line included\n")
	p("(the prod stack drops the first with SystemLogLevel WARN, and the functions drop the second unless a request fails\n")
	p("with a 5xx or is slow: VSECURE_REQUEST_LOG).\n\n")
	p("| function (operation) | configured MB | max memory used MB | CPU ms | duration ms | billed ms | GB-s | $ per million invocations | log bytes (START/END/REPORT; request line) |\n")
	p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, x := range m.ms {
		gbs, usd := m.fnCost(x)
		p("| %s (%s) | %d | %.1f | %.2f | %.2f | %.0f | %.6f | %.2f | %d (%d; %d) |\n", x.fn, x.key, m.stacks["prod"].memoryMB[x.fn], x.maxMemoryMB,
			x.cpuMs, x.durationMs, math.Ceil(x.durationMs), gbs, usd*1e6, x.logBytes, x.platformLogB, x.requestLogB)
	}

	m.indexerTable(w)

	prod := m.stacks["prod"]
	access := prod.accessLogBytes(m.access)
	for _, env := range []string{"prod", "dev"} {
		m.readTable(w, env, access)
	}
	m.approvalTable(w, access)
	m.fixedTable(w)
}

type line struct {
	name string
	usd  float64 // per request
}

func (m model) readLines(key, env string, access int) []line {
	x, auth := m.get(key), m.get("auth")
	t, at := totals(x), totals(auth)
	miss := 1 - authorizerCacheHit
	_, fn := m.fnCost(x)
	_, afn := m.fnCost(auth)
	// A container's first request also opens its audit chain's epoch
	// (one GenerateDataKey), which the warm ones never repeat: that call
	// is per container lifetime, not per data-key cache miss.
	kms := float64(x.kmsCold-x.kmsEpoch)*(1-dataKeyCacheHit) + float64(t.kms)*dataKeyCacheHit
	if x.which == "first" {
		kms = float64(x.kmsCold) * (1 - dataKeyCacheHit)
	}
	epoch := ""
	if x.kmsEpoch > 0 {
		epoch = fmt.Sprintf(" (+%d per container: the audit chain's epoch key)", x.kmsEpoch)
	}
	logs := float64(m.logBytes(x, env)+access) + miss*float64(m.logBytes(auth, env))
	return []line{
		{"API Gateway HTTP API", priceHTTPAPIPerRequest},
		{fmt.Sprintf("authorizer at %.0f %% cache misses: Lambda", miss*100), miss * afn},
		{fmt.Sprintf("authorizer at %.0f %% cache misses: DynamoDB %g RRU", miss*100, units(at.billed, "RRU")), miss * units(at.billed, "RRU") * priceRRU},
		{fmt.Sprintf("`%s` Lambda: request + %d MB × %.0f ms", x.fn, m.stacks[env].memoryMB[x.fn], math.Ceil(x.durationMs)), fn},
		{fmt.Sprintf("DynamoDB reads: %g RRU billed", units(t.billed, "RRU")), units(t.billed, "RRU") * priceRRU},
		{fmt.Sprintf("DynamoDB writes: %g WRU billed", units(t.billed, "WRU")), units(t.billed, "WRU") * priceWRU},
		{fmt.Sprintf("KMS: %.2f requests at a %.0f %% data-key cache hit rate%s", kms, dataKeyCacheHit*100, epoch), kms * priceKMSPerRequest},
		{fmt.Sprintf("CloudWatch Logs: %.0f bytes (function %d + access log %d + authorizer share)", logs, m.logBytes(x, env), access), logs / gb * priceLogsPerGB},
		{xrayLabel(m.xray(x, env)), m.xray(x, env) * priceXRayPerTrace},
		{m.indexerLabel(), m.indexerPerEntry()},
	}
}

// indexerPerEntry is what indexing one audit entry costs: the billed
// units of the passes that indexed the seeded workload, per entry. Their
// Lambda time is inside the scheduled run's fixed duration (fixed table).
func (m model) indexerPerEntry() float64 {
	return m.ix.perEntry("WRU")*priceWRU + m.ix.perEntry("RRU")*priceRRU
}

func (m model) indexerLabel() string {
	return fmt.Sprintf("audit indexer, amortized over %d entries: %.2f WRU + %.2f RRU per entry (Lambda time: fixed, below)",
		m.ix.entries, m.ix.perEntry("WRU"), m.ix.perEntry("RRU"))
}

func (m model) readTable(w io.Writer, env string, access int) {
	p := func(f string, a ...any) { fmt.Fprintf(w, f, a...) }
	p("\n### Per million audited secret reads (%s stack)\n\n", env)
	p("| per million | ungated read | read with an approval |\n| --- | ---: | ---: |\n")
	a, b := m.readLines("read", env, access), m.readLines("read-approved", env, access)
	var ta, tb float64
	for i := range a {
		p("| %s | %.3f | %.3f |\n", a[i].name, a[i].usd*1e6, b[i].usd*1e6)
		ta += a[i].usd
		tb += b[i].usd
	}
	p("| **total** | **%.2f** | **%.2f** |\n", ta*1e6, tb*1e6)
	p("\n(The middle column's labels describe the ungated read; its numbers are the approved read's own.)\n")
}

// apiCall is the cost of one API request of an operation: gateway,
// authorizer share, its function, DynamoDB, KMS, logs, tracing.
func (m model) apiCall(key string, access int, viaAPI bool) float64 {
	x, auth := m.get(key), m.get("auth")
	t, at := totals(x), totals(auth)
	_, fn := m.fnCost(x)
	usd := fn + units(t.billed, "RRU")*priceRRU + units(t.billed, "WRU")*priceWRU + float64(t.kms)*priceKMSPerRequest +
		float64(m.logBytes(x, "prod"))/gb*priceLogsPerGB
	if viaAPI {
		miss := 1 - authorizerCacheHit
		_, afn := m.fnCost(auth)
		usd += priceHTTPAPIPerRequest + m.xray(x, "prod")*priceXRayPerTrace + float64(access)/gb*priceLogsPerGB +
			miss*(afn+units(at.billed, "RRU")*priceRRU+float64(m.logBytes(auth, "prod"))/gb*priceLogsPerGB)
	}
	return usd
}

// flowEntries is the audit entries one approval writes (request, polls,
// decision, workflow revoke), as measured.
func (m model) flowEntries() int {
	return totals(m.get("request")).entries + approvalStatusPolls*totals(m.get("poll")).entries +
		totals(m.get("decision")).entries + totals(m.get("wf-revoke")).entries
}

func (m model) approvalTable(w io.Writer, access int) {
	p := func(f string, a ...any) { fmt.Fprintf(w, f, a...) }
	p("\n### Per thousand approvals (prod stack)\n\n")
	p("| per 1,000 approvals | $ |\n| --- | ---: |\n")
	rows := []struct {
		name string
		n    float64
		usd  float64
	}{
		{"approval request (`approvals-request`), everything counted", 1, m.apiCall("request", access, true)},
		{fmt.Sprintf("status polls (`approvals-get`) × %d", approvalStatusPolls), approvalStatusPolls, m.apiCall("poll", access, true)},
		{"decision (`approvals-respond`)", 1, m.apiCall("decision", access, true)},
		{"revoke at expiry (`workflow-revoke`, called by the workflow)", 1, m.apiCall("wf-revoke", access, false)},
		{fmt.Sprintf("audit indexer: %d entries of the flow, amortized", m.flowEntries()), float64(m.flowEntries()), m.indexerPerEntry()},
		{fmt.Sprintf("Step Functions: %d transitions (%s)", m.transitions, strings.Join(m.path, " → ")), 1, float64(m.transitions) * priceSFNPerTransition},
	}
	var total float64
	for _, r := range rows {
		p("| %s | %.4f |\n", r.name, r.n*r.usd*1000)
		total += r.n * r.usd * 1000
	}
	p("| **total** | **%.3f** |\n", total)
	p("\nNot measured: `workflow-notify`'s Slack post (no Slack emulator); at 128 MB and ~300 ms it would add ≈ $0.0007 per thousand.\n")
}

func (m model) fixedTable(w io.Writer) {
	p := func(f string, a ...any) { fmt.Fprintf(w, f, a...) }
	p("\n### Fixed monthly cost (synthesized templates, idle)\n\n")
	p("| resource | dev count | prod count | $ per month each | dev $ | prod $ |\n| --- | ---: | ---: | ---: | ---: | ---: |\n")
	rows := []struct {
		typ, name string
		price     float64
	}{
		{"AWS::CloudWatch::Alarm", "CloudWatch alarms (standard)", priceAlarmMonth},
		{"AWS::KMS::Key", "KMS keys", priceKMSKeyMonth},
		{"AWS::SecretsManager::Secret", "Secrets Manager secrets", priceSecretMonth},
		{"AWS::S3::Bucket", "S3 buckets (storage only)", 0},
		{"AWS::StepFunctions::StateMachine", "state machines (per transition only)", 0},
		{"AWS::Logs::LogGroup", "log groups (storage only, $0.03 per GB-month)", 0},
		{"AWS::DynamoDB::Table", "DynamoDB tables (storage only, $0.25 per GB-month)", 0},
		{"AWS::ApiGatewayV2::Api", "HTTP APIs (per request only)", 0},
		{"AWS::Lambda::Function", "Lambda functions (per request only)", 0},
	}
	var td, tp float64
	d, pr := m.stacks["dev"], m.stacks["prod"]
	for _, r := range rows {
		p("| %s | %d | %d | %.2f | %.2f | %.2f |\n", r.name, d.counts[r.typ], pr.counts[r.typ], r.price,
			float64(d.counts[r.typ])*r.price, float64(pr.counts[r.typ])*r.price)
		td += float64(d.counts[r.typ]) * r.price
		tp += float64(pr.counts[r.typ]) * r.price
	}
	for _, r := range m.indexerFixed() {
		p("| %s | | | | %.2f | %.2f |\n", r.name, r.dev, r.prod)
		td += r.dev
		tp += r.prod
	}
	p("| **total** | | | | **%.2f** | **%.2f** |\n", td, tp)
	p("\nNot counted: the other scheduled functions' runs (`audit-digest`, `workflow-reconcile`; short, a few a hour),\n")
	p("archive PUT/LIST requests (see Storage), and EventBridge scheduled rules (no charge).\n")
}

type fixedRow struct {
	name      string
	dev, prod float64
}

// indexerFixed is the monthly cost of the scheduled audit indexer that no
// traffic changes: a run a minute, which on an idle table ends after its
// first pass that indexes nothing (auditindex.Loop.UntilIdle): one idle pass
// reading the watermark, the claim and the 16 shards' tails (measured).
func (m model) indexerFixed() []fixedRow {
	per := func(env string) (lambda, ddb, logs float64) {
		st := m.stacks[env]
		gbs := float64(st.memoryMB[lambdafn.IndexFunction]) / 1024 * indexIdleRunSeconds
		lambda = indexRunsPerMonth * (priceLambdaPerRequest + gbs*priceLambdaPerGBs)
		idle := units(m.ix.emptyIdle, "RRU")*priceRRU + units(m.ix.emptyIdle, "WRU")*priceWRU
		ddb = indexRunsPerMonth * idle
		logs = indexRunsPerMonth * indexLogBytesPerRun / gb * priceLogsPerGB
		return lambda, ddb, logs
	}
	dl, dd, dg := per("dev")
	pl, pd, pg := per("prod")
	return []fixedRow{
		{fmt.Sprintf("audit-index runs on an idle table: %d × (request + %d MB × %d s, bound: it ends at its first empty pass)",
			indexRunsPerMonth, m.stacks["prod"].memoryMB[lambdafn.IndexFunction], indexIdleRunSeconds), dl, pl},
		{fmt.Sprintf("audit-index idle passes: %d × %g RRU (watermark, claim, 16 shard tails; measured)",
			indexRunsPerMonth, units(m.ix.emptyIdle, "RRU")), dd, pd},
		{fmt.Sprintf("audit-index logs: ≤ %d B per run (not measured)", indexLogBytesPerRun), dg, pg},
	}
}

// indexerTable shows the audit indexer's measured run and the WRU an
// audit entry costs, hot path and indexer together (issue 13 item 5: ≤ 3).
func (m model) indexerTable(w io.Writer) {
	p := func(f string, a ...any) { fmt.Fprintf(w, f, a...) }
	r := m.ix
	hot := totals(m.get("read"))
	p("\n### Audit indexer (store's RecordRead + IndexAudit through the recording proxy)\n\n")
	p("%d audit entries (%d successful reads by %d agents over %d secrets, one write per %d entries, one refusal per %d)\n",
		r.entries, r.reads, indexAgents, indexSecrets, writeEvery, refuseEvery)
	p("written at %.0f per second through the store's real `RecordRead`/`AppendAudit` (sealed with the KMS MAC key), while\n", indexRate)
	p("the store's real `IndexAudit` runs a simulated second apart with its default timing (10 s settle; a pass waits for 1,000\n")
	p("entries or a 120 s old entry), as the `audit-index` loop does. Passes that indexed nothing are the loop's idle seconds\n")
	p("(fixed cost, below). Measured on main's indexer (`shared/store/dynamo/index.go`).\n\n")
	p("| measured | value |\n| --- | ---: |\n")
	p("| passes that indexed / idle calls | %d / %d |\n", r.passes, r.idle)
	p("| entries per pass | %.0f |\n", float64(r.entries)/float64(max(r.passes, 1)))
	p("| segments written (per pass) | %d (%.0f) |\n", r.segments, float64(r.segments)/float64(max(r.passes, 1)))
	p("| requests of the passes | %s |\n", opsSummary(r.passOps))
	p("| passes' billed units | %s |\n", detail(r.pass))
	p("| one idle call on a caught-up table | %s |\n", detail(r.emptyIdle))
	p("| hot path WRU per entry (seeded workload; the read operation above: %g) | %.2f |\n", units(hot.billed, "WRU"), units(r.hot, "WRU")/float64(r.entries))
	p("| indexer WRU per entry | %.2f |\n", r.perEntry("WRU"))
	p("| indexer RRU per entry | %.2f |\n", r.perEntry("RRU"))
	p("| **WRU per audited read, indexes included (hot path + indexer)** | **%.2f** |\n", units(hot.billed, "WRU")+r.perEntry("WRU"))
}
