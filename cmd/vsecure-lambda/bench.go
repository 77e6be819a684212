package main

import (
	"archive/zip"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/vsecure/vsecure/internal/rie"
	"github.com/vsecure/vsecure/internal/sample"
	"github.com/vsecure/vsecure/shared/catalog"
	"github.com/vsecure/vsecure/shared/httpapi"
)

const (
	hello      = "hello-world"
	budgetRaw  = 12 << 20
	budgetZip  = 5 << 20
	budgetInit = 10 * time.Millisecond
)

type result struct {
	name             string
	raw, zipped      int64
	rieInit, cold    time.Duration // medians over the cold runs
	firstReal        time.Duration // median first real invoke after the cold probe
	overHello        time.Duration // median of paired (ours − hello-world) cold starts
	warm50, warm99   time.Duration
	warmErr, sizeErr string
}

// bench measures every function and a hello-world Lambda built the same way
// in the same run: sizes of the linux/arm64 artefacts of `make build`, cold
// start under the emulator (its "Init Duration", and the wall time of the
// first invoke, which includes process start and the function's init) and
// warm invoke durations as the emulator reports them.
func bench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	cold := fs.Int("cold", 11, "cold starts per function")
	warm := fs.Int("warm", 200, "warm invokes per function")
	artefacts := fs.String("build", "build", "directory of `make build` output")
	only := fs.String("fn", "", "comma-separated functions to measure (default: all); hello-world always runs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	root, err := rie.Root()
	if err != nil {
		return err
	}
	env, err := sample.EmulatorEnv(os.Getenv)
	if err != nil {
		return err
	}
	rieBin, err := rie.Install(ctx, root)
	if err != nil {
		return err
	}
	bins := filepath.Join(root, ".cache", "host-functions")
	if err := rie.Build(ctx, root, bins, "./functions/...", "./internal/rie/testdata/hello"); err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(bins, "hello"), filepath.Join(bins, hello)); err != nil {
		return err
	}
	if err := sample.Deploy(ctx, env); err != nil {
		return err
	}
	names := []string{hello, catalog.Authorizer, httpapi.FallbackFunction}
	for _, r := range httpapi.Routes() {
		if !slices.Contains(names, r.Function) {
			names = append(names, r.Function)
		}
	}
	if *only != "" {
		names = slices.DeleteFunc(names, func(n string) bool { return n != hello && !slices.Contains(strings.Split(*only, ","), n) })
	}
	var results []result
	for _, name := range names {
		fmt.Fprintf(stderr, "bench: %s\n", name)
		res := result{name: name}
		if name != hello {
			res.raw, res.zipped, err = sizes(filepath.Join(root, *artefacts), name)
			if err != nil {
				res.sizeErr = err.Error()
			}
		}
		payload, err := benchEvent(root, name)
		if err != nil {
			return err
		}
		fenv := append(sample.EnvList(env), "AWS_LAMBDA_FUNCTION_NAME=vsecure-"+name)
		var inits, colds, firsts, diffs []time.Duration
		for range *cold {
			// Each cold start is paired with a hello-world cold start just
			// before it, so load on the machine hits both alike.
			var helloCold time.Duration
			if name != hello {
				hr, err := rie.Start(ctx, rieBin, filepath.Join(bins, hello), fenv)
				if err != nil {
					return err
				}
				t0 := time.Now()
				_, err = hr.Invoke(ctx, []byte(`"cold-start-probe"`))
				helloCold = time.Since(t0)
				hr.Close()
				if err != nil {
					return err
				}
			}
			r, err := rie.Start(ctx, rieBin, filepath.Join(bins, name), fenv)
			if err != nil {
				return err
			}
			// The probe is a payload no handler accepts: the runtime
			// library refuses it before any handler code or I/O runs, so
			// its wall time is process start + init + one runtime round
			// trip, for hello-world exactly as for ours.
			t0 := time.Now()
			_, err = r.Invoke(ctx, []byte(`"cold-start-probe"`))
			colds = append(colds, time.Since(t0))
			if name != hello {
				diffs = append(diffs, colds[len(colds)-1]-helloCold)
			}
			if err == nil {
				t1 := time.Now()
				_, err = r.Invoke(ctx, payload)
				firsts = append(firsts, time.Since(t1))
			}
			reps, rerr := r.WaitReports(ctx, 1)
			r.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if rerr != nil {
				return rerr
			}
			inits = append(inits, reps[0].Init)
		}
		res.rieInit, res.cold, res.firstReal, res.overHello = median(inits), median(colds), median(firsts), median(diffs)
		r, err := rie.Start(ctx, rieBin, filepath.Join(bins, name), fenv)
		if err != nil {
			return err
		}
		for range *warm + 1 {
			if _, err := r.Invoke(ctx, payload); err != nil {
				r.Close()
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		reps, err := r.WaitReports(ctx, *warm+1)
		r.Close()
		if err != nil {
			return err
		}
		var ds []time.Duration
		for _, rep := range reps[1:] {
			ds = append(ds, rep.Duration)
		}
		slices.Sort(ds)
		res.warm50, res.warm99 = pct(ds, 50), pct(ds, 99)
		results = append(results, res)
	}
	report(stdout, results, *cold, *warm)
	return nil
}

// benchEvent is the function's sample event; mutating events (respond,
// revoke, delete) answer an error after their first success, which still
// runs the whole path through the store.
func benchEvent(root, name string) ([]byte, error) {
	switch name {
	case hello:
		return []byte(`{}`), nil
	case catalog.Authorizer:
		return os.ReadFile(filepath.Join(root, "events", "authorizer-valid.json"))
	}
	return os.ReadFile(filepath.Join(root, "events", name+".json"))
}

func sizes(dir, name string) (raw, zipped int64, err error) {
	st, err := os.Stat(filepath.Join(dir, name, "bootstrap"))
	if err != nil {
		return 0, 0, fmt.Errorf("no %s/%s/bootstrap: run make build", dir, name)
	}
	zs, err := os.Stat(filepath.Join(dir, name+".zip"))
	if err != nil {
		return st.Size(), 0, err
	}
	if _, err := zip.OpenReader(filepath.Join(dir, name+".zip")); err != nil {
		return st.Size(), 0, err
	}
	return st.Size(), zs.Size(), nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return pct(s, 50)
}

func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[max(0, min(len(sorted)-1, i-1))]
}

func report(w io.Writer, rs []result, cold, warm int) {
	fmt.Fprintf(w, "\nLambda functions under aws-lambda-rie (host build, same flags as make build); %d cold starts (median), %d warm invokes.\n", cold, warm)
	fmt.Fprintf(w, "Sizes: the linux/arm64 artefacts of make build. Cold start: wall time of a first invoke that no handler accepts\n")
	fmt.Fprintf(w, "(process start + Go runtime + our init, no I/O). First real: the sample event right after, including connection setup.\n")
	fmt.Fprintf(w, "Warm: the emulator's REPORT Duration of the sample event, DynamoDB Local and local-kms time included.\n\n")
	fmt.Fprintln(w, "| function | bootstrap | zip | RIE init | cold start | − hello (paired median) | first real | warm p50 | warm p99 | budget |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
	for _, r := range rs {
		ok := "ok"
		if r.name != hello {
			switch {
			case r.sizeErr != "":
				ok = r.sizeErr
			case r.raw > budgetRaw || r.zipped > budgetZip:
				ok = "SIZE OVER"
			case r.overHello > budgetInit:
				ok = "INIT OVER"
			}
		}
		size := func(n int64) string {
			if n == 0 {
				return "-"
			}
			return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.name, size(r.raw), size(r.zipped),
			msf(r.rieInit), msf(r.cold), msf(r.overHello), msf(r.firstReal), msf(r.warm50), msf(r.warm99), ok)
	}
	b, _ := json.Marshal(map[string]any{"budgets": map[string]string{
		"bootstrap": "12 MB", "zip": "5 MB", "init": "hello-world + 10 ms", "warm p99": "5 ms excluding DynamoDB time"}})
	fmt.Fprintf(w, "\n%s\n", b)
}

func msf(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
