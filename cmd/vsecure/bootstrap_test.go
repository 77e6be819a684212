package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vsecure/vsecure/internal/rie"
	"github.com/vsecure/vsecure/internal/sample"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/lambdafn"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// TestAdminBootstrapInvokesUnderRIE runs `vsecure admin:bootstrap
// --function` against the real admin-bootstrap bootstrap under
// aws-lambda-rie (which speaks the Lambda Invoke API) over DynamoDB Local.
// STS is a one-answer fake: only the caller ARN it returns matters.
func TestAdminBootstrapInvokesUnderRIE(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	vars, err := sample.EmulatorEnv(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	root, err := rie.Root()
	if err != nil {
		t.Fatal(err)
	}
	rieBin, err := rie.Install(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	bins := t.TempDir()
	if err := rie.Build(ctx, root, bins, "./functions/"+lambdafn.BootstrapFunction); err != nil {
		t.Fatal(err)
	}
	if err := sample.Deploy(ctx, vars); err != nil {
		t.Fatal(err)
	}
	r, err := rie.Start(ctx, rieBin, filepath.Join(bins, lambdafn.BootstrapFunction), sample.EnvList(vars))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	const caller = "arn:aws:iam::123456789012:user/operator"
	stsFake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		_, _ = w.Write([]byte(`<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>` +
			`<Arn>` + caller + `</Arn><UserId>AIDA</UserId><Account>123456789012</Account></GetCallerIdentityResult>` +
			`<ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></GetCallerIdentityResponse>`))
	}))
	defer stsFake.Close()
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_REGION": "us-east-1",
		"AWS_CONFIG_FILE": filepath.Join(bins, "none"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(bins, "none")} {
		t.Setenv(k, v)
	}
	env := map[string]string{
		"AWS_ENDPOINT_URL_LAMBDA": strings.TrimSuffix(r.URL(), "/2015-03-31/functions/function/invocations"),
		"AWS_ENDPOINT_URL_STS":    stsFake.URL,
	}
	// The plain build runs admin:bootstrap in vsecure-aws (companion.go):
	// the test then runs the built pair as an operator would; built with
	// -tags aws, it runs the command in this process.
	var pair string
	if !awsBuilt {
		pair = buildWithCompanion(t)
	}
	bootstrap := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		args = append([]string{"admin:bootstrap", "--function", "function"}, args...)
		if awsBuilt {
			return run(ctx, args, func(k string) string { return env[k] }, stdio{Out: &out, Err: &errb}), out.String(), errb.String()
		}
		cmd := exec.CommandContext(ctx, filepath.Join(pair, "vsecure"), args...)
		cmd.Env = os.Environ()
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		if _, exited := err.(*exec.ExitError); err != nil && !exited {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode(), out.String(), errb.String()
	}

	// The sample world has an active admin key: refused.
	if code, out, errs := bootstrap(); code != exitError || out != "" || !strings.Contains(errs, "an active admin key exists") {
		t.Fatalf("bootstrap with an admin present: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	code, out, errs := bootstrap("--break-glass", "--principal", "ops")
	if code != exitOK || !strings.Contains(errs, "shown once") {
		t.Fatalf("break-glass bootstrap: exit %d, stderr %q", code, errs)
	}
	key := strings.TrimSpace(out)
	if !strings.HasPrefix(key, gate.KeyPrefix) || strings.Contains(errs, key) {
		t.Fatalf("stdout %q is not the key alone (stderr %q)", out, errs)
	}
	cfg, err := lambdafn.ConfigFromEnv(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	f, err := lambdafn.Open(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.Gate.Authenticate(ctx, key, gate.Call{RequestID: "test"})
	if err != nil || p.ID != "ops" || !p.Has(vsecure.RoleAdmin) {
		t.Fatalf("printed key: principal %+v, %v", p, err)
	}
	es, _, err := f.Gate.Store().QueryAudit(ctx, vsecure.AuditFilter{Operation: vsecure.AuditKeyBootstrap}, "", 10)
	if err != nil || len(es) != 2 || es[0].Metadata["requestedBy"] != caller || es[0].Metadata["breakGlass"] != "true" {
		t.Fatalf("key_bootstrap entries: %+v, %v", es, err)
	}
}

// buildWithCompanion builds vsecure and its AWS companion into one
// directory, as a release archive holds them.
func buildWithCompanion(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	goBuild(t, filepath.Join(dir, "vsecure"))
	goBuild(t, filepath.Join(dir, companionName), "-tags", "aws")
	return dir
}
