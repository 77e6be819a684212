// Command vsecure-auditbench is the proof of issue 13's audit budget on
// DynamoDB Local: it seeds fresh tables (made from schema) with -n audit
// entries through the store's real write paths (RecordRead, PutSecret,
// AppendAudit; sealed; -writers concurrent writers), runs the audit
// indexer until it has caught up, then runs -queries pages of every filter
// kind the API offers and prints one markdown table: calls per query, what
// each read against what it returned, capacity as DynamoDB Local reports
// it and as AWS bills it, p50/p99 latency, and write units per entry.
//
// It exits non-zero if any call was a Scan or carried a FilterExpression,
// or if a page differs from what an in-memory model of the seeded entries
// says it must hold. `make audit-bench` runs it under .ci/emulators.sh.
//
//	vsecure-auditbench [-n 100000] [-writers 16] [-queries 200] [-limit 50] [-out file]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/vsecure/vsecure/internal/ddbcapacity"
	"github.com/vsecure/vsecure/shared/crypto/local"
	"github.com/vsecure/vsecure/shared/store/dynamo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "vsecure-auditbench:", err)
		os.Exit(1)
	}
}

type config struct {
	n, writers, queries, limit int
	span                       time.Duration
	seed                       uint64
	load                       string // the machine's load average around the queries
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("vsecure-auditbench", flag.ContinueOnError)
	var c config
	fs.IntVar(&c.n, "n", 100_000, "audit entries to seed (at least 100,000 for the proof)")
	fs.IntVar(&c.writers, "writers", 16, "concurrent writers while seeding")
	fs.IntVar(&c.queries, "queries", 200, "timed queries (pages) per filter kind")
	fs.IntVar(&c.limit, "limit", 50, "page size")
	fs.DurationVar(&c.span, "span", 6*time.Hour, "the seeded entries' timestamps are spread over this")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the generated mix and queries")
	endpoint := fs.String("endpoint", os.Getenv("VSECURE_TEST_DYNAMODB_ENDPOINT"), "DynamoDB Local endpoint")
	outFile := fs.String("out", "", "also write the table to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *endpoint == "" {
		return errors.New("no DynamoDB endpoint: run under .ci/emulators.sh run, or pass -endpoint")
	}
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, "auditbench: "+format+"\n", a...) }

	base := fmt.Sprintf("bench%d", time.Now().UnixNano()%1e9)
	table, auditTable := base, base+"-audit"
	p := newProbe(auditTable)
	o := dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(*endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("bench", "bench", ""),
		HTTPClient:   &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
	}
	dynamo.ClientOptions(&o)
	ddbcapacity.Ask(&o)
	p.option(&o)
	db := dynamodb.New(o)
	if err := dynamo.CreateTables(ctx, db, table, auditTable); err != nil {
		return err
	}
	macKeys, err := local.NewMACKeys(make([]byte, 32))
	if err != nil {
		return err
	}
	clk := newClock(c)
	s, err := dynamo.New(db, table, auditTable, append(storeOptions(clk),
		dynamo.WithSeal(macKeys, "auditbench", c.writers))...)
	if err != nil {
		return err
	}

	w := newWorld()
	evs := w.events(c.n, clk.start, c.span, c.seed)
	logf("seeding %d entries with %d writers into %s", len(evs), c.writers, auditTable)
	p.take()
	written, took, err := seed(ctx, &seeder{s: s, heads: map[string]*head{}}, evs, min(len(w.secrets), len(evs)), c.writers,
		func(n int) { logf("seeded %d", n) })
	if err != nil {
		return err
	}
	writes := p.take()
	logf("seeded %d entries (%.0f entries/s for the mix)", len(written), float64(len(written)-len(w.secrets))/took.Seconds())

	idx, err := indexAll(ctx, s, clk, logf)
	if err != nil {
		return err
	}
	indexing := p.take()

	m, err := newModel(p, written)
	if err != nil {
		return err
	}
	logf("model: %d entries (%d seeded, %d chain openings)", len(m.all), len(written), len(m.all)-len(written))

	loadBefore := loadavg()
	results, err := runQueries(ctx, s, p, m, w, c, logf)
	if err != nil {
		return err
	}
	c.load = loadBefore + " before, " + loadavg() + " after"

	var b strings.Builder
	report(&b, c, p, m, writes, indexing, idx, results, took)
	fmt.Fprint(stdout, b.String())
	if *outFile != "" {
		if err := os.WriteFile(*outFile, []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	var bad []string
	for _, off := range p.offences() {
		bad = append(bad, off)
	}
	for _, r := range results {
		if r.wrong > 0 {
			bad = append(bad, fmt.Sprintf("%s: %d wrong pages, first: %s", r.kind, r.wrong, r.firstWrong))
		}
	}
	if len(bad) > 0 {
		return errors.New("the proof failed:\n  " + strings.Join(bad, "\n  "))
	}
	return nil
}
