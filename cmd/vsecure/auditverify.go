package main

import (
	"context"
	"fmt"
	"time"

	"github.com/vsecure/vsecure/shared/mcpserver"
	"github.com/vsecure/vsecure/shared/vsecure"
)

func runAuditVerify(ctx context.Context, args []string, env func(string) string, std stdio) int {
	fs := newFlags("audit:verify", "audit:verify [--from 24h|RFC3339] [--to RFC3339] [--json]",
		"Checks the audit log against its signed, chained digests (admin or auditor) and names\n"+
			"every entry deleted, modified, inserted or moved, and every digest removed or forged.\n"+
			"Exit status 3 when anything was found.", std)
	from := fs.String("from", "", "RFC 3339 time or a duration back from now (24h, 7d); default the beginning")
	to := fs.String("to", "", "RFC 3339 time; default now")
	jsonOut := fs.Bool("json", false, "print JSON")
	if _, code, done := parseArgs(fs, args, 0); done {
		return code
	}
	since, err := mcpserver.SinceTime(*from, time.Now())
	if err != nil {
		fmt.Fprintf(std.Err, "vsecure audit:verify: %s\n", vsecure.ErrorMessage(err))
		return exitUsage
	}
	e, code, ok := connect(fs.Name(), env, std, *jsonOut)
	if !ok {
		return code
	}
	r, err := e.api.VerifyAudit(ctx, since, *to)
	if err != nil {
		return e.fail(err)
	}
	code = exitOK
	if !r.OK() {
		code = exitTampered
	}
	if e.json {
		e.emit(r)
		return code
	}
	if r.OK() {
		fmt.Fprintf(std.Out, "OK: %d entries in %d digests match; sealed to %s, %d newer entries not sealed yet\n",
			r.Entries, r.Digests, ts(r.SealedTo), r.Unsealed)
		return code
	}
	rows := make([][]string, 0, len(r.Findings))
	for _, f := range r.Findings {
		rows = append(rows, []string{f.Kind, dash(f.Entry), ts(f.Window), f.Detail})
	}
	table(std.Out, []string{"FINDING", "ENTRY", "WINDOW", "DETAIL"}, rows)
	fmt.Fprintf(std.Out, "TAMPERED: %d findings; %d entries checked in %d digests\n", len(r.Findings), r.Entries, r.Digests)
	return code
}
