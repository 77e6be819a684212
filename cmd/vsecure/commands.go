package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/client"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/mcpserver"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// commands is the CLI: every command, in the order `vsecure help` lists
// them. A command that calls the API is an apiCall row: its flags, the
// client call and how the result prints; parsing, connecting, errors and
// --json are apiCall's. The others (servers, AWS, offline checks) bring
// their own action.
func commands() []command {
	return []command{
		{
			name: "dev", summary: "run the local server on its embedded store",
			synopsis: "dev [--addr host:port] [--data dir] [--keys dir] [--store embedded|dynamodb]",
			about: "Runs the vsecure API on this machine, on its embedded store (or DynamoDB with --store\n" +
				"dynamodb). On its first start it generates an admin API key and prints it once.",
			env:   devEnv,
			setup: setupDev,
		},
		{
			name: "mcp serve", summary: "MCP server on stdio for Claude Desktop and other agents",
			synopsis: "mcp serve",
			about:    "Serves the Model Context Protocol on stdin/stdout, acting as the principal\nof VSECURE_API_KEY against the vsecure API.",
			env:      mcpEnv,
			setup:    setupMCPServe,
		},
		{
			name: "mcp config", summary: "print or write the vsecure entry of an MCP client's config",
			synopsis: "mcp config --client claude-desktop|claude-code|cursor|vscode [--write [--force] [--config PATH]] [--url URL]",
			about: "Prints the configuration entry that starts `vsecure mcp serve` from that client; --write merges it\n" +
				"into the client's file (default: claude-desktop its per-OS file, claude-code ./.mcp.json, cursor\n" +
				"~/.cursor/mcp.json, vscode ./.vscode/mcp.json), keeping the old file as FILE.bak-TIMESTAMP.\n" +
				"The entry keeps the key out of the file where the client allows it: ${VSECURE_API_KEY} (Claude Code),\n" +
				"${env:VSECURE_API_KEY} (Cursor), a password input (VS Code). For Claude Desktop, install the bundle.",
			env:   mcpConfigEnv,
			setup: setupMCPConfig,
		},
		{
			name: "mcp:resources", summary: "list resource policies",
			synopsis: "mcp:resources [--json]",
			about:    "Lists the resource policies: which vsecure:// URIs exist, what they permit and whether approval is required.",
			setup: apiCall[listing[api.ResourceView]]{
				flags: func(*apiFlags) callFunc[listing[api.ResourceView]] {
					return func(ctx context.Context, c *client.Client, _ []string) (listing[api.ResourceView], error) {
						rs, err := c.ListResources(ctx)
						return listing[api.ResourceView]{items: rs}, err
					}
				},
				out: columns("resources", []string{"URI", "PERMISSIONS", "APPROVAL", "NAME"}, func(r api.ResourceView) []string {
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
					return []string{r.URI, dash(strings.Join(perms, ",")), approval, dash(r.Name)}
				}),
			}.setup,
		},
		{
			name: "mcp:configure", summary: "create or replace resource policies from a JSON file",
			synopsis: "mcp:configure -f policy.json [--json]",
			about: "Creates or replaces resource policies (admin). The file holds one policy object\n" +
				`({"uri": "vsecure://secrets/production/*", "permissions": ["read"], "requiresApproval": true, ...})` + "\nor an array of them; - reads stdin.",
			setup: apiCall[[]api.ResourceView]{
				flags: func(fs *apiFlags) callFunc[[]api.ResourceView] {
					file := fs.String("f", "", "policy JSON file, or - for stdin (required)")
					var policies []api.ResourceConfig
					fs.check(func([]string) error {
						if *file == "" {
							return badFlags("-f is required")
						}
						var raw []byte
						var err error
						if *file == "-" {
							raw, err = io.ReadAll(fs.std.In)
						} else {
							raw, err = os.ReadFile(*file)
						}
						if err != nil {
							return badInput("%v", err)
						}
						if policies, err = decodePolicies(raw); err != nil {
							return badInput("%s: %v", *file, err)
						}
						return nil
					})
					return func(ctx context.Context, c *client.Client, _ []string) ([]api.ResourceView, error) {
						var out []api.ResourceView
						for _, p := range policies {
							p.URI = vsecure.ExpandShort(p.URI)
							v, err := c.Configure(ctx, p)
							if err != nil {
								return nil, err
							}
							out = append(out, v)
							// As it goes: when a later policy fails, the output
							// says which ones are in place.
							if !*fs.json {
								fmt.Fprintf(fs.std.Out, "configured %s\n", v.URI)
							}
						}
						return out, nil
					}
				},
				out: printer[[]api.ResourceView]{json: func(rs []api.ResourceView) any { return map[string]any{"resources": rs} }},
			}.setup,
		},
		{
			name: "mcp:approve", summary: "request approval for an operation on a resource",
			synopsis: "mcp:approve --resource URI [--operation read|write] --reason TEXT [--ttl SECONDS] [--json]",
			about:    "Requests approval for one operation on one resource. If the policy needs no\napproval (or auto-approves), the request is approved at once and its access token is printed\n(shown only this once; valid until expiresAt).",
			args:     -1,
			setup: apiCall[api.ApprovalView]{
				flags: func(fs *apiFlags) callFunc[api.ApprovalView] {
					resource := fs.String("resource", "", "resource URI, e.g. vsecure://secrets/production/DATABASE_URL or production/DATABASE_URL (required)")
					op := fs.String("operation", "read", "read or write")
					reason := fs.String("reason", "", "why access is needed; shown to approvers")
					ttl := fs.Int("ttl", 0, "seconds until the request and the access it grants expire (default 3600)")
					fs.check(func(pos []string) error {
						if *resource == "" && len(pos) == 1 {
							*resource = pos[0]
						} else if *resource == "" || len(pos) > 0 {
							return badFlags("--resource is required")
						}
						return nil
					})
					return func(ctx context.Context, c *client.Client, _ []string) (api.ApprovalView, error) {
						r := api.ApprovalRequest{Resource: vsecure.ExpandShort(*resource), Operation: *op, Reason: *reason}
						if *ttl != 0 {
							r.TTL = ttl
						}
						return c.RequestApproval(ctx, r)
					}
				},
				out: text(func(w io.Writer, a api.ApprovalView) {
					fmt.Fprintf(w, "Approval %s: %s %s is %s (expires %s)\n", a.ID, a.Operation, a.Resource, a.Status, ts(a.ExpiresAt))
					if a.Status == vsecure.StatusPending {
						fmt.Fprintf(w, "Approvers: %s\nDecide at: %s\n", dash(strings.Join(a.Approvers, ", ")), a.ApprovalURL)
					}
					if a.AccessToken != "" {
						fmt.Fprintf(w, "Access token (shown once): %s\n", a.AccessToken)
					}
				}),
			}.setup,
		},
		{
			name: "mcp:approvals", summary: "list approval requests",
			synopsis: "mcp:approvals [--status STATUS] [--resource URI] [--all] [--json]",
			about:    "Lists the approval requests you may see, newest first.",
			setup: apiCall[listing[api.ApprovalView]]{
				flags: func(fs *apiFlags) callFunc[listing[api.ApprovalView]] {
					status := fs.String("status", "", "pending, approved, denied, expired, revoked or cancelled")
					resource := fs.String("resource", "", "a concrete resource URI (short form production/DB works)")
					return paged(fs, func(ctx context.Context, c *client.Client, limit int, cursor string) ([]api.ApprovalView, api.Pagination, error) {
						return c.ListApprovals(ctx, api.ApprovalsQuery{Status: *status, Resource: expand(*resource), Limit: limit, Cursor: cursor})
					})
				},
				out: columns("data", []string{"ID", "STATUS", "OP", "RESOURCE", "REQUESTED BY", "EXPIRES", "REASON"}, func(a api.ApprovalView) []string {
					return []string{a.ID, string(a.Status), string(a.Operation), a.Resource, a.Requester(), ts(a.ExpiresAt), dash(a.Reason)}
				}),
			}.setup,
		},
		{
			name: "mcp:respond", summary: "approve or deny an approval request",
			synopsis: "mcp:respond <approval-id> --approve|--deny [--reason TEXT] [--json]",
			about:    "Approves or denies an approval request (a listed approver). Approving the last\nvote needed grants access until the request's expiry.",
			args:     1,
			setup: apiCall[api.ApprovalView]{
				flags: func(fs *apiFlags) callFunc[api.ApprovalView] {
					approve := fs.Bool("approve", false, "approve the request")
					deny := fs.Bool("deny", false, "deny the request")
					reason := fs.String("reason", "", "why; recorded in the audit log")
					fs.check(func([]string) error {
						if *approve == *deny {
							return badFlags("give exactly one of --approve or --deny")
						}
						return nil
					})
					return func(ctx context.Context, c *client.Client, pos []string) (api.ApprovalView, error) {
						action := string(vsecure.ActionDeny)
						if *approve {
							action = string(vsecure.ActionApprove)
						}
						return c.Respond(ctx, pos[0], api.Respond{Action: action, Reason: *reason})
					}
				},
				out: text(func(w io.Writer, a api.ApprovalView) {
					switch a.Status {
					case vsecure.StatusPending:
						fmt.Fprintf(w, "Approval %s: vote recorded (%d of %d approvals)\n", a.ID, a.Approvals, a.RequiredApprovals)
					case vsecure.StatusApproved:
						fmt.Fprintf(w, "Approval %s: approved by %s; access to %s %s until %s\n", a.ID, a.ApprovedBy, a.Operation, a.Resource, ts(a.ExpiresAt))
					default:
						fmt.Fprintf(w, "Approval %s: %s\n", a.ID, a.Status)
					}
				}),
			}.setup,
		},
		{
			name: "mcp:revoke", summary: "end access granted by an approval",
			synopsis: "mcp:revoke <approval-id> [--json]",
			about:    "Ends the access an approved request granted, at once (listed approver or admin).",
			args:     1,
			setup: apiCall[api.ApprovalView]{
				flags: func(*apiFlags) callFunc[api.ApprovalView] {
					return func(ctx context.Context, c *client.Client, pos []string) (api.ApprovalView, error) {
						return c.Revoke(ctx, pos[0])
					}
				},
				out: text(func(w io.Writer, a api.ApprovalView) {
					fmt.Fprintf(w, "Approval %s: revoked by %s at %s\n", a.ID, a.RevokedBy, tsp(a.RevokedAt))
				}),
			}.setup,
		},
		{
			name: "mcp:approval", summary: "show one approval request",
			synopsis: "mcp:approval <approval-id> [--json]",
			about:    "Shows one approval request (its requester, the human it acts for, its approvers, or an admin).",
			args:     1,
			setup: apiCall[api.ApprovalView]{
				flags: func(*apiFlags) callFunc[api.ApprovalView] {
					return func(ctx context.Context, c *client.Client, pos []string) (api.ApprovalView, error) {
						return c.GetApproval(ctx, pos[0])
					}
				},
				out: text(func(w io.Writer, a api.ApprovalView) {
					fmt.Fprintf(w, "Approval %s: %s %s is %s (expires %s)\n", a.ID, a.Operation, a.Resource, a.Status, ts(a.ExpiresAt))
					fmt.Fprintf(w, "Requested by: %s\nReason: %s\n", a.Requester(), dash(a.Reason))
					fmt.Fprintf(w, "Approvers: %s (%d of %d approvals)\n", dash(strings.Join(a.Approvers, ", ")), a.Approvals, a.RequiredApprovals)
					if a.Status == vsecure.StatusPending {
						fmt.Fprintf(w, "Decide at: %s\n", a.ApprovalURL)
					}
				}),
			}.setup,
		},
		{
			name: "mcp:cancel", summary: "cancel an approval request",
			synopsis: "mcp:cancel <approval-id> [--json]",
			about:    "Withdraws a request (its requester, the human it acts for, or an admin): a pending\nrequest becomes cancelled, an approved one's access ends at once.",
			args:     1,
			setup: apiCall[api.ApprovalView]{
				flags: func(*apiFlags) callFunc[api.ApprovalView] {
					return func(ctx context.Context, c *client.Client, pos []string) (api.ApprovalView, error) {
						return c.CancelApproval(ctx, pos[0])
					}
				},
				out: text(func(w io.Writer, a api.ApprovalView) {
					if a.Status == vsecure.StatusRevoked {
						fmt.Fprintf(w, "Approval %s: revoked by %s at %s\n", a.ID, a.RevokedBy, tsp(a.RevokedAt))
						return
					}
					fmt.Fprintf(w, "Approval %s: cancelled by %s at %s\n", a.ID, a.CancelledBy, tsp(a.CancelledAt))
				}),
			}.setup,
		},
		{
			name: "mcp:audit", summary: "query the audit log",
			synopsis: "mcp:audit [--resource 'production/*'] [--actor ID] [--operation OP] [--since 24h|RFC3339] [--until RFC3339] [--failed] [--all] [--json]",
			about:    "Queries the audit log, newest first (admin or auditor). A short resource such as\nproduction/* means vsecure://secrets/production/*; quote it so the shell does not expand it.",
			setup: apiCall[listing[vsecure.Entry]]{
				flags: func(fs *apiFlags) callFunc[listing[vsecure.Entry]] {
					resource := fs.String("resource", "", "URI or pattern")
					actor := fs.String("actor", "", "principal id")
					operation := fs.String("operation", "", "e.g. read, write, request_approval, approve, deny")
					since := fs.String("since", "", "RFC 3339 time or a duration back from now (24h, 7d)")
					until := fs.String("until", "", "RFC 3339 time")
					failed := fs.Bool("failed", false, "only refused or failed operations")
					var from string
					fs.check(func([]string) (err error) {
						if from, err = mcpserver.SinceTime(*since, time.Now()); err != nil {
							return badInput("%s", vsecure.ErrorMessage(err))
						}
						return nil
					})
					return paged(fs, func(ctx context.Context, c *client.Client, limit int, cursor string) ([]vsecure.Entry, api.Pagination, error) {
						q := api.AuditQuery{Resource: expand(*resource), Actor: *actor, Operation: *operation, From: from, To: *until, Limit: limit, Cursor: cursor}
						if *failed {
							f := false
							q.Success = &f
						}
						return c.Audit(ctx, q)
					})
				},
				out: columns("logs", []string{"TIME", "ACTOR", "OPERATION", "RESOURCE", "RESULT", "APPROVAL"}, func(l vsecure.Entry) []string {
					result := "ok"
					if !l.Success {
						result = dash(l.Error)
					}
					return []string{ts(l.Timestamp), l.Actor, l.Operation, dash(l.Resource), result, dash(l.ApprovalID)}
				}),
			}.setup,
		},
		{
			name: "secrets:put", summary: "write a new version of a secret (value from stdin or --value)",
			synopsis: "secrets:put <uri> [--value V] [--name N] [--description D] [--meta k=v ...] [--json]",
			about:    "Writes a new version of a secret (admin, or an agent whose policy permits write).\nThe value is read from stdin unless --value is given (stdin keeps it out of shell history);\none trailing newline is dropped.",
			args:     1,
			setup: apiCall[api.SecretInfo]{
				flags: func(fs *apiFlags) callFunc[api.SecretInfo] {
					value := fs.String("value", "", "the value (default: read stdin)")
					name := fs.String("name", "", "human-readable name")
					desc := fs.String("description", "", "description")
					var meta stringList
					fs.Var(&meta, "meta", "metadata key=value (repeatable)")
					var w api.SecretWrite
					fs.check(func([]string) error {
						v := *value
						if !isSet(fs.FlagSet, "value") {
							b, err := io.ReadAll(io.LimitReader(fs.std.In, vsecure.MaxSecretBytes+2))
							if err != nil {
								return badInput("reading stdin: %v", err)
							}
							v = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
						}
						w = api.SecretWrite{Value: &v, Name: *name, Description: *desc}
						if len(meta) > 0 {
							w.Metadata = map[string]string{}
							for _, kv := range meta {
								k, val, ok := strings.Cut(kv, "=")
								if !ok {
									return badInput("--meta %q is not key=value", kv)
								}
								w.Metadata[k] = val
							}
						}
						return nil
					})
					return func(ctx context.Context, c *client.Client, pos []string) (api.SecretInfo, error) {
						return c.PutSecret(ctx, vsecure.ExpandShort(pos[0]), w)
					}
				},
				out: text(func(w io.Writer, info api.SecretInfo) {
					fmt.Fprintf(w, "stored %s version %d\n", info.URI, info.Version)
				}),
			}.setup,
		},
		{
			name: "secrets:get", summary: "print a secret's value",
			synopsis: "secrets:get <uri> [--version N] [--json]",
			about:    "Prints a secret's value followed by a newline (--json: the value with its metadata).\nA gated secret fails with approval_required until an approval is granted (see mcp:approve).",
			args:     1,
			setup: apiCall[api.SecretRead]{
				flags: func(fs *apiFlags) callFunc[api.SecretRead] {
					ver := fs.Int("version", 0, "version to read (default latest)")
					return func(ctx context.Context, c *client.Client, pos []string) (api.SecretRead, error) {
						return c.GetSecret(ctx, vsecure.ExpandShort(pos[0]), *ver)
					}
				},
				out: text(func(w io.Writer, s api.SecretRead) { fmt.Fprintln(w, s.Value) }),
			}.setup,
		},
		{
			name: "secrets:list", summary: "list secrets you may use (never values)",
			synopsis: "secrets:list [--pattern 'production/*'] [--all] [--json]",
			about:    "Lists the secrets you may use, with metadata and never values.",
			setup: apiCall[listing[api.SecretInfo]]{
				flags: func(fs *apiFlags) callFunc[listing[api.SecretInfo]] {
					pattern := fs.String("pattern", "", "URI pattern ending in /*")
					return paged(fs, func(ctx context.Context, c *client.Client, limit int, cursor string) ([]api.SecretInfo, api.Pagination, error) {
						return c.ListSecrets(ctx, api.SecretsQuery{Pattern: expand(*pattern), Limit: limit, Cursor: cursor})
					})
				},
				out: columns("secrets", []string{"URI", "VERSION", "UPDATED", "BY", "READS"}, func(s api.SecretInfo) []string {
					return []string{s.URI, strconv.Itoa(s.Version), ts(s.UpdatedAt), dash(s.UpdatedBy), strconv.FormatInt(s.AccessCount, 10)}
				}),
			}.setup,
		},
		{
			name: "keys:create", summary: "create an API key for a principal",
			synopsis: "keys:create --principal ID --role ROLE[,ROLE] [--slack-user U123] [--on-behalf-of HUMAN] [--json]",
			about:    "Creates an API key (admin). Roles: admin, approver, auditor, agent. The key is\nprinted once and cannot be shown again. --on-behalf-of names the human an agent\nkey acts for: they count as the requester of its approvals and cannot decide them.",
			setup: apiCall[api.CreatedKey]{
				flags: func(fs *apiFlags) callFunc[api.CreatedKey] {
					principal := fs.String("principal", "", "principal id the key acts as (required)")
					var roles stringList
					fs.Var(&roles, "role", "role (repeatable or comma-separated; required)")
					slack := fs.String("slack-user", "", "Slack user id of an approver")
					onBehalfOf := fs.String("on-behalf-of", "", "human principal the key acts for (fixed for the key's life)")
					fs.check(func([]string) error {
						if *principal == "" || len(roles) == 0 {
							return badFlags("--principal and --role are required")
						}
						return nil
					})
					return func(ctx context.Context, c *client.Client, _ []string) (api.CreatedKey, error) {
						return c.CreateKey(ctx, api.KeyRequest{Principal: *principal, Roles: roles, SlackUserID: *slack, OnBehalfOf: *onBehalfOf})
					}
				},
				out: text(func(w io.Writer, k api.CreatedKey) {
					fmt.Fprintf(w, "created %s for %s (%s)\nAPI key (shown once): %s\n", k.ID, vsecure.RequesterLabel(k.Principal, k.OnBehalfOf), roleList(k.Roles, ", "), k.Secret)
				}),
			}.setup,
		},
		{
			name: "keys:list", summary: "list API keys (never their secrets)",
			synopsis: "keys:list [--all] [--json]",
			about:    "Lists API keys without their secrets (admin).",
			setup: apiCall[listing[vsecure.Key]]{
				flags: func(fs *apiFlags) callFunc[listing[vsecure.Key]] {
					return paged(fs, func(ctx context.Context, c *client.Client, limit int, cursor string) ([]vsecure.Key, api.Pagination, error) {
						return c.ListKeys(ctx, limit, cursor)
					})
				},
				out: columns("keys", []string{"ID", "PRINCIPAL", "ROLES", "CREATED", "LAST USED", "STATE"}, func(k vsecure.Key) []string {
					state := "active"
					if k.RevokedAt != nil {
						state = "revoked " + tsp(k.RevokedAt)
					} else if k.ExpiresAt != nil {
						state = "expires " + tsp(k.ExpiresAt)
					}
					return []string{k.ID, k.Principal, roleList(k.Roles, ","), ts(k.CreatedAt), tsp(k.LastUsedAt), state}
				}),
			}.setup,
		},
		{
			name: "keys:revoke", summary: "revoke an API key",
			synopsis: "keys:revoke <key-id> [--json]",
			about:    "Revokes an API key at once (admin).",
			args:     1,
			setup: apiCall[vsecure.Key]{
				flags: func(*apiFlags) callFunc[vsecure.Key] {
					return func(ctx context.Context, c *client.Client, pos []string) (vsecure.Key, error) {
						return c.DeleteKey(ctx, pos[0])
					}
				},
				out: text(func(w io.Writer, k vsecure.Key) { fmt.Fprintf(w, "revoked %s (%s)\n", k.ID, k.Principal) }),
			}.setup,
		},
		{
			name: "keys:rotate", summary: "replace an API key, keeping the old one for an overlap",
			synopsis: "keys:rotate <key-id> [--overlap 1h] [--json]",
			about:    "Creates a new API key for the same principal and roles and makes the old key\nexpire after the overlap (admin). The new key is printed once.",
			args:     1,
			setup: apiCall[api.RotatedKey]{
				flags: func(fs *apiFlags) callFunc[api.RotatedKey] {
					overlap := fs.Duration("overlap", gate.DefaultOverlap, "how long the old key keeps working (0s ends it now; at most 720h)")
					fs.check(func([]string) error {
						if *overlap < 0 || *overlap > gate.MaxOverlap || *overlap%time.Second != 0 {
							return badInput("--overlap must be whole seconds between 0s and 720h")
						}
						return nil
					})
					return func(ctx context.Context, c *client.Client, pos []string) (api.RotatedKey, error) {
						return c.RotateKey(ctx, pos[0], *overlap)
					}
				},
				out: text(func(w io.Writer, k api.RotatedKey) {
					fmt.Fprintf(w, "rotated %s -> %s for %s\n%s stops working at %s\nAPI key (shown once): %s\n",
						k.Replaces.ID, k.ID, k.Principal, k.Replaces.ID, tsp(k.Replaces.ExpiresAt), k.Secret)
				}),
			}.setup,
		},
		{
			name: "keys:slack", summary: "map a key's principal to a Slack user for Slack approvals",
			synopsis: "keys:slack <key-id> --slack-user U123 [--json]",
			about:    "Maps a key's principal to a Slack user for Slack approvals (admin). An empty\n--slack-user \"\" removes the mapping.",
			args:     1,
			setup: apiCall[vsecure.Key]{
				flags: func(fs *apiFlags) callFunc[vsecure.Key] {
					slack := fs.String("slack-user", "", "Slack user id (required; \"\" removes it)")
					fs.check(func([]string) error {
						if !isSet(fs.FlagSet, "slack-user") {
							return badFlags("--slack-user is required")
						}
						return nil
					})
					return func(ctx context.Context, c *client.Client, pos []string) (vsecure.Key, error) {
						return c.SetKeySlackUser(ctx, pos[0], *slack)
					}
				},
				out: text(func(w io.Writer, k vsecure.Key) {
					if k.SlackUserID == "" {
						fmt.Fprintf(w, "%s (%s) has no Slack user\n", k.ID, k.Principal)
					} else {
						fmt.Fprintf(w, "%s (%s) approves from Slack as %s\n", k.ID, k.Principal, k.SlackUserID)
					}
				}),
			}.setup,
		},
		{
			name: "whoami", summary: "show who your API key makes you (principal, roles, key)",
			synopsis: "whoami [--json]",
			about:    "Shows who the API key (or access token) in VSECURE_API_KEY makes you: principal,\nroles, key id and, for an access token, the one operation it allows.",
			setup: apiCall[api.Identity]{
				flags: func(*apiFlags) callFunc[api.Identity] {
					return func(ctx context.Context, c *client.Client, _ []string) (api.Identity, error) { return c.Whoami(ctx) }
				},
				out: text(func(w io.Writer, id api.Identity) {
					table(w, []string{"PRINCIPAL", "ROLES", "KEY", "CREDENTIAL", "ON BEHALF OF"},
						[][]string{{id.Principal, dash(roleList(id.Roles, ",")), dash(id.KeyID), id.Credential, dash(id.OnBehalfOf)}})
					if s := id.Scope; s != nil {
						fmt.Fprintf(w, "Scope: %s %s until %s (approval %s)\n", s.Operation, s.Resource, ts(s.ExpiresAt), s.ApprovalID)
					}
				}),
			}.setup,
		},
		{
			name: "audit:verify", summary: "check the audit log (or an export, offline) against its signed digests; names tampered entries",
			synopsis: "audit:verify [--from 24h|RFC3339] [--to RFC3339] [--json]\n       vsecure audit:verify --offline FILE --public-key KEY [--json]",
			about: "Checks the audit log against its signed, chained digests (admin or auditor) and names\n" +
				"every entry deleted, modified, inserted or moved, and every digest removed or forged.\n" +
				"With --offline, checks an export (vsecure audit:export), an audit archive object, or a\n" +
				"directory of archive objects (the archive bucket's archive/ prefix) with no server and no store,\n" +
				"against the public key given (base64 PKIX DER, or a file holding it or its PEM).\n" +
				"Prints the key it trusts. Exit status 3 when anything was found.",
			setup: setupAuditVerify,
		},
		{
			name: "audit:export", summary: "write the audit log and its digests as JSON lines, for offline verification",
			synopsis: "audit:export [--from 24h|RFC3339] [--to RFC3339] > log.jsonl",
			about: "Writes the audit log of a range (admin or auditor) as JSON lines: a header naming the\n" +
				"signing key, the entries with their seals oldest first, then the signed digests that\n" +
				"cover them. The range widens to whole digest windows. Check the file anywhere with\n" +
				"vsecure audit:verify --offline log.jsonl --public-key KEY.",
			setup: apiCall[struct{}]{
				noJSON: true,
				flags: func(fs *apiFlags) callFunc[struct{}] {
					from := fs.String("from", "", "RFC 3339 time or a duration back from now (24h, 7d); default the beginning")
					to := fs.String("to", "", "RFC 3339 time; default now")
					var since string
					fs.check(func([]string) (err error) {
						if since, err = mcpserver.SinceTime(*from, time.Now()); err != nil {
							return badInput("%s", vsecure.ErrorMessage(err))
						}
						return nil
					})
					return func(ctx context.Context, c *client.Client, _ []string) (struct{}, error) {
						return struct{}{}, c.ExportAudit(ctx, since, *to, fs.std.Out)
					}
				},
			}.setup,
		},
		{
			name: "admin:bootstrap", summary: "mint a deployed stack's first admin key with your AWS credentials",
			synopsis: "admin:bootstrap --stack NAME | --function NAME [--principal admin] [--break-glass]",
			about: "Mints the first admin key of a deployed stack with your AWS credentials (the default\n" +
				"chain: AWS_PROFILE, SSO, environment). Refused if an active admin key exists (of\n" +
				"concurrent bootstraps exactly one mints), unless --break-glass. The key is printed once on stdout; it is stored only as a hash.",
			env:   "Environment: the AWS SDK's (AWS_PROFILE, AWS_REGION, ...); AWS_ENDPOINT_URL_CLOUDFORMATION, _STS and _LAMBDA\n  override those services' endpoints",
			setup: setupAdminBootstrap,
		},
		{
			name: "version", summary: "print the version, commit and Go version of this binary",
			synopsis: "version [--json]   (also vsecure --version)",
			about: "Prints the release version (stamped by the release build; otherwise the module version\n" +
				"go install recorded, or devel), the commit it was built from and the Go toolchain.",
			env:   "Environment: none; everything printed was recorded in the binary when it was built",
			setup: setupVersion,
		},
	}
}

// expand reads a short URI (production/DB) as vsecure://secrets/production/DB;
// empty stays empty, for flags left out.
func expand(s string) string {
	if s == "" {
		return ""
	}
	return vsecure.ExpandShort(s)
}

// roleList joins roles with sep.
func roleList(roles []vsecure.Role, sep string) string {
	s := make([]string, len(roles))
	for i, r := range roles {
		s[i] = string(r)
	}
	return strings.Join(s, sep)
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
