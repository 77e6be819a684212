package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// The OpenAPI 3.1 document of the API (docs/openapi.json, GET
// /openapi.json). Paths, methods and authentication come from the route
// table; bodies from the Go types the handlers decode and write, by
// reflection; error statuses from api.StatusOf. What the table cannot say
// (which types, which error codes, which query parameters) is in
// operations below, and nowhere else.

// op documents one route of the table.
type op struct {
	// id is the operationId when the function serves more than one
	// route; otherwise it is the function's name.
	id      string
	summary string
	tag     string
	// req is a value of the request body type; nil: no body.
	req any
	// reqRequired are the body fields the gate refuses to go without
	// (decoding itself requires none).
	reqRequired []string
	// reqOptional: the body may be left out entirely.
	reqOptional bool
	// resp is a value of the response body type; status its status.
	// orResp, if set, is the other shape the route may answer with.
	resp, orResp any
	status       int
	// errs are the codes this route answers beyond those of its kind of
	// authentication (baseErrors).
	errs  []vsecure.Code
	query []queryParam
}

type queryParam struct {
	name, desc string
	schema     map[string]any
}

var (
	str       = map[string]any{"type": "string"}
	dateTime  = map[string]any{"type": "string", "format": "date-time"}
	pageLimit = queryParam{"limit", fmt.Sprintf("Page size, 1 to %d (default %d).", api.MaxLimit, api.DefaultLimit),
		map[string]any{"type": "integer", "minimum": 1, "maximum": api.MaxLimit, "default": api.DefaultLimit}}
	pageCursor = queryParam{"cursor", "The `pagination.cursor` of the previous page; opaque and bound to the caller and the filters.", str}
	fromTo     = []queryParam{
		{"from", "Only entries at or after this time (RFC 3339).", dateTime},
		{"to", "Only entries before this time (RFC 3339).", dateTime},
	}
)

// operations maps each route (Route.Pattern) to its documentation.
var operations = map[string]op{
	"GET /healthz":      {summary: "Health check", tag: "meta", resp: api.Health{}, status: http.StatusOK},
	"GET /openapi.json": {id: "openapi", summary: "This OpenAPI document", tag: "meta", status: http.StatusOK},
	"GET /v1/security/mcp/resources": {summary: "List MCP resources (policies)", tag: "resources",
		resp: api.ResourceList{}, status: http.StatusOK},
	"POST /v1/security/mcp/resources": {summary: "Configure an MCP resource (create or replace a policy)", tag: "resources",
		req: api.ResourceConfig{}, reqRequired: []string{"uri", "permissions"}, resp: api.ResourceView{}, status: http.StatusOK,
		errs: []vsecure.Code{vsecure.EInvalid, vsecure.ETooLarge}},
	"GET /v1/security/mcp/resources/{uri...}": {summary: "Read a secret's value, or a pattern's policy", tag: "resources",
		resp: api.SecretRead{}, status: http.StatusOK,
		errs:  []vsecure.Code{vsecure.EInvalid, vsecure.EApprovalRequired, vsecure.EOperationNotAllowed, vsecure.ENotFound, vsecure.EExpired},
		query: []queryParam{{"version", "Read this version instead of the latest.", map[string]any{"type": "integer", "minimum": 1}}}},
	"PUT /v1/security/mcp/resources/{uri...}": {summary: "Write a secret (a new version)", tag: "resources",
		req: api.SecretWrite{}, reqRequired: []string{"value"}, resp: api.SecretInfo{}, status: http.StatusOK,
		errs: []vsecure.Code{vsecure.EInvalid, vsecure.ETooLarge, vsecure.EApprovalRequired, vsecure.EOperationNotAllowed, vsecure.ENotFound}},
	"POST /v1/security/mcp/secrets/use": {summary: "Use a secret: its value for injection into a process (argv[0] and host audited)", tag: "resources",
		req: api.SecretUse{}, reqRequired: []string{"uri", "command"}, resp: api.SecretRead{}, status: http.StatusOK,
		errs: []vsecure.Code{vsecure.EInvalid, vsecure.ETooLarge, vsecure.EApprovalRequired, vsecure.EOperationNotAllowed, vsecure.ENotFound, vsecure.EExpired}},
	"GET /v1/security/mcp/secrets": {summary: "List secrets a policy covers (never values)", tag: "resources",
		resp: api.SecretList{}, status: http.StatusOK, errs: []vsecure.Code{vsecure.EInvalid},
		query: []queryParam{{"pattern", "Only secrets under this URI pattern (`vsecure://secrets/production/*`).", str}, pageLimit, pageCursor}},
	"POST /v1/security/mcp/approve": {summary: "Request approval for an operation", tag: "approvals",
		req: api.ApprovalRequest{}, reqRequired: []string{"resource", "operation"}, resp: api.ApprovalView{}, status: http.StatusCreated,
		errs: []vsecure.Code{vsecure.EInvalid, vsecure.ETooLarge, vsecure.EOperationNotAllowed, vsecure.ENotFound}},
	"GET /v1/security/mcp/approvals": {summary: "List approval requests", tag: "approvals",
		resp: api.ApprovalList{}, status: http.StatusOK, errs: []vsecure.Code{vsecure.EInvalid},
		query: []queryParam{
			{"status", "Only requests in this status.", enumOf(reflect.TypeFor[vsecure.Status]())},
			{"resource", "Only requests for this resource URI.", str}, pageLimit, pageCursor}},
	"GET /v1/security/mcp/approvals/{id}": {summary: "Get an approval request", tag: "approvals",
		resp: api.ApprovalView{}, status: http.StatusOK, errs: []vsecure.Code{vsecure.ENotFound}},
	"POST /v1/security/mcp/approvals/{id}/respond": {summary: "Approve or deny a request", tag: "approvals",
		req: api.Respond{}, reqRequired: []string{"action"}, resp: api.ApprovalView{}, status: http.StatusOK,
		errs: []vsecure.Code{vsecure.EInvalid, vsecure.ETooLarge, vsecure.ENotFound, vsecure.ESelfApproval, vsecure.ENotApprover, vsecure.EStepUpRequired, vsecure.EAlreadyDecided, vsecure.EExpired}},
	"POST /v1/security/mcp/approvals/{id}/revoke": {summary: "Revoke an approval (ends its access at once)", tag: "approvals",
		req: struct{}{}, reqOptional: true, resp: api.ApprovalView{}, status: http.StatusOK,
		errs: []vsecure.Code{vsecure.EInvalid, vsecure.ENotFound, vsecure.ENotApprover, vsecure.EStepUpRequired, vsecure.EAlreadyDecided, vsecure.EExpired}},
	"POST /v1/security/mcp/approvals/{id}/cancel": {summary: "Cancel a request (its requester or the human it acts for): pending becomes cancelled, approved is revoked", tag: "approvals",
		req: struct{}{}, reqOptional: true, resp: api.ApprovalView{}, status: http.StatusOK,
		errs: []vsecure.Code{vsecure.EInvalid, vsecure.ENotFound, vsecure.EForbidden, vsecure.EAlreadyDecided, vsecure.EExpired}},
	"GET /v1/security/mcp/audit": {summary: "Query the audit log, newest first", tag: "audit",
		resp: api.AuditLog{}, status: http.StatusOK, errs: []vsecure.Code{vsecure.EInvalid},
		query: append([]queryParam{
			{"resource", "Only entries for this URI, or under this pattern.", str},
			{"actor", "Only entries of this principal.", str},
			{"operation", "Only entries of this operation.", map[string]any{"type": "string", "enum": vsecure.AuditOperations}},
			{"success", "Only successful (`true`) or refused (`false`) operations.", map[string]any{"type": "boolean"}},
		}, append(fromTo, pageLimit, pageCursor)...)},
	"GET /v1/security/mcp/audit/verify": {summary: "Verify the audit log against its signed digests", tag: "audit",
		resp: api.AuditVerification{}, status: http.StatusOK, errs: []vsecure.Code{vsecure.EInvalid}, query: fromTo},
	"GET /v1/security/mcp/audit/export": {summary: "Export a page of the audit log (JSON lines)", tag: "audit",
		status: http.StatusOK, errs: []vsecure.Code{vsecure.EInvalid}, query: append(fromTo, pageCursor)},
	"POST /v1/security/keys": {summary: "Create an API key (shown once)", tag: "keys",
		req: api.KeyRequest{}, reqRequired: []string{"principal", "roles"}, resp: api.CreatedKey{}, status: http.StatusCreated,
		errs: []vsecure.Code{vsecure.EInvalid, vsecure.ETooLarge}},
	"GET /v1/security/keys": {summary: "List API keys", tag: "keys",
		resp: api.KeyList{}, status: http.StatusOK, errs: []vsecure.Code{vsecure.EInvalid}, query: []queryParam{pageLimit, pageCursor}},
	"DELETE /v1/security/keys/{id}": {summary: "Revoke an API key (final)", tag: "keys",
		resp: vsecure.Key{}, status: http.StatusOK, errs: []vsecure.Code{vsecure.ENotFound, vsecure.EAlreadyDecided}},
	"POST /v1/security/keys/{id}/rotate": {summary: "Rotate an API key: a new key, the old one ends after an overlap", tag: "keys",
		req: api.RotateRequest{}, reqOptional: true, resp: api.RotatedKey{}, status: http.StatusCreated,
		errs: []vsecure.Code{vsecure.EInvalid, vsecure.ETooLarge, vsecure.ENotFound, vsecure.EAlreadyDecided, vsecure.EExpired}},
	"PATCH /v1/security/keys/{id}": {summary: "Change a key's roles or Slack user", tag: "keys",
		req: api.KeyUpdateRequest{}, resp: vsecure.Key{}, status: http.StatusOK,
		errs: []vsecure.Code{vsecure.EInvalid, vsecure.ETooLarge, vsecure.ENotFound, vsecure.EAlreadyDecided}},
	"GET /v1/security/whoami": {summary: "The caller: principal, roles, credential, an access token's scope", tag: "keys",
		resp: api.Identity{}, status: http.StatusOK},
	"POST /v1/integrations/slack/interactions": {summary: "Slack interactivity webhook (Approve/Deny buttons)", tag: "slack",
		status: http.StatusOK, errs: []vsecure.Code{vsecure.EInvalid}},
	"POST /mcp":   {id: "mcp-post", summary: "Remote MCP (Streamable HTTP, stateless): one JSON-RPC message", tag: "mcp", status: http.StatusOK},
	"GET /mcp":    {id: "mcp-get", summary: "Remote MCP: no server-sent stream in stateless mode (405)", tag: "mcp", status: http.StatusMethodNotAllowed},
	"DELETE /mcp": {id: "mcp-delete", summary: "Remote MCP: no session to end in stateless mode (405)", tag: "mcp", status: http.StatusMethodNotAllowed},
}

// baseErrors are the codes any route of an authentication kind can answer:
// the middleware's refusals, and the failures of the store and audit.
func baseErrors(a Auth) []vsecure.Code {
	switch a {
	case AuthKey:
		return []vsecure.Code{vsecure.EUnauthenticated, vsecure.EForbidden, vsecure.ERateLimited,
			vsecure.EInternal, vsecure.EAuditUnavailable, vsecure.EUnavailable}
	case AuthSlack:
		return []vsecure.Code{vsecure.EUnauthenticated, vsecure.ERateLimited, vsecure.EInternal, vsecure.EAuditUnavailable}
	}
	return nil
}

// publicCodes are the codes a caller can see (EConflict never leaves the
// server: writeError turns it into already_decided).
var publicCodes = []vsecure.Code{
	vsecure.EInvalid, vsecure.EUnauthenticated, vsecure.EForbidden, vsecure.EApprovalRequired,
	vsecure.EOperationNotAllowed, vsecure.ESelfApproval, vsecure.ENotApprover, vsecure.EStepUpRequired, vsecure.ENotFound,
	vsecure.EMethodNotAllowed, vsecure.EAlreadyDecided, vsecure.EIdempotencyInProgress,
	vsecure.EIdempotencyMismatch, vsecure.EExpired, vsecure.ETooLarge, vsecure.ERateLimited,
	vsecure.EInternal, vsecure.EAuditUnavailable, vsecure.EUnavailable,
}

// enums are the values of the domain's string types.
var enums = map[reflect.Type][]string{
	reflect.TypeFor[vsecure.Status]():    {"pending", "approved", "denied", "expired", "revoked", "cancelled"},
	reflect.TypeFor[vsecure.Operation](): {string(vsecure.OpRead), string(vsecure.OpWrite), string(vsecure.OpUse)},
	reflect.TypeFor[vsecure.Action]():    {string(vsecure.ActionApprove), string(vsecure.ActionDeny)},
	reflect.TypeFor[vsecure.Role]():      {string(vsecure.RoleAdmin), string(vsecure.RoleApprover), string(vsecure.RoleAuditor), string(vsecure.RoleAgent)},
	reflect.TypeFor[vsecure.Code]():      codeStrings(publicCodes),
}

func codeStrings(cs []vsecure.Code) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = string(c)
	}
	return out
}

func enumOf(t reflect.Type) map[string]any {
	return map[string]any{"type": "string", "enum": enums[t]}
}

const apiDescription = `A secrets gate for AI agents: MCP resources (policies over secret URIs), approval workflows, and a tamper-evident audit log.

Authenticate with ` + "`Authorization: Bearer <credential>` or `X-API-Key: <credential>`" + `, where the credential is an API key (` + "`vsk_…`" + `) or an access token from an approved request (valid for its one resource and operation until its ` + "`expiresAt`" + `). The caller's identity always comes from the credential; a body ` + "`requestedBy`/`approvedBy`" + ` naming someone else is refused.

Errors are ` + "`{\"error\":{\"code\",\"message\",\"requestId\"}}`" + `. Request bodies are strict: unknown fields, duplicate keys and miscased keys are 400 invalid_request. A known path with another method is 405 method_not_allowed with ` + "`Allow`" + `; a path with an empty, . or .. segment is 400 invalid_request. Every response carries ` + "`X-Request-Id`" + `. Times are RFC 3339 UTC.`

// The document, built on the first request (a package-level OnceValues of
// OpenAPI would be an initialization cycle through Routes).
var (
	docOnce sync.Once
	docJSON []byte
	docErr  error
)

// openapi serves GET /openapi.json.
func (a *API) openapi(w http.ResponseWriter, _ *http.Request) error {
	docOnce.Do(func() { docJSON, docErr = OpenAPI() })
	b, err := docJSON, docErr
	if err != nil {
		return vsecure.Wrap(vsecure.EInternal, err, "internal error")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	return nil
}

// OpenAPI renders the OpenAPI document of the route table, indented, with
// a final newline (as docs/openapi.json holds it).
func OpenAPI() ([]byte, error) {
	b, _, err := openAPI()
	return b, err
}

// openAPI also returns the Go type of each schema component.
func openAPI() ([]byte, map[string]reflect.Type, error) {
	g := &schemas{components: map[string]any{}, types: map[string]reflect.Type{}}
	paths := map[string]map[string]any{}
	tags := []string{}
	// The console's pages are HTML for browsers, not the JSON API.
	for _, rt := range apiRoutes() {
		o, ok := operations[rt.Pattern()]
		if !ok {
			return nil, nil, fmt.Errorf("openapi: route %s has no entry in operations", rt.Pattern())
		}
		p := openAPIPath(rt.Path)
		if paths[p] == nil {
			paths[p] = map[string]any{}
		}
		paths[p][strings.ToLower(rt.Method)] = g.operation(rt, o)
		if !slices.Contains(tags, o.tag) {
			tags = append(tags, o.tag)
		}
	}
	if len(operations) != len(apiRoutes()) {
		return nil, nil, fmt.Errorf("openapi: %d operations documented for %d routes", len(operations), len(apiRoutes()))
	}
	if g.err != nil {
		return nil, nil, g.err
	}
	tagList := make([]map[string]string, len(tags))
	for i, t := range tags {
		tagList[i] = map[string]string{"name": t, "description": tagDescriptions[t]}
	}
	doc := document{
		OpenAPI: "3.1.0",
		Info: map[string]any{
			"title": "vsecure API", "version": "1", "description": apiDescription,
		},
		Servers:  []map[string]string{{"url": "http://127.0.0.1:8080", "description": "vsecure dev (the local server)"}},
		Security: []map[string][]string{{"bearer": {}}, {"apiKey": {}}},
		Tags:     tagList,
		Paths:    paths,
		Components: map[string]any{
			"schemas": g.components,
			"securitySchemes": map[string]any{
				"bearer": map[string]string{"type": "http", "scheme": "bearer",
					"description": "An API key (`vsk_…`) or an access token from an approved request."},
				"apiKey": map[string]string{"type": "apiKey", "in": "header", "name": "X-API-Key",
					"description": "The same credentials as `bearer`, in their own header."},
			},
			"headers": map[string]any{
				"RetryAfter": map[string]any{"description": "Seconds to wait before retrying.", "schema": map[string]any{"type": "integer"}},
				"Replayed": map[string]any{"description": "`true` when the response is the replay of an earlier request with the same `Idempotency-Key`.",
					"schema": map[string]any{"type": "string", "enum": []string{"true"}}},
				"Withheld": map[string]any{"description": "On a replay: the one-time fields (credentials shown once) left out of the stored response, comma-separated.",
					"schema": str},
			},
			"parameters": map[string]any{
				"IdempotencyKey": map[string]any{"name": IdempotencyHeader, "in": "header", "required": false, "schema": map[string]any{"type": "string", "maxLength": 255},
					"description": "Makes the request safe to retry: the same key with the same request (per caller, kept 24 h) replays the first response; with a different request it is 422 idempotency_mismatch; while the first still runs, 409 idempotency_in_progress."},
			},
		},
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, nil, err
	}
	return buf.Bytes(), g.types, nil
}

var tagDescriptions = map[string]string{
	"meta":      "Health and this document; public.",
	"resources": "Policies over secret URIs, and the secrets under them.",
	"approvals": "Approval requests and decisions.",
	"audit":     "The tamper-evident audit log.",
	"keys":      "API keys and the caller's identity.",
	"slack":     "Slack's webhook; authenticated by Slack's request signature.",
	"mcp":       "Remote Model Context Protocol.",
}

type document struct {
	OpenAPI    string                    `json:"openapi"`
	Info       map[string]any            `json:"info"`
	Servers    []map[string]string       `json:"servers"`
	Security   []map[string][]string     `json:"security"`
	Tags       []map[string]string       `json:"tags"`
	Paths      map[string]map[string]any `json:"paths"`
	Components map[string]any            `json:"components"`
}

// openAPIPath renders a route path in OpenAPI syntax ({name...} → {name}).
func openAPIPath(p string) string { return strings.ReplaceAll(p, "...}", "}") }

func (g *schemas) operation(rt Route, o op) map[string]any {
	id := o.id
	if id == "" {
		id = rt.Function
	}
	out := map[string]any{"operationId": id, "summary": o.summary, "tags": []string{o.tag}}
	var params []any
	for _, seg := range strings.Split(rt.Path, "/") {
		name, ok := strings.CutPrefix(seg, "{")
		if !ok {
			continue
		}
		name = strings.TrimSuffix(strings.TrimSuffix(name, "}"), "...")
		params = append(params, pathParam(name))
	}
	for _, q := range o.query {
		params = append(params, map[string]any{"name": q.name, "in": "query", "description": q.desc, "schema": q.schema})
	}
	if rt.Idempotent {
		params = append(params, map[string]string{"$ref": "#/components/parameters/IdempotencyKey"})
	}
	switch rt.Auth {
	case AuthNone:
		out["security"] = []any{}
	case AuthSlack:
		out["security"] = []any{}
		params = append(params,
			map[string]any{"name": "X-Slack-Signature", "in": "header", "required": true, "schema": str,
				"description": "`v0=` and the hex HMAC-SHA256 of `v0:<timestamp>:<body>` under the app's signing secret."},
			map[string]any{"name": "X-Slack-Request-Timestamp", "in": "header", "required": true, "schema": str,
				"description": "Unix seconds; requests older than five minutes are refused."})
		out["requestBody"] = map[string]any{"required": true, "content": map[string]any{
			"application/x-www-form-urlencoded": map[string]any{"schema": map[string]any{
				"type": "object", "required": []string{"payload"},
				"properties": map[string]any{"payload": map[string]any{"type": "string", "description": "Slack's block_actions payload (JSON)."}},
			}},
		}}
	}
	if len(params) > 0 {
		out["parameters"] = params
	}
	if o.req != nil {
		out["requestBody"] = map[string]any{"required": !o.reqOptional, "content": map[string]any{
			"application/json": map[string]any{"schema": g.request(reflect.TypeOf(o.req), o.reqRequired)},
		}}
	}
	if rt.Function == "mcp" && rt.Method == http.MethodPost {
		out["requestBody"] = map[string]any{"required": true, "content": map[string]any{
			"application/json": map[string]any{"schema": map[string]any{"type": "object", "description": "A JSON-RPC 2.0 message of the MCP protocol."}},
		}}
	}
	out["responses"] = g.responses(rt, o, rt.Idempotent, rt.OneTime)
	return out
}

func pathParam(name string) map[string]any {
	desc := map[string]string{
		"uri": "The resource URI, percent-encoded whole (`vsecure%3A%2F%2Fsecrets%2Fproduction%2FDATABASE_URL`), or without its scheme as the rest of the path (`secrets/production/DATABASE_URL`). A pattern ending in `/*` reads the governing policy.",
		"id":  "The approval id (`appr_…`) or key id (`key_…`).",
	}[name]
	return map[string]any{"name": name, "in": "path", "required": true, "description": desc, "schema": str}
}

func (g *schemas) responses(rt Route, o op, idem bool, oneTime []string) map[string]any {
	out := map[string]any{}
	ok := map[string]any{"description": http.StatusText(o.status)}
	switch {
	case o.orResp != nil:
		ok["description"] = "A secret (its value), or for a pattern URI the policy that governs it."
		ok["content"] = map[string]any{"application/json": map[string]any{"schema": map[string]any{
			"oneOf": []any{g.of(reflect.TypeOf(o.resp), false), g.of(reflect.TypeOf(o.orResp), false)},
		}}}
	case o.resp != nil:
		ok["content"] = map[string]any{"application/json": map[string]any{"schema": g.of(reflect.TypeOf(o.resp), false)}}
	case rt.Path == "/openapi.json":
		ok["content"] = map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object", "description": "This OpenAPI 3.1 document."}}}
	case rt.Function == "audit-export":
		ok["description"] = "JSON lines, oldest first: records, then the digests covering them; a last line `{\"cursor\":…}` names the next page."
		ok["content"] = map[string]any{"application/x-ndjson": map[string]any{"schema": str}}
	case rt.Function == "mcp" && o.status == http.StatusOK:
		ok["content"] = map[string]any{
			"application/json":  map[string]any{"schema": map[string]any{"type": "object", "description": "The JSON-RPC response."}},
			"text/event-stream": map[string]any{"schema": str},
		}
	}
	if idem {
		headers := map[string]any{"Idempotent-Replayed": map[string]string{"$ref": "#/components/headers/Replayed"}}
		if len(oneTime) > 0 {
			headers[WithheldHeader] = map[string]string{"$ref": "#/components/headers/Withheld"}
			ok["description"] = fmt.Sprintf("%s. `%s` is shown once: a replay leaves it out.", ok["description"], strings.Join(oneTime, "`, `"))
		}
		ok["headers"] = headers
	}
	out[strconv.Itoa(o.status)] = ok
	codes := append(baseErrors(rt.Auth), o.errs...)
	if idem {
		codes = append(codes, vsecure.EIdempotencyMismatch, vsecure.EIdempotencyInProgress)
	}
	byStatus := map[int][]string{}
	for _, c := range codes {
		s := api.StatusOf(c)
		if !slices.Contains(byStatus[s], string(c)) {
			byStatus[s] = append(byStatus[s], string(c))
		}
	}
	for s, cs := range byStatus {
		r := map[string]any{
			"description": "`" + strings.Join(cs, "`, `") + "`",
			"content":     map[string]any{"application/json": map[string]any{"schema": g.of(reflect.TypeFor[api.ErrorBody](), false)}},
		}
		if s == http.StatusTooManyRequests || slices.Contains(cs, string(vsecure.EIdempotencyInProgress)) {
			r["headers"] = map[string]any{"Retry-After": map[string]string{"$ref": "#/components/headers/RetryAfter"}}
		}
		out[strconv.Itoa(s)] = r
	}
	return out
}

// schemas builds JSON Schemas from Go types as encoding/json sees them.
type schemas struct {
	components map[string]any
	types      map[string]reflect.Type
	err        error
}

// of returns the schema of t in a response: named structs become
// components, a field is required unless omitempty.
func (g *schemas) of(t reflect.Type, req bool) map[string]any {
	if t.PkgPath() == "time" && t.Name() == "Time" {
		return map[string]any{"type": "string", "format": "date-time"}
	}
	if vals, ok := enums[t]; ok {
		return map[string]any{"type": "string", "enum": vals}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.of(t.Elem(), req)
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int32:
		return map[string]any{"type": "integer"}
	case reflect.Int64:
		return map[string]any{"type": "integer", "format": "int64"}
	case reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "contentEncoding": "base64"}
		}
		return map[string]any{"type": "array", "items": g.of(t.Elem(), req)}
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			break
		}
		return map[string]any{"type": "object", "additionalProperties": g.of(t.Elem(), req)}
	case reflect.Struct:
		if req || t.Name() == "" {
			return g.object(t, req, nil)
		}
		name := componentName(t)
		if prev, ok := g.types[name]; ok {
			if prev != t {
				g.fail(fmt.Errorf("openapi: two types named %s (%s, %s)", name, prev, t))
			}
		} else {
			g.types[name] = t
			g.components[name] = nil // reserve: a type may refer to itself
			g.components[name] = g.object(t, false, nil)
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	g.fail(fmt.Errorf("openapi: no schema for Go type %s", t))
	return map[string]any{}
}

// request returns the schema of a request body: a component of its own,
// closed (unknown fields are refused), nested types inline so that a type
// shared with responses keeps its response schema there.
func (g *schemas) request(t reflect.Type, required []string) map[string]any {
	if t.Name() == "" {
		return g.object(t, true, required)
	}
	name := componentName(t)
	g.types[name] = t
	g.components[name] = g.object(t, true, required)
	return map[string]any{"$ref": "#/components/schemas/" + name}
}

func (g *schemas) fail(err error) {
	if g.err == nil {
		g.err = err
	}
}

// renamed keeps the component names the document had before the types
// moved to package api, so docs/openapi.json did not change with the move.
var renamed = map[reflect.Type]string{
	reflect.TypeFor[api.ResourceConfig](): "ConfigureBody",
}

func componentName(t reflect.Type) string {
	if n, ok := renamed[t]; ok {
		return n
	}
	n := t.Name()
	return strings.ToUpper(n[:1]) + n[1:]
}

// object is the schema of a struct. In a response a field is required
// unless omitempty; in a request only the named fields are, and the object
// is closed. A pointer, slice or map that encoding/json may write, or that
// the request may leave, as null is nullable.
func (g *schemas) object(t reflect.Type, req bool, required []string) map[string]any {
	props := map[string]any{}
	var need []string
	for _, f := range jsonFields(t) {
		s := g.of(f.typ, req)
		k := f.typ.Kind()
		mayBeNull := k == reflect.Pointer || k == reflect.Slice || k == reflect.Map
		if mayBeNull && (req && !slices.Contains(required, f.name) || !req && !f.omitempty) {
			s = nullable(s)
		}
		props[f.name] = s
		if !req && !f.omitempty {
			need = append(need, f.name)
		}
	}
	for _, r := range required {
		if _, ok := props[r]; !ok {
			g.fail(fmt.Errorf("openapi: %s has no field %q", t, r))
		}
		need = append(need, r)
	}
	out := map[string]any{"type": "object", "properties": props}
	if len(need) > 0 {
		out["required"] = need
	}
	if req {
		out["additionalProperties"] = false
	}
	return out
}

func nullable(s map[string]any) map[string]any {
	if ty, ok := s["type"].(string); ok {
		out := map[string]any{}
		for k, v := range s {
			out[k] = v
		}
		out["type"] = []string{ty, "null"}
		if e, ok := s["enum"].([]string); ok {
			vals := make([]any, 0, len(e)+1)
			for _, v := range e {
				vals = append(vals, v)
			}
			out["enum"] = append(vals, nil)
		}
		return out
	}
	return map[string]any{"anyOf": []any{s, map[string]any{"type": "null"}}}
}

type jsonField struct {
	name      string
	typ       reflect.Type
	omitempty bool
}

// jsonFields lists a struct's fields as encoding/json writes them:
// untagged embedded structs are flattened, a shallower field wins.
func jsonFields(t reflect.Type) []jsonField {
	var out, embedded []jsonField
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			embedded = append(embedded, jsonFields(f.Type)...)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, jsonField{name: name, typ: f.Type, omitempty: slices.Contains(strings.Split(opts, ","), "omitempty")})
	}
	for _, e := range embedded {
		if !slices.ContainsFunc(out, func(f jsonField) bool { return f.name == e.name }) {
			out = append(out, e)
		}
	}
	return out
}
