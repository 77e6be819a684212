package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vsecure/vsecure/internal/awsrec"
	"github.com/vsecure/vsecure/internal/rie"
	"github.com/vsecure/vsecure/internal/sample"
)

// scenario is one operation: a function and its sample event.
type scenario struct {
	key, title, fn, event string
	mutate                func([]byte) []byte
}

var scenarios = []scenario{
	{key: "read", title: "audited secret read (ungated)", fn: "resources-get", event: "resources-get.json"},
	{key: "read-approved", title: "audited secret read (with an approval)", fn: "resources-get", event: "resources-get.json",
		mutate: func(b []byte) []byte {
			s := strings.ReplaceAll(string(b), url.PathEscape(sample.StagingSecret), url.PathEscape(sample.ProductionSecret))
			s = strings.ReplaceAll(s, url.QueryEscape(sample.StagingSecret), url.QueryEscape(sample.ProductionSecret))
			return []byte(strings.ReplaceAll(s, sample.StagingSecret, sample.ProductionSecret))
		}},
	{key: "write", title: "secret write", fn: "resources-put", event: "resources-put.json"},
	{key: "request", title: "approval request", fn: "approvals-request", event: "approvals-request.json"},
	{key: "poll", title: "approval status poll", fn: "approvals-get", event: "approvals-get.json"},
	{key: "decision", title: "decision (approve)", fn: "approvals-respond", event: "approvals-respond.json"},
	{key: "revoke", title: "revocation", fn: "approvals-revoke", event: "approvals-revoke.json"},
	{key: "wf-revoke", title: "workflow revoke at expiry", fn: "workflow-revoke", event: "workflow-revoke.json"},
	{key: "audit", title: "audit query", fn: "audit-list", event: "audit-list.json"},
	{key: "auth", title: "authentication (authorizer, cache miss)", fn: "authorizer", event: "authorizer-valid.json"},
	{key: "key-create", title: "key create", fn: "keys-create", event: "keys-create.json"},
}

// measured is one scenario's numbers.
type measured struct {
	scenario
	status       string  // the answer of the measured invocation
	calls        []call  // DynamoDB and KMS calls of the measured invocation
	kmsCold      int     // KMS calls of the first real invocation (data-key cache empty)
	kmsEpoch     int     // of which kms:GenerateDataKey the warm invocations do not repeat: the audit chain's epoch key, once per container
	durationMs   float64 // REPORT Duration of the measured invocation(s): median of warm ones
	which        string  // "warm" or "first" (a mutating event answers differently when repeated)
	maxMemoryMB  float64 // peak RSS of the bootstrap (VmHWM)
	logBytes     int     // bytes the invocation printed, Lambda's START/END/REPORT lines included
	platformLogB int     // of which START/END/REPORT lines
	requestLogB  int     // of which the per-request "request" line (a quiet function drops it on success)
	cpuMs        float64 // CPU time of the bootstrap per warm invocation (all threads)
}

// runLambdas runs every scenario's function under aws-lambda-rie against
// DynamoDB Local and local-kms through the recording proxies.
func runLambdas(ctx context.Context, root string, warm, indexEntries int, progress func(string)) ([]measured, *indexerRun, error) {
	env, err := sample.EmulatorEnv(os.Getenv)
	if err != nil {
		return nil, nil, err
	}
	rieBin, err := rie.Install(ctx, root)
	if err != nil {
		return nil, nil, err
	}
	bins := filepath.Join(root, ".cache", "cost-functions")
	var pkgs []string
	for _, s := range scenarios {
		if !slices.Contains(pkgs, "./functions/"+s.fn) {
			pkgs = append(pkgs, "./functions/"+s.fn)
		}
	}
	progress("building " + strings.Join(pkgs, " "))
	if err := rie.Build(ctx, root, bins, pkgs...); err != nil {
		return nil, nil, err
	}
	rec := &recorder{}
	ddbURL, stopDDB, err := awsrec.Serve(&ddbProxy{upstream: env["AWS_ENDPOINT_URL_DYNAMODB"], rec: rec})
	if err != nil {
		return nil, nil, err
	}
	defer stopDDB()
	kmsURL, stopKMS, err := awsrec.Serve(kmsProxy(env["AWS_ENDPOINT_URL_KMS"], rec))
	if err != nil {
		return nil, nil, err
	}
	defer stopKMS()

	var out []measured
	for _, sc := range scenarios {
		progress(sc.title)
		// A fresh sample world per scenario, seeded directly (not
		// counted), so each mutating event finds the state it expects.
		senv := maps(env)
		senv["VSECURE_TABLE"] += "-" + sc.key
		senv["VSECURE_AUDIT_TABLE"] += "-" + sc.key
		if err := sample.Deploy(ctx, senv); err != nil {
			return nil, nil, fmt.Errorf("seed for %s: %w", sc.title, err)
		}
		senv["AWS_ENDPOINT_URL_DYNAMODB"], senv["AWS_ENDPOINT_URL_KMS"] = ddbURL, kmsURL
		payload, err := os.ReadFile(filepath.Join(root, "events", sc.event))
		if err != nil {
			return nil, nil, err
		}
		if sc.mutate != nil {
			payload = sc.mutate(payload)
		}
		m, err := measure(ctx, rieBin, filepath.Join(bins, sc.fn), senv, payload, warm, rec)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", sc.title, err)
		}
		m.scenario = sc
		out = append(out, m)
	}
	progress(fmt.Sprintf("audit indexer over %d entries", indexEntries))
	ix, err := measureIndexer(ctx, env, ddbURL, kmsURL, rec, indexEntries)
	if err != nil {
		return nil, nil, fmt.Errorf("audit indexer: %w", err)
	}
	return out, ix, nil
}

func maps(m map[string]string) map[string]string {
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// measure: one invoke the runtime refuses (the container's init), the
// first real invoke, then warm repeats. The calls and log bytes reported
// are of the last warm invoke if it answered as the first did, else of
// the first (a decision answers 409 once it is decided).
func measure(ctx context.Context, rieBin, bootstrap string, env map[string]string, payload []byte, warm int, rec *recorder) (measured, error) {
	fenv := append(sample.EnvList(env), "AWS_LAMBDA_FUNCTION_NAME=vsecure-"+filepath.Base(bootstrap))
	r, err := rie.Start(ctx, rieBin, bootstrap, fenv)
	if err != nil {
		return measured{}, err
	}
	defer r.Close()
	if _, err := r.Invoke(ctx, []byte(`"cold-start-probe"`)); err != nil {
		return measured{}, err
	}
	if _, err := r.WaitReports(ctx, 1); err != nil {
		return measured{}, err
	}
	rec.take()
	cpu0 := cpuTime(bootstrap)
	type inv struct {
		status string
		calls  []call
		log    string
	}
	var invs []inv
	for i := 0; i <= warm; i++ {
		before := len(r.Output())
		resp, err := r.Invoke(ctx, payload)
		if err != nil {
			return measured{}, err
		}
		if _, err := r.WaitReports(ctx, i+2); err != nil {
			return measured{}, err
		}
		invs = append(invs, inv{status: answer(resp), calls: rec.take(), log: r.Output()[before:]})
	}
	cpu := cpuTime(bootstrap) - cpu0
	reps := r.Reports()[1:]
	m := measured{status: invs[0].status, which: "first"}
	pick := invs[0]
	ds := []time.Duration{reps[0].Duration}
	if last := invs[len(invs)-1]; warm > 0 && last.status == invs[0].status {
		pick, m.which, ds = last, "warm", nil
		for i, rep := range reps[1:] {
			if invs[i+1].status == invs[0].status {
				ds = append(ds, rep.Duration)
			}
		}
	}
	warmGen := 0
	for _, c := range pick.calls {
		if c.op == "kms:GenerateDataKey" {
			warmGen++
		}
	}
	for _, c := range invs[0].calls {
		if strings.HasPrefix(c.op, "kms:") {
			m.kmsCold++
		}
		if c.op == "kms:GenerateDataKey" {
			m.kmsEpoch++
		}
	}
	if m.which == "first" {
		m.kmsEpoch = 0
	} else {
		m.kmsEpoch = max(m.kmsEpoch-warmGen, 0)
	}
	m.calls = pick.calls
	slices.Sort(ds)
	m.durationMs = float64(ds[len(ds)/2]) / float64(time.Millisecond)
	m.logBytes, m.platformLogB, m.requestLogB = logBytes(pick.log)
	// The first invocation pays one-time work (connections, caches):
	// CPU per invocation is over all of them, an upper bound for warm.
	m.cpuMs = float64(cpu) / float64(time.Millisecond) / float64(warm+1)
	m.maxMemoryMB = peakRSS(bootstrap)
	return m, nil
}

// answer is the status of a function's response: the HTTP status of a
// proxy response, or the authorizer's verdict.
func answer(resp []byte) string {
	var v struct {
		StatusCode   int    `json:"statusCode"`
		IsAuthorized *bool  `json:"isAuthorized"`
		ErrorType    string `json:"errorType"`
	}
	_ = json.Unmarshal(resp, &v)
	switch {
	case v.StatusCode != 0:
		return strconv.Itoa(v.StatusCode)
	case v.IsAuthorized != nil:
		return "authorized=" + strconv.FormatBool(*v.IsAuthorized)
	case v.ErrorType != "":
		return "error " + v.ErrorType
	}
	return "ok"
}

// logBytes counts what an invocation wrote to its log stream: the
// function's lines and Lambda's START/END/REPORT lines (the emulator
// prints those like Lambda; its own diagnostics, which Lambda does not
// ship, are left out), and of the function's lines its per-request one.
func logBytes(out string) (all, platform, request int) {
	for _, line := range strings.SplitAfter(out, "\n") {
		t := strings.TrimSpace(line)
		switch {
		case t == "":
		case strings.HasPrefix(t, "START RequestId:"), strings.HasPrefix(t, "END RequestId:"), strings.HasPrefix(t, "REPORT RequestId:"):
			all += len(line)
			platform += len(line)
		case strings.HasPrefix(t, "{"):
			all += len(line)
			var m struct {
				Message string `json:"message"`
				Msg     string `json:"msg"`
				Status  int    `json:"status"`
			}
			if json.Unmarshal([]byte(t), &m) == nil && (m.Message == "request" || m.Msg == "request") && m.Status < 500 {
				request += len(line)
			}
		}
	}
	return all, platform, request
}

// cpuTime is the on-CPU time of every thread of the running process whose
// executable is bootstrap (/proc/<pid>/task/*/schedstat, nanoseconds).
func cpuTime(bootstrap string) time.Duration {
	pid := pidOf(bootstrap)
	if pid == "" {
		return 0
	}
	stats, _ := filepath.Glob(filepath.Join("/proc", pid, "task", "*", "schedstat"))
	var ns int64
	for _, st := range stats {
		b, err := os.ReadFile(st)
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) > 0 {
			n, _ := strconv.ParseInt(f[0], 10, 64)
			ns += n
		}
	}
	return time.Duration(ns)
}

// pidOf is the pid of the running process whose executable is bootstrap.
func pidOf(bootstrap string) string {
	abs, _ := filepath.Abs(bootstrap)
	procs, _ := filepath.Glob("/proc/[0-9]*/exe")
	for _, p := range procs {
		if exe, err := os.Readlink(p); err == nil && exe == abs {
			return filepath.Base(filepath.Dir(p))
		}
	}
	return ""
}

// peakRSS is the VmHWM of the running process whose executable is
// bootstrap: the closest local figure to Lambda's "Max Memory Used" (which
// also counts the runtime's own few MB).
func peakRSS(bootstrap string) float64 {
	pid := pidOf(bootstrap)
	if pid == "" {
		return 0
	}
	b, err := os.ReadFile(filepath.Join("/proc", pid, "status"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return math.Round(kb/1024*10) / 10
		}
	}
	return 0
}
