package main

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/archive"
	"github.com/vsecure/vsecure/shared/digest"
	"github.com/vsecure/vsecure/shared/mcpserver"
	"github.com/vsecure/vsecure/shared/vsecure"
)

func setupAuditVerify(fs *flag.FlagSet, env func(string) string, std stdio) action {
	from := fs.String("from", "", "RFC 3339 time or a duration back from now (24h, 7d); default the beginning")
	to := fs.String("to", "", "RFC 3339 time; default now")
	offline := fs.String("offline", "", "an export file, archive object or archive directory to verify without a server")
	publicKey := fs.String("public-key", "", "with --offline: the digests' public key (base64 PKIX DER, or a file)")
	jsonOut := fs.Bool("json", false, "print JSON")
	return func(ctx context.Context, _ []string) int {
		return runAuditVerify(ctx, from, to, offline, publicKey, jsonOut, env, std)
	}
}

// runAuditVerify is not an apiCall: --offline needs no server, and a
// finding exits 3.
func runAuditVerify(ctx context.Context, from, to, offline, publicKey *string, jsonOut *bool, env func(string) string, std stdio) int {
	if *offline != "" || *publicKey != "" {
		if *offline == "" || *publicKey == "" || *from != "" || *to != "" {
			fmt.Fprintln(std.Err, "vsecure audit:verify: --offline FILE and --public-key KEY go together, without --from or --to (the export fixes the range)")
			return exitUsage
		}
		return verifyOffline(ctx, *offline, *publicKey, *jsonOut, std)
	}
	since, err := mcpserver.SinceTime(*from, time.Now())
	if err != nil {
		fmt.Fprintf(std.Err, "vsecure audit:verify: %s\n", vsecure.ErrorMessage(err))
		return exitUsage
	}
	c, code, ok := connect("audit:verify", env, std)
	if !ok {
		return code
	}
	r, err := c.VerifyAudit(ctx, since, *to)
	if err != nil {
		return fail("audit:verify", std, err)
	}
	if *jsonOut {
		_ = emitJSON(std.Out, r)
		return verdict(r.Report)
	}
	printKey(std, r.TrustedKey)
	return printReport(std, r.Report)
}

// verifyOffline checks an export file against a public key given by the
// auditor, reading nothing but the two.
func verifyOffline(ctx context.Context, path, key string, jsonOut bool, std stdio) int {
	fail := func(format string, a ...any) int {
		fmt.Fprintf(std.Err, "vsecure audit:verify: "+format+"\n", a...)
		return exitUsage
	}
	der, err := parsePublicKey(key)
	if err != nil {
		return fail("--public-key: %v", err)
	}
	// An export, an archive object (gzip'd), or a directory of them (the
	// archive bucket's archive/ prefix, downloaded).
	exp, err := archive.Open(path)
	if err != nil {
		return fail("%v", err)
	}
	r, err := offlineVerify(ctx, exp, der)
	if err != nil {
		return fail("%s: %v", path, err)
	}
	if jsonOut {
		emitJSON(std.Out, api.AuditVerification{Report: r.Report, TrustedKey: r.key})
		return verdict(r.Report)
	}
	printKey(std, r.key)
	return printReport(std, r.Report)
}

// parsePublicKey reads KEY: base64 of PKIX DER, or a file holding that or
// a PEM "PUBLIC KEY" block.
func parsePublicKey(s string) ([]byte, error) {
	if b, err := os.ReadFile(s); err == nil {
		s = string(b)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if p, _ := pem.Decode([]byte(s)); p != nil {
		return p.Bytes, nil
	}
	der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(der) == 0 {
		return nil, errors.New("not base64 of a public key, a PEM file, or a file holding either")
	}
	return der, nil
}

func printKey(std stdio, k api.TrustedKey) {
	if k.KeyID == "" {
		fmt.Fprintln(std.Out, "Trusted key: none named by the server")
		return
	}
	fmt.Fprintf(std.Out, "Trusted key: %s (%s)\nPublic key:  %s\n", k.KeyID, k.Algorithm, base64.StdEncoding.EncodeToString(k.PublicKey))
}

func verdict(r digest.Report) int {
	if !r.OK() {
		return exitTampered
	}
	return exitOK
}

func printReport(std stdio, r digest.Report) int {
	if r.Head != "" {
		// The newest digest's hash: write it down elsewhere (a ticket, a
		// chat, the witness) and a later truncation of the log shows.
		fmt.Fprintf(std.Out, "Digest head: %s\n", r.Head)
	}
	if r.OK() {
		fmt.Fprintf(std.Out, "OK: %d entries in %d digests match; sealed to %s, %d newer entries not sealed yet\n",
			r.Entries, r.Digests, ts(r.SealedTo), r.Unsealed)
		if r.Archived > 0 {
			fmt.Fprintf(std.Out, "%d sealed entries past the audit retention are no longer in the store: check them in the archive (audit:verify --offline DIR)\n", r.Archived)
		}
		return exitOK
	}
	rows := make([][]string, 0, len(r.Findings))
	for _, f := range r.Findings {
		rows = append(rows, []string{f.Kind, dash(f.Entry), ts(f.Window), f.Detail})
	}
	table(std.Out, []string{"FINDING", "ENTRY", "WINDOW", "DETAIL"}, rows)
	fmt.Fprintf(std.Out, "TAMPERED: %d findings; %d entries checked in %d digests\n", len(r.Findings), r.Entries, r.Digests)
	return exitTampered
}
