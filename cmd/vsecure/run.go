package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/client"
	"github.com/vsecure/vsecure/shared/mask"
	"github.com/vsecure/vsecure/shared/secretrun"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// Exit codes of `vsecure run` of its own; any other code is the child's.
const (
	// exitApprovalPending (EX_TEMPFAIL): a reference needs approval and
	// none was granted yet (or within --wait); stderr names the request.
	exitApprovalPending = 75
	// exitApprovalRefused (EX_NOPERM): the approval was denied, or it
	// expired or was revoked before it was used.
	exitApprovalRefused = 77
)

// opUse is the operation a run asks approval for: the value goes into a
// process, never back to the caller.
const opUse = vsecure.Operation("use")

// forwarded are the signals `vsecure run` passes on to the child instead
// of dying of them.
var forwarded = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT}

const runSynopsis = "run [--env NAME=vsecure://…]… [--env-file FILE] [--wait DURATION] [--reason TEXT] -- CMD [ARGS…]"

const runAbout = "Runs CMD with each referenced secret in its environment, fetched from the gate as a use\n" +
	"(audited with CMD's name and this host; never in argv, a file or a log). The child's stdout and\n" +
	"stderr are masked: each value, and its base64, hex and URL-encoded forms, print as " + mask.Mask + ".\n" +
	"Stdin and the signals INT, TERM, HUP and QUIT are passed to the child; its exit code is vsecure's\n" +
	"(128+n if signal n killed it). A reference that needs approval files a request (operation use),\n" +
	"prints its id and URL and exits 75, or with --wait waits that long for a decision; a denied or\n" +
	"expired request exits 77."

// runFlags is what `vsecure run` parsed.
type runFlags struct {
	refs   []secretrun.Ref
	wait   time.Duration
	reason string
}

func setupRun(fs *flag.FlagSet, env func(string) string, std stdio) action {
	var envs refList
	file := fs.String("env-file", "", "file of NAME=vsecure://… lines (# comments and blank lines allowed)")
	wait := fs.Duration("wait", 0, "if approval is needed, wait up to this long for it (e.g. 5m); default: exit 75 at once")
	reason := fs.String("reason", "", "why the secrets are needed, shown to approvers (default names the command)")
	fs.Var(&envs, "env", "NAME=vsecure://… to set in the child's environment (repeatable)")
	return func(ctx context.Context, pos []string) int {
		f := runFlags{refs: envs, wait: *wait, reason: *reason}
		if *file != "" {
			refs, err := readEnvFile(*file)
			if err != nil {
				fmt.Fprintf(std.Err, "vsecure run: --env-file %s: %s\n", *file, vsecure.ErrorMessage(err))
				return exitUsage
			}
			f.refs = append(f.refs, refs...)
		}
		if len(pos) == 0 {
			fmt.Fprintln(std.Err, "vsecure run: give the command after --, e.g. vsecure run --env DB=production/DATABASE_URL -- psql")
			fs.Usage()
			return exitUsage
		}
		if f.wait < 0 {
			fmt.Fprintln(std.Err, "vsecure run: --wait must not be negative")
			return exitUsage
		}
		if f.reason == "" {
			f.reason = "vsecure run " + pos[0]
		}
		c, code, ok := connect("run", env, std)
		if !ok {
			return code
		}
		vals, code := resolveRefs(ctx, c, f, pos[0], std, sleep)
		if code != exitOK {
			return code
		}
		return runChild(pos, vals, std)
	}
}

func readEnvFile(path string) ([]secretrun.Ref, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	return secretrun.ParseEnvFile(fh)
}

// refList is a repeatable --env NAME=URI.
type refList []secretrun.Ref

func (l *refList) String() string { return "" }
func (l *refList) Set(v string) error {
	r, err := secretrun.ParseRef(v)
	if err != nil {
		return errors.New(vsecure.ErrorMessage(err))
	}
	*l = append(*l, r)
	return nil
}

// runAPI is what a run asks of the gate.
type runAPI interface {
	secretrun.Source
	RequestApproval(ctx context.Context, r api.ApprovalRequest) (api.ApprovalView, error)
	GetApproval(ctx context.Context, id string) (api.ApprovalView, error)
	ListApprovals(ctx context.Context, q api.ApprovalsQuery) ([]api.ApprovalView, api.Pagination, error)
	Whoami(ctx context.Context) (api.Identity, error)
}

// requestUse returns the caller's own pending use request for uri, or
// files one: running the same command again while approvers have not
// answered must not ask them twice.
func requestUse(ctx context.Context, c runAPI, uri, reason string) (api.ApprovalView, error) {
	me, err := c.Whoami(ctx)
	if err != nil {
		return api.ApprovalView{}, err
	}
	pending, _, err := c.ListApprovals(ctx, api.ApprovalsQuery{Status: string(vsecure.StatusPending), Resource: uri, Limit: 50})
	if err != nil {
		return api.ApprovalView{}, err
	}
	now := time.Now()
	for _, a := range pending {
		if a.RequestedBy == me.Principal && a.Resource == uri && a.Operation == opUse && a.Status == vsecure.StatusPending && now.Before(a.ExpiresAt) {
			return a, nil
		}
	}
	return c.RequestApproval(ctx, api.ApprovalRequest{Resource: uri, Operation: string(opUse), Reason: reason})
}

// resolveRefs fetches every reference. A gated one gets an approval
// request; without --wait that ends the run (exitApprovalPending), with it
// the request is polled, backing off, until decided or the wait is over,
// and an approved one is fetched again. pause waits between polls.
func resolveRefs(ctx context.Context, c runAPI, f runFlags, command string, std stdio, pause func(context.Context, time.Duration) error) ([]secretrun.Value, int) {
	host := secretrun.Hostname()
	deadline := time.Now().Add(f.wait)
	for {
		vals, err := secretrun.Resolve(ctx, c, f.refs, command, host)
		var re *secretrun.RefError
		if err == nil {
			return vals, exitOK
		}
		if !errors.As(err, &re) || !client.IsApprovalRequired(re.Err) {
			return nil, fail("run", std, err)
		}
		a, err := requestUse(ctx, c, re.Ref.URI, f.reason)
		if err != nil {
			return nil, fail("run", std, fmt.Errorf("%s: requesting approval: %w", re.Ref.Name, err))
		}
		fmt.Fprintf(std.Err, "vsecure run: %s (%s) needs approval: request %s is %s\nDecide at: %s\n", re.Ref.Name, re.Ref.URI, a.ID, a.Status, a.ApprovalURL)
		for d := 500 * time.Millisecond; a.Status == vsecure.StatusPending; d = min(d*3/2, 5*time.Second) {
			left := time.Until(deadline)
			if left <= 0 {
				fmt.Fprintf(std.Err, "vsecure run: approval %s is still pending; run again once it is approved\n", a.ID)
				return nil, exitApprovalPending
			}
			if err := pause(ctx, min(d, left)); err != nil {
				return nil, fail("run", std, err)
			}
			if a, err = c.GetApproval(ctx, a.ID); err != nil {
				return nil, fail("run", std, err)
			}
		}
		if a.Status != vsecure.StatusApproved {
			fmt.Fprintf(std.Err, "vsecure run: approval %s is %s\n", a.ID, a.Status)
			return nil, exitApprovalRefused
		}
		// Approved: the next round fetches it (and meets the next gated
		// reference, if any).
	}
}

// runChild runs argv with the values in its environment and its output
// masked, and returns its exit code.
func runChild(argv []string, vals []secretrun.Value, std stdio) int {
	secrets := secretrun.Secrets(vals)
	stdout, stderr := mask.NewWriter(std.Out, secrets), mask.NewWriter(std.Err, secrets)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = secretrun.Environ(os.Environ(), vals)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = std.In, stdout, stderr
	// Registered before the child starts, so a signal in between is
	// passed on rather than killing vsecure and orphaning the child.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, forwarded...)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		code, _ := secretrun.ExitCode(err)
		fmt.Fprintf(std.Err, "vsecure run: %s: %v\n", argv[0], err)
		return max(code, exitError)
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				_ = cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	stdout.Close()
	stderr.Close()
	code, ok := secretrun.ExitCode(err)
	if !ok {
		fmt.Fprintf(std.Err, "vsecure run: %s: %v\n", argv[0], err)
		return exitError
	}
	return code
}

// sleep waits d, or less if ctx ends (Ctrl-C while waiting for approval).
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
