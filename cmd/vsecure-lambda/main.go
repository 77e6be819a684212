// Command vsecure-lambda runs the Lambda functions locally, as deployed:
// the real bootstrap binaries under aws-lambda-rie, against DynamoDB Local
// and local-kms seeded with the sample world of events/.
//
//	vsecure-lambda invoke -fn NAME [-event FILE]   one invocation, response on stdout
//	vsecure-lambda bench [-cold N] [-warm N]       sizes, cold starts, warm latency
//
// Both expect the emulator endpoints that `.ci/emulators.sh run` exports;
// `make invoke` and `make bench-lambda` provide them.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/vsecure/vsecure/internal/rie"
	"github.com/vsecure/vsecure/internal/sample"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "vsecure-lambda:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: vsecure-lambda invoke|bench [flags]")
	}
	switch args[0] {
	case "invoke":
		return invoke(ctx, args[1:], stdout, stderr)
	case "bench":
		return bench(ctx, args[1:], stdout, stderr)
	}
	return fmt.Errorf("unknown command %q (want invoke or bench)", args[0])
}

func invoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("invoke", flag.ContinueOnError)
	fn := fs.String("fn", "", "function name (a directory of functions/)")
	event := fs.String("event", "", "event file (default events/<fn>.json)")
	verbose := fs.Bool("v", true, "print the function's log output to stderr")
	timeout := fs.Duration("timeout", 60*time.Second, "give up on the invocation after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *fn == "" {
		return fmt.Errorf("-fn is required")
	}
	root, err := rie.Root()
	if err != nil {
		return err
	}
	if *event == "" {
		*event = filepath.Join(root, "events", *fn+".json")
	}
	payload, err := os.ReadFile(*event)
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
	if err := rie.Build(ctx, root, bins, "./functions/"+*fn); err != nil {
		return err
	}
	if err := sample.Deploy(ctx, env); err != nil {
		return fmt.Errorf("seed the sample world: %w", err)
	}
	r, err := rie.Start(ctx, rieBin, filepath.Join(bins, *fn), append(sample.EnvList(env), "AWS_LAMBDA_FUNCTION_NAME=vsecure-"+*fn))
	if err != nil {
		return err
	}
	defer r.Close()
	// Every wait has a deadline: a function whose init fails (a missing
	// variable) makes the emulator answer with an error and print no
	// REPORT line, which used to leave this waiting forever.
	ictx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	out, err := r.Invoke(ictx, payload)
	if *verbose {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, _ = r.WaitReports(rctx, 1) // the REPORT line follows the response
		cancel()
		fmt.Fprint(stderr, r.Output())
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s did not answer within %s (-timeout)", *fn, *timeout)
	}
	if err != nil {
		return err
	}
	var fe struct {
		ErrorType, ErrorMessage string
	}
	if json.Unmarshal(out, &fe) == nil && fe.ErrorType == "Runtime.ExitError" {
		return fmt.Errorf("%s exited during init (its log above says why): %s", *fn, fe.ErrorMessage)
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, out, "", "  ") != nil {
		pretty.Write(out)
	}
	fmt.Fprintln(stdout, pretty.String())
	return nil
}
