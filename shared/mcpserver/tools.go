package mcpserver

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/client"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// Result statuses of read_secret and write_secret.
const (
	StatusOK              = "ok"
	StatusApprovalPending = "approval_pending"
	StatusApprovalDenied  = "approval_denied"
	StatusApprovalExpired = "approval_expired"
)

// maxListedSecrets bounds how many secrets list_resources returns.
const maxListedSecrets = 500

func (s *service) addTools(srv *mcp.Server) {
	f := boolPtr(false)
	mcp.AddTool(srv, &mcp.Tool{
		Name:  "list_resources",
		Title: "List vsecure resources",
		Description: "List the vsecure:// resource policies (which URI patterns exist, the operations they permit " +
			"and whether reads need a human's approval) and the concrete secrets you may use. Never returns values.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true, OpenWorldHint: f},
	}, s.listResources)
	mcp.AddTool(srv, &mcp.Tool{
		Name:  "read_secret",
		Title: "Read a secret",
		Description: "Read the value of one secret by its vsecure:// URI (e.g. vsecure://secrets/production/DATABASE_URL; " +
			"the short form production/DATABASE_URL works too). If the secret needs approval, this does not fail and does not wait: " +
			"it files an approval request with your reason (or re-uses your pending one) and returns status \"approval_pending\" " +
			"with the approval id, expiry and URL. Retry after a human approved. The value is sensitive: do not repeat it.",
		Annotations: &mcp.ToolAnnotations{IdempotentHint: true, DestructiveHint: f, OpenWorldHint: f},
	}, s.readSecret)
	mcp.AddTool(srv, &mcp.Tool{
		Name:  "write_secret",
		Title: "Write a secret",
		Description: "Store a new version of a secret at a concrete vsecure:// URI (older versions are kept). " +
			"Needs a policy that permits write; if that policy needs approval, returns status \"approval_pending\" like read_secret.",
		Annotations: &mcp.ToolAnnotations{DestructiveHint: f, OpenWorldHint: f},
	}, s.writeSecret)
	mcp.AddTool(srv, &mcp.Tool{
		Name:  "request_approval",
		Title: "Request approval",
		Description: "Ask a human to approve one operation (read or write) on one secret, with a reason they will see. " +
			"Re-uses your pending request for the same secret and operation instead of filing a duplicate. " +
			"read_secret does this for you; use this tool to ask ahead of time.",
		Annotations: &mcp.ToolAnnotations{IdempotentHint: true, DestructiveHint: f, OpenWorldHint: f},
	}, s.requestApproval)
	mcp.AddTool(srv, &mcp.Tool{
		Name:        "get_approval",
		Title:       "Get an approval",
		Description: "Get the current status (pending, approved, denied, expired, revoked) of one approval request by its id (appr_…).",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true, OpenWorldHint: f},
	}, s.getApproval)
	mcp.AddTool(srv, &mcp.Tool{
		Name:        "list_approvals",
		Title:       "List approvals",
		Description: "List approval requests you may see (your own, and those you may decide), newest first, optionally filtered by status and resource.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true, OpenWorldHint: f},
	}, s.listApprovals)
	mcp.AddTool(srv, &mcp.Tool{
		Name:        "audit_log",
		Title:       "Query the audit log",
		Description: "Query the audit log of every operation on vsecure resources, newest first (needs the admin or auditor role).",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true, OpenWorldHint: f},
	}, s.auditLog)
}

// ---- list_resources

// ListResourcesInput filters list_resources.
type ListResourcesInput struct {
	Pattern string `json:"pattern,omitempty" jsonschema:"only secrets under this URI pattern, e.g. vsecure://secrets/staging/* or staging/*"`
}

// ListResourcesOutput is the result of list_resources.
type ListResourcesOutput struct {
	Resources []api.ResourceView `json:"resources" jsonschema:"resource policies: URI pattern, permitted operations and whether approval is required"`
	Secrets   []api.SecretInfo   `json:"secrets" jsonschema:"secrets you may read or write (names and metadata only, never values)"`
	Truncated bool               `json:"truncated,omitempty" jsonschema:"true if more secrets exist than were listed; narrow with pattern"`
}

func (s *service) listResources(ctx context.Context, _ *mcp.CallToolRequest, in ListResourcesInput) (*mcp.CallToolResult, ListResourcesOutput, error) {
	var out ListResourcesOutput
	rs, err := s.api.ListResources(ctx)
	if err != nil {
		return nil, out, err
	}
	out.Resources = rs
	q := api.SecretsQuery{Limit: api.MaxLimit}
	if in.Pattern != "" {
		q.Pattern = vsecure.ExpandShort(in.Pattern)
	}
	out.Secrets = []api.SecretInfo{}
	for sec, err := range client.All(ctx, "", func(ctx context.Context, cursor string) ([]api.SecretInfo, api.Pagination, error) {
		q.Cursor = cursor
		return s.api.ListSecrets(ctx, q)
	}) {
		if err != nil {
			return nil, out, err
		}
		if len(out.Secrets) == maxListedSecrets {
			out.Truncated = true
			break
		}
		out.Secrets = append(out.Secrets, sec)
	}
	return nil, out, nil
}

// ---- read_secret

// ReadSecretInput is the input of read_secret.
type ReadSecretInput struct {
	URI         string `json:"uri" jsonschema:"the secret's URI, e.g. vsecure://secrets/production/DATABASE_URL (short form production/DATABASE_URL is accepted)"`
	Reason      string `json:"reason" jsonschema:"why you need this secret; shown to the human approver if approval is required"`
	Version     int    `json:"version,omitempty" jsonschema:"a specific version; omit for the latest"`
	WaitSeconds int    `json:"waitSeconds,omitempty" jsonschema:"if approval is pending, wait up to this many seconds (max 30) for a decision, sending progress notifications; default 0 returns at once"`
}

// SecretResult is the result of read_secret and write_secret.
type SecretResult struct {
	Status string `json:"status" jsonschema:"ok, approval_pending, approval_denied or approval_expired"`
	URI    string `json:"uri"`
	// Value is set only by read_secret with status ok.
	Value       string            `json:"value,omitempty" jsonschema:"the secret value (sensitive: do not repeat it)"`
	Version     int               `json:"version,omitempty"`
	Name        string            `json:"name,omitempty"`
	Description string            `json:"description,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	// ApprovalID is the approval that allowed the operation, if any.
	ApprovalID  string            `json:"approvalId,omitempty"`
	Approval    *api.ApprovalView `json:"approval,omitempty" jsonschema:"the approval request to wait for"`
	Reused      bool              `json:"reusedPendingRequest,omitempty" jsonschema:"true if an earlier pending request of yours was re-used"`
	Instruction string            `json:"instruction,omitempty" jsonschema:"what to do next"`
}

func (s *service) readSecret(ctx context.Context, req *mcp.CallToolRequest, in ReadSecretInput) (*mcp.CallToolResult, SecretResult, error) {
	uri, err := concreteURI(in.URI)
	if err != nil {
		return nil, SecretResult{}, err
	}
	if in.Version < 0 {
		return nil, SecretResult{}, vsecure.Errorf(vsecure.EInvalid, "version must be a positive integer")
	}
	read := func() (*mcp.CallToolResult, SecretResult, error) {
		sec, err := s.api.GetSecret(ctx, uri, in.Version)
		if err != nil {
			return nil, SecretResult{}, err
		}
		out := SecretResult{
			Status: StatusOK, URI: sec.URI, Value: sec.Value, Version: sec.Version, Name: sec.Name,
			Description: sec.Description, Metadata: sec.Metadata, ApprovalID: sec.ApprovalID,
		}
		return sensitiveResult(out), out, nil
	}
	res, out, err := read()
	if client.CodeOf(err) == client.CodeNotPermitted {
		return nil, out, s.useOnly(err)
	}
	if !client.IsApprovalRequired(err) {
		return res, out, err
	}
	out, approved, err := s.gated(ctx, req, uri, vsecure.OpRead, in.Reason, in.WaitSeconds)
	if err != nil || !approved {
		return nil, out, err
	}
	return read()
}

// useOnly words the refusal of a read that the policy does not permit:
// a secret granted for use only is meant for run_with_secrets.
func (s *service) useOnly(err error) error {
	hint := "If the policy grants use, run the command that needs it with run_with_secrets: the value goes into its environment and is never shown."
	if len(s.allow) == 0 {
		hint = "If the policy grants use, the value can only be injected into a command with run_with_secrets, which this server does not offer (no command is allowlisted: vsecure mcp serve --allow-command PATH)."
	}
	return vsecure.Errorf(vsecure.EOperationNotAllowed, "%s. %s", strings.TrimSuffix(vsecure.ErrorMessage(err), "."), hint)
}

// ---- write_secret

// WriteSecretInput is the input of write_secret.
type WriteSecretInput struct {
	URI         string            `json:"uri" jsonschema:"the secret's concrete URI, e.g. vsecure://secrets/staging/API_TOKEN"`
	Value       string            `json:"value" jsonschema:"the new value"`
	Reason      string            `json:"reason,omitempty" jsonschema:"why you write it; shown to the human approver if approval is required"`
	Name        string            `json:"name,omitempty" jsonschema:"human-readable name"`
	Description string            `json:"description,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty" jsonschema:"string labels such as environment or service"`
	WaitSeconds int               `json:"waitSeconds,omitempty" jsonschema:"if approval is pending, wait up to this many seconds (max 30); default 0"`
}

func (s *service) writeSecret(ctx context.Context, req *mcp.CallToolRequest, in WriteSecretInput) (*mcp.CallToolResult, SecretResult, error) {
	uri, err := concreteURI(in.URI)
	if err != nil {
		return nil, SecretResult{}, err
	}
	value := in.Value
	write := func() (*mcp.CallToolResult, SecretResult, error) {
		info, err := s.api.PutSecret(ctx, uri, api.SecretWrite{Value: &value, Name: in.Name, Description: in.Description, Metadata: in.Metadata})
		if err != nil {
			return nil, SecretResult{}, err
		}
		return nil, SecretResult{
			Status: StatusOK, URI: info.URI, Version: info.Version, Name: info.Name,
			Description: info.Description, Metadata: info.Metadata,
		}, nil
	}
	res, out, err := write()
	if !client.IsApprovalRequired(err) {
		return res, out, err
	}
	out, approved, err := s.gated(ctx, req, uri, vsecure.OpWrite, in.Reason, in.WaitSeconds)
	if err != nil || !approved {
		return nil, out, err
	}
	return write()
}

// gated handles an approval_required answer: it finds or files the
// caller's request and, if asked, waits a bounded time for a decision.
// approved reports that the operation may be retried now.
func (s *service) gated(ctx context.Context, req *mcp.CallToolRequest, uri string, op vsecure.Operation, reason string, waitSeconds int) (SecretResult, bool, error) {
	a, reused, err := s.findOrRequest(ctx, uri, op, reason, nil)
	if err != nil {
		return SecretResult{}, false, err
	}
	if a.Status == vsecure.StatusPending && waitSeconds > 0 {
		if a, err = s.wait(ctx, req, a, waitSeconds); err != nil {
			return SecretResult{}, false, err
		}
	}
	out := SecretResult{URI: uri, Approval: &a, Reused: reused}
	switch a.Status {
	case vsecure.StatusApproved:
		return out, true, nil
	case vsecure.StatusPending:
		out.Status = StatusApprovalPending
		verb := "Call " + toolFor(op) + " again"
		out.Instruction = fmt.Sprintf("%s on %s needs a human's approval. Approval %s is pending until %s; it can be decided at %s. "+
			"Tell the user, then %s after it is approved (get_approval shows its status). Do not retry in a loop.",
			op, uri, a.ID, a.ExpiresAt.Format(time.RFC3339), a.ApprovalURL, verb)
	case vsecure.StatusDenied:
		out.Status = StatusApprovalDenied
		out.Instruction = fmt.Sprintf("Approval %s was denied by %s. Do not ask again for the same task unless the user tells you to.", a.ID, a.DeniedBy)
	default:
		out.Status = StatusApprovalExpired
		out.Instruction = fmt.Sprintf("Approval %s is %s. Call %s again to file a new request.", a.ID, a.Status, toolFor(op))
	}
	return out, false, nil
}

func toolFor(op vsecure.Operation) string {
	switch op {
	case vsecure.OpWrite:
		return "write_secret"
	case opUse:
		return "run_with_secrets"
	}
	return "read_secret"
}

// findOrRequest returns the caller's pending request for uri and op,
// filing one if there is none.
func (s *service) findOrRequest(ctx context.Context, uri string, op vsecure.Operation, reason string, ttl *int) (api.ApprovalView, bool, error) {
	if a, ok, err := s.pending(ctx, uri, op); err != nil || ok {
		return a, ok, err
	}
	a, err := s.api.RequestApproval(ctx, api.ApprovalRequest{Resource: uri, Operation: string(op), Reason: reason, TTL: ttl})
	if err != nil {
		return api.ApprovalView{}, false, err
	}
	// The access token is a bearer credential for humans' tooling; the
	// agent reads with its own key and has no use for it.
	a.AccessToken = ""
	return a, false, nil
}

// pending finds the caller's newest pending request for uri and op. It
// matches on the requester, not on visibility: a caller that is also an
// approver sees other agents' requests, and must never take one for its
// own (it could neither use the access it grants nor decide it honestly).
func (s *service) pending(ctx context.Context, uri string, op vsecure.Operation) (api.ApprovalView, bool, error) {
	me, err := s.principal(ctx)
	if err != nil {
		return api.ApprovalView{}, false, err
	}
	now := s.now()
	pages := 0
	q := api.ApprovalsQuery{Status: string(vsecure.StatusPending), Resource: uri, Limit: 50}
	for {
		items, p, err := s.api.ListApprovals(ctx, q)
		if err != nil {
			return api.ApprovalView{}, false, err
		}
		for _, a := range items {
			if a.RequestedBy == me && a.Resource == uri && a.Operation == op &&
				a.Status == vsecure.StatusPending && now.Before(a.ExpiresAt) {
				return a, true, nil
			}
		}
		if pages++; !p.HasMore || pages == 4 {
			return api.ApprovalView{}, false, nil
		}
		q.Cursor = p.Cursor
	}
}

// wait polls the approval until it is decided or waitSeconds pass,
// sending progress notifications when the client asked for them.
func (s *service) wait(ctx context.Context, req *mcp.CallToolRequest, a api.ApprovalView, waitSeconds int) (api.ApprovalView, error) {
	limit := min(time.Duration(waitSeconds)*time.Second, s.maxWait)
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var token any
	if req != nil && req.Params != nil {
		token = req.Params.GetProgressToken()
	}
	start := s.now()
	t := time.NewTicker(s.poll)
	defer t.Stop()
	for a.Status == vsecure.StatusPending {
		if token != nil && req.Session != nil {
			elapsed := s.now().Sub(start)
			_ = req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
				ProgressToken: token, Progress: elapsed.Seconds(), Total: limit.Seconds(),
				Message: fmt.Sprintf("waiting for approval %s (%s)", a.ID, a.ApprovalURL),
			})
		}
		select {
		case <-ctx.Done():
			// The bounded wait ending is not an error: report pending.
			return a, nil
		case <-t.C:
		}
		next, err := s.api.GetApproval(ctx, a.ID)
		if err != nil {
			if ctx.Err() != nil {
				return a, nil
			}
			return a, err
		}
		a = next
	}
	return a, nil
}

// ---- request_approval, get_approval, list_approvals

// RequestApprovalInput is the input of request_approval.
type RequestApprovalInput struct {
	URI        string `json:"uri" jsonschema:"the secret's concrete URI"`
	Operation  string `json:"operation" jsonschema:"read or write"`
	Reason     string `json:"reason" jsonschema:"why you need it; shown to the approver"`
	TTLSeconds int    `json:"ttlSeconds,omitempty" jsonschema:"how long the request (and the access it grants) lasts, in seconds; default 3600"`
}

// ApprovalResult is the result of request_approval and get_approval.
type ApprovalResult struct {
	Approval    api.ApprovalView `json:"approval"`
	Reused      bool             `json:"reusedPendingRequest,omitempty"`
	Instruction string           `json:"instruction,omitempty"`
}

func (s *service) requestApproval(ctx context.Context, _ *mcp.CallToolRequest, in RequestApprovalInput) (*mcp.CallToolResult, ApprovalResult, error) {
	uri, err := concreteURI(in.URI)
	if err != nil {
		return nil, ApprovalResult{}, err
	}
	op, err := vsecure.ParseOperation(in.Operation)
	if err != nil {
		return nil, ApprovalResult{}, err
	}
	var ttl *int
	if in.TTLSeconds != 0 {
		ttl = &in.TTLSeconds
	}
	a, reused, err := s.findOrRequest(ctx, uri, op, in.Reason, ttl)
	if err != nil {
		return nil, ApprovalResult{}, err
	}
	return nil, ApprovalResult{Approval: a, Reused: reused, Instruction: approvalInstruction(a, op)}, nil
}

func approvalInstruction(a api.ApprovalView, op vsecure.Operation) string {
	switch a.Status {
	case vsecure.StatusApproved:
		return fmt.Sprintf("Approved until %s: call %s now.", a.ExpiresAt.Format(time.RFC3339), toolFor(op))
	case vsecure.StatusPending:
		return fmt.Sprintf("Pending until %s; a human decides at %s. Check again later with get_approval.", a.ExpiresAt.Format(time.RFC3339), a.ApprovalURL)
	}
	return fmt.Sprintf("The request is %s.", a.Status)
}

// GetApprovalInput is the input of get_approval.
type GetApprovalInput struct {
	ApprovalID string `json:"approvalId" jsonschema:"the approval id, appr_…"`
}

func (s *service) getApproval(ctx context.Context, _ *mcp.CallToolRequest, in GetApprovalInput) (*mcp.CallToolResult, ApprovalResult, error) {
	if in.ApprovalID == "" {
		return nil, ApprovalResult{}, vsecure.Errorf(vsecure.EInvalid, "approvalId is required")
	}
	a, err := s.api.GetApproval(ctx, in.ApprovalID)
	if err != nil {
		return nil, ApprovalResult{}, err
	}
	return nil, ApprovalResult{Approval: a, Instruction: approvalInstruction(a, a.Operation)}, nil
}

// ListApprovalsInput filters list_approvals.
type ListApprovalsInput struct {
	Status   string `json:"status,omitempty" jsonschema:"pending, approved, denied, expired or revoked"`
	Resource string `json:"resource,omitempty" jsonschema:"a concrete resource URI"`
	Limit    int    `json:"limit,omitempty" jsonschema:"page size, 1-200 (default 50)"`
	Cursor   string `json:"cursor,omitempty" jsonschema:"nextCursor of a previous call"`
}

// ListApprovalsOutput is one page of approvals.
type ListApprovalsOutput struct {
	Approvals  []api.ApprovalView `json:"approvals"`
	NextCursor string             `json:"nextCursor,omitempty" jsonschema:"pass as cursor to get the next page"`
}

func (s *service) listApprovals(ctx context.Context, _ *mcp.CallToolRequest, in ListApprovalsInput) (*mcp.CallToolResult, ListApprovalsOutput, error) {
	q := api.ApprovalsQuery{Status: in.Status, Limit: in.Limit, Cursor: in.Cursor}
	if in.Resource != "" {
		q.Resource = vsecure.ExpandShort(in.Resource)
	}
	items, p, err := s.api.ListApprovals(ctx, q)
	if err != nil {
		return nil, ListApprovalsOutput{}, err
	}
	if items == nil {
		items = []api.ApprovalView{}
	}
	return nil, ListApprovalsOutput{Approvals: items, NextCursor: next(p)}, nil
}

// ---- audit_log

// AuditLogInput filters audit_log.
type AuditLogInput struct {
	Resource  string `json:"resource,omitempty" jsonschema:"a URI or pattern, e.g. vsecure://secrets/production/* (short form production/* works)"`
	Actor     string `json:"actor,omitempty" jsonschema:"principal id of who acted"`
	Operation string `json:"operation,omitempty" jsonschema:"e.g. read, write, request_approval, approve, deny"`
	Since     string `json:"since,omitempty" jsonschema:"RFC 3339 time or a duration back from now such as 24h"`
	Until     string `json:"until,omitempty" jsonschema:"RFC 3339 time"`
	Limit     int    `json:"limit,omitempty" jsonschema:"page size, 1-200 (default 50)"`
	Cursor    string `json:"cursor,omitempty" jsonschema:"nextCursor of a previous call"`
}

// AuditLogOutput is one page of audit entries.
type AuditLogOutput struct {
	Logs       []vsecure.Entry `json:"logs"`
	NextCursor string          `json:"nextCursor,omitempty"`
}

func (s *service) auditLog(ctx context.Context, _ *mcp.CallToolRequest, in AuditLogInput) (*mcp.CallToolResult, AuditLogOutput, error) {
	q := api.AuditQuery{Actor: in.Actor, Operation: in.Operation, To: in.Until, Limit: in.Limit, Cursor: in.Cursor}
	if in.Resource != "" {
		q.Resource = vsecure.ExpandShort(in.Resource)
	}
	since, err := SinceTime(in.Since, s.now())
	if err != nil {
		return nil, AuditLogOutput{}, err
	}
	q.From = since
	logs, p, err := s.api.Audit(ctx, q)
	if err != nil {
		return nil, AuditLogOutput{}, err
	}
	if logs == nil {
		logs = []vsecure.Entry{}
	}
	return nil, AuditLogOutput{Logs: logs, NextCursor: next(p)}, nil
}

// SinceTime turns "24h"/"90m"/"7d" or an RFC 3339 time into an RFC 3339
// time; empty stays empty.
func SinceTime(s string, now time.Time) (string, error) {
	if s == "" {
		return "", nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC().Format(time.RFC3339), nil
	}
	d, err := parseDuration(s)
	if err != nil || d <= 0 {
		return "", vsecure.Errorf(vsecure.EInvalid, "since must be an RFC 3339 time or a duration such as 24h or 7d")
	}
	return now.Add(-d).UTC().Truncate(time.Second).Format(time.RFC3339), nil
}

func parseDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		d, err := time.ParseDuration(n + "h")
		return d * 24, err
	}
	return time.ParseDuration(s)
}

// ---- helpers

func next(p api.Pagination) string {
	if p.HasMore {
		return p.Cursor
	}
	return ""
}

// concreteURI expands the short form and checks the grammar locally so
// the agent gets a precise message without a round trip.
func concreteURI(s string) (string, error) {
	if s == "" {
		return "", vsecure.Errorf(vsecure.EInvalid, "uri is required")
	}
	u, err := vsecure.ParseURI(vsecure.ExpandShort(s))
	if err != nil {
		return "", err
	}
	if u.IsPattern() {
		return "", vsecure.Errorf(vsecure.EInvalid, "%s is a pattern; name one secret", u)
	}
	return u.String(), nil
}

// sensitiveResult renders out as the tool's text content marked
// sensitive in _meta and annotated for the assistant, so clients can
// keep it out of what they show and persist.
func sensitiveResult(out SecretResult) *mcp.CallToolResult {
	b, err := json.Marshal(out)
	if err != nil {
		b = []byte(out.Value)
	}
	meta := mcp.Meta{SensitiveMeta: true}
	return &mcp.CallToolResult{
		Meta: meta,
		Content: []mcp.Content{&mcp.TextContent{
			Text:        string(b),
			Meta:        meta,
			Annotations: &mcp.Annotations{Audience: []mcp.Role{"assistant"}, Priority: 1},
		}},
	}
}
