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
	"strconv"
	"strings"
	"time"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/mcpserver"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// stringList is a repeatable, comma-separable flag.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*s = append(*s, p)
		}
	}
	return nil
}

func runWhoami(ctx context.Context, args []string, env func(string) string, std stdio) int {
	fs := newFlags("whoami", "whoami [--json]", "Shows who the API key (or access token) in VSECURE_API_KEY makes you: principal,\nroles, key id and, for an access token, the one operation it allows.", std)
	jsonOut := fs.Bool("json", false, "print JSON")
	if _, code, done := parseArgs(fs, args, 0); done {
		return code
	}
	e, code, ok := connect(fs.Name(), env, std, *jsonOut)
	if !ok {
		return code
	}
	id, err := e.api.Whoami(ctx)
	if err != nil {
		return e.fail(err)
	}
	if e.json {
		return e.emit(id)
	}
	roles := make([]string, len(id.Roles))
	for i, r := range id.Roles {
		roles[i] = string(r)
	}
	table(std.Out, []string{"PRINCIPAL", "ROLES", "KEY", "CREDENTIAL", "ON BEHALF OF"},
		[][]string{{id.Principal, dash(strings.Join(roles, ",")), dash(id.KeyID), id.Credential, dash(id.OnBehalfOf)}})
	if s := id.Scope; s != nil {
		fmt.Fprintf(std.Out, "Scope: %s %s until %s (approval %s)\n", s.Operation, s.Resource, ts(s.ExpiresAt), s.ApprovalID)
	}
	return exitOK
}

func runResources(ctx context.Context, args []string, env func(string) string, std stdio) int {
	fs := newFlags("mcp:resources", "mcp:resources [--json]", "Lists the resource policies: which vsecure:// URIs exist, what they permit and whether approval is required.", std)
	jsonOut := fs.Bool("json", false, "print JSON")
	if _, code, done := parseArgs(fs, args, 0); done {
		return code
	}
	e, code, ok := connect(fs.Name(), env, std, *jsonOut)
	if !ok {
		return code
	}
	rs, err := e.api.ListResources(ctx)
	if err != nil {
		return e.fail(err)
	}
	if e.json {
		return e.emit(map[string]any{"resources": rs})
	}
	rows := make([][]string, 0, len(rs))
	for _, r := range rs {
		perms := make([]string, len(r.Permissions))
		for i, p := range r.Permissions {
			perms[i] = string(p)
		}
		approval := "no"
		if r.RequiresApproval {
			approval = "required"
			if len(r.Approvers) > 0 {
				approval += " (" + strings.Join(r.Approvers, ", ") + ")"
			}
		}
		rows = append(rows, []string{r.URI, dash(strings.Join(perms, ",")), approval, dash(r.Name)})
	}
	table(std.Out, []string{"URI", "PERMISSIONS", "APPROVAL", "NAME"}, rows)
	return exitOK
}

func runConfigure(ctx context.Context, args []string, env func(string) string, std stdio) int {
	fs := newFlags("mcp:configure", "mcp:configure -f policy.json [--json]",
		"Creates or replaces resource policies (admin). The file holds one policy object\n"+
			`({"uri": "vsecure://secrets/production/*", "permissions": ["read"], "requiresApproval": true, ...})`+"\nor an array of them; - reads stdin.", std)
	file := fs.String("f", "", "policy JSON file, or - for stdin (required)")
	jsonOut := fs.Bool("json", false, "print JSON")
	if _, code, done := parseArgs(fs, args, 0); done {
		return code
	}
	if *file == "" {
		fmt.Fprintln(std.Err, "vsecure mcp:configure: -f is required")
		fs.Usage()
		return exitUsage
	}
	var raw []byte
	var err error
	if *file == "-" {
		raw, err = io.ReadAll(std.In)
	} else {
		raw, err = os.ReadFile(*file)
	}
	if err != nil {
		fmt.Fprintf(std.Err, "vsecure mcp:configure: %v\n", err)
		return exitUsage
	}
	policies, err := decodePolicies(raw)
	if err != nil {
		fmt.Fprintf(std.Err, "vsecure mcp:configure: %s: %v\n", *file, err)
		return exitUsage
	}
	e, code, ok := connect(fs.Name(), env, std, *jsonOut)
	if !ok {
		return code
	}
	var out []api.ResourceView
	for _, p := range policies {
		p.URI = vsecure.ExpandShort(p.URI)
		v, err := e.api.Configure(ctx, p)
		if err != nil {
			return e.fail(err)
		}
		out = append(out, v)
		if !e.json {
			fmt.Fprintf(std.Out, "configured %s\n", v.URI)
		}
	}
	if e.json {
		return e.emit(map[string]any{"resources": out})
	}
	return exitOK
}

// decodePolicies reads one policy or an array, refusing unknown fields
// locally so a typo fails before anything is sent.
func decodePolicies(raw []byte) ([]api.ResourceConfig, error) {
	raw = bytes.TrimSpace(raw)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if len(raw) > 0 && raw[0] == '[' {
		var ps []api.ResourceConfig
		if err := dec.Decode(&ps); err != nil {
			return nil, err
		}
		if len(ps) == 0 {
			return nil, errors.New("no policies in the array")
		}
		return ps, nil
	}
	var p api.ResourceConfig
	if err := dec.Decode(&p); err != nil {
		return nil, err
	}
	return []api.ResourceConfig{p}, nil
}

func runApprove(ctx context.Context, args []string, env func(string) string, std stdio) int {
	fs := newFlags("mcp:approve", "mcp:approve --resource URI [--operation read|write] --reason TEXT [--ttl SECONDS] [--json]",
		"Requests approval for one operation on one resource. If the policy needs no\napproval (or auto-approves), the request is approved at once and its access token is printed\n(shown only this once; valid until expiresAt).", std)
	resource := fs.String("resource", "", "resource URI, e.g. vsecure://secrets/production/DATABASE_URL or production/DATABASE_URL (required)")
	op := fs.String("operation", "read", "read or write")
	reason := fs.String("reason", "", "why access is needed; shown to approvers")
	ttl := fs.Int("ttl", 0, "seconds until the request and the access it grants expire (default 3600)")
	jsonOut := fs.Bool("json", false, "print JSON")
	pos, code, done := parseArgs(fs, args, -1)
	if done {
		return code
	}
	if *resource == "" && len(pos) == 1 {
		*resource = pos[0]
	} else if *resource == "" || len(pos) > 0 {
		fmt.Fprintln(std.Err, "vsecure mcp:approve: --resource is required")
		fs.Usage()
		return exitUsage
	}
	e, code, ok := connect(fs.Name(), env, std, *jsonOut)
	if !ok {
		return code
	}
	r := api.ApprovalRequest{Resource: vsecure.ExpandShort(*resource), Operation: *op, Reason: *reason}
	if *ttl != 0 {
		r.TTL = ttl
	}
	a, err := e.api.RequestApproval(ctx, r)
	if err != nil {
		return e.fail(err)
	}
	if e.json {
		return e.emit(a)
	}
	fmt.Fprintf(std.Out, "Approval %s: %s %s is %s (expires %s)\n", a.ID, a.Operation, a.Resource, a.Status, ts(a.ExpiresAt))
	if a.Status == vsecure.StatusPending {
		fmt.Fprintf(std.Out, "Approvers: %s\nDecide at: %s\n", dash(strings.Join(a.Approvers, ", ")), a.ApprovalURL)
	}
	if a.AccessToken != "" {
		fmt.Fprintf(std.Out, "Access token (shown once): %s\n", a.AccessToken)
	}
	return exitOK
}

func runApprovals(ctx context.Context, args []string, env func(string) string, std stdio) int {
	fs := newFlags("mcp:approvals", "mcp:approvals [--status STATUS] [--resource URI] [--all] [--json]",
		"Lists the approval requests you may see, newest first.", std)
	status := fs.String("status", "", "pending, approved, denied, expired or revoked")
	resource := fs.String("resource", "", "a concrete resource URI (short form production/DB works)")
	jsonOut := fs.Bool("json", false, "print JSON")
	var l listFlags
	l.register(fs)
	if _, code, done := parseArgs(fs, args, 0); done {
		return code
	}
	e, code, ok := connect(fs.Name(), env, std, *jsonOut)
	if !ok {
		return code
	}
	q := api.ApprovalsQuery{Status: *status, Limit: l.limit}
	if *resource != "" {
		q.Resource = vsecure.ExpandShort(*resource)
	}
	items, p, err := collect(ctx, l, func(ctx context.Context, cursor string) ([]api.ApprovalView, api.Pagination, error) {
		q.Cursor = cursor
		return e.api.ListApprovals(ctx, q)
	})
	if err != nil {
		return e.fail(err)
	}
	if e.json {
		if items == nil {
			items = []api.ApprovalView{}
		}
		return e.emit(map[string]any{"data": items, "pagination": p})
	}
	rows := make([][]string, 0, len(items))
	for _, a := range items {
		rows = append(rows, []string{a.ID, string(a.Status), string(a.Operation), a.Resource, a.RequestedBy, ts(a.ExpiresAt), dash(a.Reason)})
	}
	table(std.Out, []string{"ID", "STATUS", "OP", "RESOURCE", "REQUESTED BY", "EXPIRES", "REASON"}, rows)
	e.pageHint(p)
	return exitOK
}

func runRespond(ctx context.Context, args []string, env func(string) string, std stdio) int {
	fs := newFlags("mcp:respond", "mcp:respond <approval-id> --approve|--deny [--reason TEXT] [--json]",
		"Approves or denies an approval request (a listed approver). Approving the last\nvote needed grants access until the request's expiry.", std)
	approve := fs.Bool("approve", false, "approve the request")
	deny := fs.Bool("deny", false, "deny the request")
	reason := fs.String("reason", "", "why; recorded in the audit log")
	jsonOut := fs.Bool("json", false, "print JSON")
	pos, code, done := parseArgs(fs, args, 1)
	if done {
		return code
	}
	if *approve == *deny {
		fmt.Fprintln(std.Err, "vsecure mcp:respond: give exactly one of --approve or --deny")
		fs.Usage()
		return exitUsage
	}
	e, code, ok := connect(fs.Name(), env, std, *jsonOut)
	if !ok {
		return code
	}
	action := string(vsecure.ActionDeny)
	if *approve {
		action = string(vsecure.ActionApprove)
	}
	a, err := e.api.Respond(ctx, pos[0], api.Respond{Action: action, Reason: *reason})
	if err != nil {
		return e.fail(err)
	}
	if e.json {
		return e.emit(a)
	}
	switch a.Status {
	case vsecure.StatusPending:
		fmt.Fprintf(std.Out, "Approval %s: vote recorded (%d of %d approvals)\n", a.ID, a.Approvals, a.RequiredApprovals)
	case vsecure.StatusApproved:
		fmt.Fprintf(std.Out, "Approval %s: approved by %s; access to %s %s until %s\n", a.ID, a.ApprovedBy, a.Operation, a.Resource, ts(a.ExpiresAt))
	default:
		fmt.Fprintf(std.Out, "Approval %s: %s\n", a.ID, a.Status)
	}
	return exitOK
}

func runRevoke(ctx context.Context, args []string, env func(string) string, std stdio) int {
	fs := newFlags("mcp:revoke", "mcp:revoke <approval-id> [--json]", "Ends the access an approved request granted, at once (listed approver or admin).", std)
	jsonOut := fs.Bool("json", false, "print JSON")
	pos, code, done := parseArgs(fs, args, 1)
	if done {
		return code
	}
	e, code, ok := connect(fs.Name(), env, std, *jsonOut)
	if !ok {
		return code
	}
	a, err := e.api.Revoke(ctx, pos[0])
	if err != nil {
		return e.fail(err)
	}
	if e.json {
		return e.emit(a)
	}
	fmt.Fprintf(std.Out, "Approval %s: revoked by %s at %s\n", a.ID, a.RevokedBy, tsp(a.RevokedAt))
	return exitOK
}

func runAudit(ctx context.Context, args []string, env func(string) string, std stdio) int {
	fs := newFlags("mcp:audit", "mcp:audit [--resource 'production/*'] [--actor ID] [--operation OP] [--since 24h|RFC3339] [--until RFC3339] [--failed] [--all] [--json]",
		"Queries the audit log, newest first (admin or auditor). A short resource such as\nproduction/* means vsecure://secrets/production/*; quote it so the shell does not expand it.", std)
	resource := fs.String("resource", "", "URI or pattern")
	actor := fs.String("actor", "", "principal id")
	operation := fs.String("operation", "", "e.g. read, write, request_approval, approve, deny")
	since := fs.String("since", "", "RFC 3339 time or a duration back from now (24h, 7d)")
	until := fs.String("until", "", "RFC 3339 time")
	failed := fs.Bool("failed", false, "only refused or failed operations")
	jsonOut := fs.Bool("json", false, "print JSON")
	var l listFlags
	l.register(fs)
	if _, code, done := parseArgs(fs, args, 0); done {
		return code
	}
	from, err := mcpserver.SinceTime(*since, time.Now())
	if err != nil {
		fmt.Fprintf(std.Err, "vsecure mcp:audit: %s\n", vsecure.ErrorMessage(err))
		return exitUsage
	}
	e, code, ok := connect(fs.Name(), env, std, *jsonOut)
	if !ok {
		return code
	}
	q := api.AuditQuery{Actor: *actor, Operation: *operation, From: from, To: *until, Limit: l.limit}
	if *resource != "" {
		q.Resource = vsecure.ExpandShort(*resource)
	}
	if *failed {
		f := false
		q.Success = &f
	}
	logs, p, err := collect(ctx, l, func(ctx context.Context, cursor string) ([]vsecure.Entry, api.Pagination, error) {
		q.Cursor = cursor
		return e.api.Audit(ctx, q)
	})
	if err != nil {
		return e.fail(err)
	}
	if e.json {
		if logs == nil {
			logs = []vsecure.Entry{}
		}
		return e.emit(map[string]any{"logs": logs, "pagination": p})
	}
	rows := make([][]string, 0, len(logs))
	for _, l := range logs {
		result := "ok"
		if !l.Success {
			result = dash(l.Error)
		}
		rows = append(rows, []string{ts(l.Timestamp), l.Actor, l.Operation, dash(l.Resource), result, dash(l.ApprovalID)})
	}
	table(std.Out, []string{"TIME", "ACTOR", "OPERATION", "RESOURCE", "RESULT", "APPROVAL"}, rows)
	e.pageHint(p)
	return exitOK
}

func runSecretPut(ctx context.Context, args []string, env func(string) string, std stdio) int {
	fs := newFlags("secrets:put", "secrets:put <uri> [--value V] [--name N] [--description D] [--meta k=v ...] [--json]",
		"Writes a new version of a secret (admin, or an agent whose policy permits write).\nThe value is read from stdin unless --value is given (stdin keeps it out of shell history);\none trailing newline is dropped.", std)
	value := fs.String("value", "", "the value (default: read stdin)")
	name := fs.String("name", "", "human-readable name")
	desc := fs.String("description", "", "description")
	var meta stringList
	fs.Var(&meta, "meta", "metadata key=value (repeatable)")
	jsonOut := fs.Bool("json", false, "print JSON")
	pos, code, done := parseArgs(fs, args, 1)
	if done {
		return code
	}
	v := *value
	valueSet := false
	fs.Visit(func(f *flag.Flag) { valueSet = valueSet || f.Name == "value" })
	if !valueSet {
		b, err := io.ReadAll(io.LimitReader(std.In, vsecure.MaxSecretBytes+2))
		if err != nil {
			fmt.Fprintf(std.Err, "vsecure secrets:put: reading stdin: %v\n", err)
			return exitUsage
		}
		v = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	}
	w := api.SecretWrite{Value: &v, Name: *name, Description: *desc}
	if len(meta) > 0 {
		w.Metadata = map[string]string{}
		for _, kv := range meta {
			k, val, ok := strings.Cut(kv, "=")
			if !ok {
				fmt.Fprintf(std.Err, "vsecure secrets:put: --meta %q is not key=value\n", kv)
				return exitUsage
			}
			w.Metadata[k] = val
		}
	}
	e, code, ok := connect(fs.Name(), env, std, *jsonOut)
	if !ok {
		return code
	}
	info, err := e.api.PutSecret(ctx, vsecure.ExpandShort(pos[0]), w)
	if err != nil {
		return e.fail(err)
	}
	if e.json {
		return e.emit(info)
	}
	fmt.Fprintf(std.Out, "stored %s version %d\n", info.URI, info.Version)
	return exitOK
}

func runSecretGet(ctx context.Context, args []string, env func(string) string, std stdio) int {
	fs := newFlags("secrets:get", "secrets:get <uri> [--version N] [--json]",
		"Prints a secret's value followed by a newline (--json: the value with its metadata).\nA gated secret fails with approval_required until an approval is granted (see mcp:approve).", std)
	ver := fs.Int("version", 0, "version to read (default latest)")
	jsonOut := fs.Bool("json", false, "print JSON")
	pos, code, done := parseArgs(fs, args, 1)
	if done {
		return code
	}
	e, code, ok := connect(fs.Name(), env, std, *jsonOut)
	if !ok {
		return code
	}
	s, err := e.api.GetSecret(ctx, vsecure.ExpandShort(pos[0]), *ver)
	if err != nil {
		return e.fail(err)
	}
	if e.json {
		return e.emit(s)
	}
	fmt.Fprintln(std.Out, s.Value)
	return exitOK
}

func runSecretList(ctx context.Context, args []string, env func(string) string, std stdio) int {
	fs := newFlags("secrets:list", "secrets:list [--pattern 'production/*'] [--all] [--json]", "Lists the secrets you may use, with metadata and never values.", std)
	pattern := fs.String("pattern", "", "URI pattern ending in /*")
	jsonOut := fs.Bool("json", false, "print JSON")
	var l listFlags
	l.register(fs)
	if _, code, done := parseArgs(fs, args, 0); done {
		return code
	}
	e, code, ok := connect(fs.Name(), env, std, *jsonOut)
	if !ok {
		return code
	}
	q := api.SecretsQuery{Limit: l.limit}
	if *pattern != "" {
		q.Pattern = vsecure.ExpandShort(*pattern)
	}
	items, p, err := collect(ctx, l, func(ctx context.Context, cursor string) ([]api.SecretInfo, api.Pagination, error) {
		q.Cursor = cursor
		return e.api.ListSecrets(ctx, q)
	})
	if err != nil {
		return e.fail(err)
	}
	if e.json {
		if items == nil {
			items = []api.SecretInfo{}
		}
		return e.emit(map[string]any{"secrets": items, "pagination": p})
	}
	rows := make([][]string, 0, len(items))
	for _, s := range items {
		rows = append(rows, []string{s.URI, strconv.Itoa(s.Version), ts(s.UpdatedAt), dash(s.UpdatedBy), strconv.FormatInt(s.AccessCount, 10)})
	}
	table(std.Out, []string{"URI", "VERSION", "UPDATED", "BY", "READS"}, rows)
	e.pageHint(p)
	return exitOK
}

func runKeyCreate(ctx context.Context, args []string, env func(string) string, std stdio) int {
	fs := newFlags("keys:create", "keys:create --principal ID --role ROLE[,ROLE] [--slack-user U123] [--json]",
		"Creates an API key (admin). Roles: admin, approver, auditor, agent. The key is\nprinted once and cannot be shown again.", std)
	principal := fs.String("principal", "", "principal id the key acts as (required)")
	var roles stringList
	fs.Var(&roles, "role", "role (repeatable or comma-separated; required)")
	slack := fs.String("slack-user", "", "Slack user id of an approver")
	jsonOut := fs.Bool("json", false, "print JSON")
	if _, code, done := parseArgs(fs, args, 0); done {
		return code
	}
	if *principal == "" || len(roles) == 0 {
		fmt.Fprintln(std.Err, "vsecure keys:create: --principal and --role are required")
		fs.Usage()
		return exitUsage
	}
	e, code, ok := connect(fs.Name(), env, std, *jsonOut)
	if !ok {
		return code
	}
	k, err := e.api.CreateKey(ctx, api.KeyRequest{Principal: *principal, Roles: roles, SlackUserID: *slack})
	if err != nil {
		return e.fail(err)
	}
	if e.json {
		return e.emit(k)
	}
	rs := make([]string, len(k.Roles))
	for i, r := range k.Roles {
		rs[i] = string(r)
	}
	fmt.Fprintf(std.Out, "created %s for %s (%s)\nAPI key (shown once): %s\n", k.ID, k.Principal, strings.Join(rs, ", "), k.Secret)
	return exitOK
}

func runKeyList(ctx context.Context, args []string, env func(string) string, std stdio) int {
	fs := newFlags("keys:list", "keys:list [--all] [--json]", "Lists API keys without their secrets (admin).", std)
	jsonOut := fs.Bool("json", false, "print JSON")
	var l listFlags
	l.register(fs)
	if _, code, done := parseArgs(fs, args, 0); done {
		return code
	}
	e, code, ok := connect(fs.Name(), env, std, *jsonOut)
	if !ok {
		return code
	}
	keys, p, err := collect(ctx, l, func(ctx context.Context, cursor string) ([]vsecure.Key, api.Pagination, error) {
		return e.api.ListKeys(ctx, l.limit, cursor)
	})
	if err != nil {
		return e.fail(err)
	}
	if e.json {
		if keys == nil {
			keys = []vsecure.Key{}
		}
		return e.emit(map[string]any{"keys": keys, "pagination": p})
	}
	rows := make([][]string, 0, len(keys))
	for _, k := range keys {
		rs := make([]string, len(k.Roles))
		for i, r := range k.Roles {
			rs[i] = string(r)
		}
		state := "active"
		if k.RevokedAt != nil {
			state = "revoked " + tsp(k.RevokedAt)
		} else if k.ExpiresAt != nil {
			state = "expires " + tsp(k.ExpiresAt)
		}
		rows = append(rows, []string{k.ID, k.Principal, strings.Join(rs, ","), ts(k.CreatedAt), tsp(k.LastUsedAt), state})
	}
	table(std.Out, []string{"ID", "PRINCIPAL", "ROLES", "CREATED", "LAST USED", "STATE"}, rows)
	e.pageHint(p)
	return exitOK
}

func runKeyRevoke(ctx context.Context, args []string, env func(string) string, std stdio) int {
	fs := newFlags("keys:revoke", "keys:revoke <key-id> [--json]", "Revokes an API key at once (admin).", std)
	jsonOut := fs.Bool("json", false, "print JSON")
	pos, code, done := parseArgs(fs, args, 1)
	if done {
		return code
	}
	e, code, ok := connect(fs.Name(), env, std, *jsonOut)
	if !ok {
		return code
	}
	k, err := e.api.DeleteKey(ctx, pos[0])
	if err != nil {
		return e.fail(err)
	}
	if e.json {
		return e.emit(k)
	}
	fmt.Fprintf(std.Out, "revoked %s (%s)\n", k.ID, k.Principal)
	return exitOK
}

func runKeyRotate(ctx context.Context, args []string, env func(string) string, std stdio) int {
	fs := newFlags("keys:rotate", "keys:rotate <key-id> [--overlap 1h] [--json]",
		"Creates a new API key for the same principal and roles and makes the old key\nexpire after the overlap (admin). The new key is printed once.", std)
	overlap := fs.Duration("overlap", gate.DefaultOverlap, "how long the old key keeps working (0s ends it now; at most 720h)")
	jsonOut := fs.Bool("json", false, "print JSON")
	pos, code, done := parseArgs(fs, args, 1)
	if done {
		return code
	}
	if *overlap < 0 || *overlap > gate.MaxOverlap || *overlap%time.Second != 0 {
		fmt.Fprintln(std.Err, "vsecure keys:rotate: --overlap must be whole seconds between 0s and 720h")
		return exitUsage
	}
	e, code, ok := connect(fs.Name(), env, std, *jsonOut)
	if !ok {
		return code
	}
	k, err := e.api.RotateKey(ctx, pos[0], *overlap)
	if err != nil {
		return e.fail(err)
	}
	if e.json {
		return e.emit(k)
	}
	fmt.Fprintf(std.Out, "rotated %s -> %s for %s\n%s stops working at %s\nAPI key (shown once): %s\n",
		k.Replaces.ID, k.ID, k.Principal, k.Replaces.ID, tsp(k.Replaces.ExpiresAt), k.Secret)
	return exitOK
}

func runKeySlack(ctx context.Context, args []string, env func(string) string, std stdio) int {
	fs := newFlags("keys:slack", "keys:slack <key-id> --slack-user U123 [--json]",
		"Maps a key's principal to a Slack user for Slack approvals (admin). An empty\n--slack-user \"\" removes the mapping.", std)
	slack := fs.String("slack-user", "", "Slack user id (required; \"\" removes it)")
	jsonOut := fs.Bool("json", false, "print JSON")
	pos, code, done := parseArgs(fs, args, 1)
	if done {
		return code
	}
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == "slack-user" })
	if !set {
		fmt.Fprintln(std.Err, "vsecure keys:slack: --slack-user is required")
		fs.Usage()
		return exitUsage
	}
	e, code, ok := connect(fs.Name(), env, std, *jsonOut)
	if !ok {
		return code
	}
	k, err := e.api.SetKeySlackUser(ctx, pos[0], *slack)
	if err != nil {
		return e.fail(err)
	}
	if e.json {
		return e.emit(k)
	}
	if k.SlackUserID == "" {
		fmt.Fprintf(std.Out, "%s (%s) has no Slack user\n", k.ID, k.Principal)
	} else {
		fmt.Fprintf(std.Out, "%s (%s) approves from Slack as %s\n", k.ID, k.Principal, k.SlackUserID)
	}
	return exitOK
}
