// Command vsecure-soak is `make soak`: it drives a real `vsecure dev`
// process on loopback with concurrent agents, approvers and an admin,
// SIGKILLs and restarts it mid-run, optionally puts a fault-injecting proxy
// between it and DynamoDB Local, and then proves the invariants of package
// invariant from the audit log, the final state and the server's own logs.
// It stops by itself after -duration or -max-requests and exits 1 on any
// violation.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vsecure/vsecure/cmd/vsecure-soak/invariant"
)

type config struct {
	bin, store, out        string
	dur                    time.Duration
	max                    int64
	kills, agents, apprs   int
	faultRate              float64
	seed                   uint64
	dynamoEndpoint, prefix string
}

func main() {
	var c config
	flag.StringVar(&c.bin, "bin", "", "the vsecure binary to run (go build -o … ./cmd/vsecure)")
	flag.StringVar(&c.store, "store", "embedded", "embedded or dynamodb (DynamoDB Local at AWS_ENDPOINT_URL_DYNAMODB)")
	flag.StringVar(&c.out, "out", ".soak", "directory for the server's log and data")
	flag.DurationVar(&c.dur, "duration", 60*time.Second, "how long the workload runs (env SOAK_DURATION)")
	flag.Int64Var(&c.max, "max-requests", 400_000, "stop the workload after this many requests")
	flag.IntVar(&c.kills, "kills", 3, "SIGKILLs (and restarts) of the server during the run")
	flag.IntVar(&c.agents, "agents", 8, "agent clients")
	flag.IntVar(&c.apprs, "approvers", 4, "approver clients")
	flag.Float64Var(&c.faultRate, "faults", 0, "share of DynamoDB calls to fault (dynamodb only)")
	flag.Uint64Var(&c.seed, "seed", 1, "seed of the workload's and the fault proxy's RNGs")
	flag.Parse()
	if d := os.Getenv("SOAK_DURATION"); d != "" {
		v, err := time.ParseDuration(d)
		if err != nil {
			fmt.Fprintln(os.Stderr, "vsecure-soak: SOAK_DURATION:", err)
			os.Exit(2)
		}
		c.dur = v
	}
	c.dynamoEndpoint = os.Getenv("AWS_ENDPOINT_URL_DYNAMODB")
	if c.bin == "" || (c.store == "dynamodb" && c.dynamoEndpoint == "") {
		fmt.Fprintln(os.Stderr, "vsecure-soak: -bin is required; -store dynamodb needs AWS_ENDPOINT_URL_DYNAMODB (run under .ci/emulators.sh run)")
		os.Exit(2)
	}
	ok, err := run(c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vsecure-soak:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func run(c config) (bool, error) {
	ctx := context.Background()
	dir := filepath.Join(c.out, c.store)
	if err := os.RemoveAll(dir); err != nil {
		return false, err
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return false, err
	}
	logf, err := os.OpenFile(filepath.Join(dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return false, err
	}
	defer logf.Close()
	addr, err := freeAddr()
	if err != nil {
		return false, err
	}
	rec := &records{}
	adminKey := cred{"vsk_soak" + randHex(24), "admin"}
	rec.secret("admin key", adminKey.secret)
	srv := &server{
		bin: c.bin, addr: addr, log: logf,
		args: []string{"dev", "--addr", addr, "--data", data, "--store", c.store},
		env: append(os.Environ(), "VSECURE_ADMIN_KEY="+adminKey.secret, "VSECURE_RATE_LIMIT=off",
			"VSECURE_LOG_LEVEL=debug", "VSECURE_MASTER_KEY="),
	}
	var proxy *faultProxy
	tables := [2]string{}
	if c.store == "dynamodb" {
		proxy = newFaultProxy(c.dynamoEndpoint, c.seed)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return false, err
		}
		ps := &http.Server{Handler: proxy}
		go func() { _ = ps.Serve(ln) }()
		defer ps.Close()
		suffix := randHex(4)
		tables = [2]string{"soak-state-" + suffix, "soak-audit-" + suffix}
		srv.env = append(srv.env, "AWS_ENDPOINT_URL_DYNAMODB=http://"+ln.Addr().String(),
			"VSECURE_TABLE="+tables[0], "VSECURE_AUDIT_TABLE="+tables[1], "VSECURE_CREATE_TABLES=true")
	}
	if err := srv.start(ctx); err != nil {
		return false, err
	}
	base := "http://" + addr
	w := &world{
		rec: rec, max: c.max, admin: newCaller(base, "127.0.0.2", rec), adminKey: adminKey,
		agents: map[string]*agent{}, requester: map[string]string{}, tokens: map[string]token{},
	}
	if err := w.setup(c.agents, c.apprs); err != nil {
		srv.stop()
		return false, err
	}
	probers := make([]*caller, 20)
	for i := range probers {
		probers[i] = newCaller(base, fmt.Sprintf("127.0.0.%d", 100+i), rec)
	}

	fmt.Printf("soak (%s): %d agents, %d approvers, 1 admin for %s or %d requests; %d SIGKILLs", c.store, c.agents, c.apprs, c.dur, c.max, c.kills)
	if proxy != nil {
		fmt.Printf("; %.0f%% of DynamoDB calls faulted", c.faultRate*100)
		proxy.setRate(c.faultRate)
	}
	fmt.Println()
	start := time.Now()
	var st adminStats
	done := make(chan struct{})
	var actors []func()
	for i, name := range w.names {
		actors = append(actors, func() { w.runAgent(w.agents[name], c.seed*1000+uint64(i)) })
	}
	for i := range w.apprs {
		actors = append(actors, func() { w.runApprover(i, c.seed*2000+uint64(i)) })
	}
	actors = append(actors, func() { w.runAdmin(c.seed*3000, &st) }, func() { w.runProber(probers) })
	left := len(actors)
	finished := make(chan struct{}, left)
	for _, f := range actors {
		go func() { f(); finished <- struct{}{} }()
	}
	go func() {
		for range left {
			<-finished
		}
		close(done)
	}()
	// The kills are spread evenly over the run.
	var downtime time.Duration
	for k := 1; k <= c.kills; k++ {
		at := start.Add(c.dur * time.Duration(k) / time.Duration(c.kills+1))
		select {
		case <-done:
		case <-time.After(time.Until(at)):
		}
		if w.stopped() {
			break
		}
		t := time.Now()
		srv.kill()
		fmt.Fprintf(logf, "soak: SIGKILL %d at %s\n", k, t.Format(time.RFC3339Nano))
		if err := srv.start(ctx); err != nil {
			w.stop.Store(true)
			<-done
			return false, fmt.Errorf("restart %d: %w", k, err)
		}
		downtime += time.Since(t)
	}
	select {
	case <-done:
	case <-time.After(time.Until(start.Add(c.dur))):
	}
	w.stop.Store(true)
	<-done
	elapsed := time.Since(start)
	if proxy != nil {
		proxy.setRate(0) // the checker's own reads are not under test
	}
	// One last try of every dead credential, after all the restarts.
	w.mu.Lock()
	dead := append([]token(nil), w.dead...)
	w.mu.Unlock()
	for i, t := range dead {
		w.read(probers[i%len(probers)], t.cred, t.resource)
	}

	cutoff := time.Now()
	in, err := collect(w)
	in.Cutoff = cutoff
	if err != nil {
		srv.stop()
		return false, err
	}
	srv.stop()
	offline, err := verifyOffline(ctx, c, data, tables)
	if err != nil {
		in.VerifyErr = append(in.VerifyErr, "offline seal and verify: "+err.Error())
	} else {
		in.Verify = append(in.Verify, offline)
	}
	if in.Logs, err = os.ReadFile(logf.Name()); err != nil {
		return false, err
	}
	rec.mu.Lock()
	in.Ops, in.Revocations, in.Sensitive = rec.ops, rec.revs, rec.sensitive
	rec.mu.Unlock()
	vs := invariant.Check(in)
	report(c, in, vs, st, srv.restarts, downtime, proxy, start, elapsed)
	fmt.Printf("server log: %s\n", logf.Name())
	return len(vs) == 0, nil
}

func report(c config, in invariant.Input, vs []invariant.Violation, st adminStats, restarts int, downtime time.Duration,
	p *faultProxy, start time.Time, elapsed time.Duration) {
	count := map[string]map[string]int{}
	codes := map[string]int{}
	var lat []time.Duration
	for _, o := range in.Ops {
		k := o.Kind
		if count[k] == nil {
			count[k] = map[string]int{}
		}
		count[k][o.Outcome()]++
		if o.Outcome() == "refused" {
			codes[k+" "+strconv.Itoa(o.Status)+" "+o.Code]++
		}
		if k == "read" && o.Status == 200 && o.Sent.Before(start.Add(elapsed)) {
			lat = append(lat, o.Done.Sub(o.Sent))
		}
	}
	slices.Sort(lat)
	pct := func(q float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(float64(len(lat))*q))].Round(10 * time.Microsecond)
	}
	statuses := map[string]int{}
	for _, a := range in.Approvals {
		statuses[string(a.Status)]++
	}
	kinds := make([]string, 0, len(count))
	for k := range count {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	fmt.Printf("\n== soak %s: %s, %d requests ==\n", c.store, elapsed.Round(time.Millisecond), len(in.Ops))
	for _, k := range kinds {
		fmt.Printf("  %-11s ok %7d  refused %6d  unknown %5d\n", k, count[k]["ok"], count[k]["refused"], count[k]["unknown"])
	}
	var cs []string
	for k, n := range codes {
		cs = append(cs, fmt.Sprintf("%s×%d", k, n))
	}
	sort.Strings(cs)
	fmt.Printf("  refusals   %s\n", strings.Join(cs, ", "))
	fmt.Printf("  approvals  requested %d: approved %d denied %d expired %d revoked %d pending %d\n", len(in.Approvals),
		statuses["approved"], statuses["denied"], statuses["expired"], statuses["revoked"], statuses["pending"])
	fmt.Printf("  admin      keys revoked %d (each racing a PATCH or rotate), keys rotated %d, approvals revoked %d\n", st.keysRevoked, st.keysRotated, st.approvalsRevoked)
	fmt.Printf("  restarts   %d SIGKILLs, %s down in total\n", restarts, downtime.Round(time.Millisecond))
	if p != nil {
		fmt.Printf("  faults     %d of %d DynamoDB calls: %d throttles, %d 500s, %d timeouts\n", p.faults(), p.calls.Load(), p.throttles.Load(), p.errors500.Load(), p.timeouts.Load())
	}
	fmt.Printf("  checked    %d audit entries, %d approvals, %d secrets, %d revocations, %d secrets/keys/tokens grepped for in %d bytes of log\n",
		len(in.Audit), len(in.Approvals), len(in.Secrets), len(in.Revocations), len(in.Sensitive), len(in.Logs))
	for i, r := range in.Verify {
		name := [2]string{"audit:verify (API)", "audit:verify (offline, every window sealed)"}[min(i, 1)]
		fmt.Printf("  %s: %d entries in %d digests, sealed to %s, %d unsealed, %d findings\n", name, r.Entries, r.Digests, r.SealedTo.Format(time.RFC3339), r.Unsealed, len(r.Findings))
	}
	fmt.Printf("  reads      %d ok in %s: %.0f/s, p50 %s p99 %s\n", len(lat), elapsed.Round(time.Millisecond), float64(len(lat))/elapsed.Seconds(), pct(0.5), pct(0.99))
	if len(vs) == 0 {
		fmt.Println("  invariants: all hold")
		return
	}
	per := map[string]int{}
	subjects := map[string]map[string]bool{}
	var order []string
	for _, v := range vs {
		if per[v.Invariant] == 0 {
			order = append(order, v.Invariant)
			subjects[v.Invariant] = map[string]bool{}
		}
		per[v.Invariant]++
		subjects[v.Invariant][v.Subject] = true
	}
	fmt.Printf("  VIOLATIONS: %d\n", len(vs))
	for _, inv := range order {
		fmt.Printf("  - %s: %d (%d distinct)\n", inv, per[inv], len(subjects[inv]))
		shown := 0
		for _, v := range vs {
			if v.Invariant == inv && shown < 5 {
				fmt.Printf("      %s\n", strings.ReplaceAll(v.Detail, "\n", " "))
				shown++
			}
		}
	}
}
