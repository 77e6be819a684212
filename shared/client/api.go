package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// Health checks GET /healthz.
func (c *Client) Health(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/healthz", nil, nil, nil)
}

// Whoami describes the caller as its credential makes it: principal,
// roles, key id and, for an access token, its scope.
func (c *Client) Whoami(ctx context.Context) (api.Identity, error) {
	var out api.Identity
	err := c.do(ctx, http.MethodGet, "/v1/security/whoami", nil, nil, &out)
	return out, err
}

// ListResources lists the configured resource policies.
func (c *Client) ListResources(ctx context.Context) ([]api.ResourceView, error) {
	var out api.ResourceList
	err := c.do(ctx, http.MethodGet, "/v1/security/mcp/resources", nil, nil, &out)
	return out.Resources, err
}

// GetPolicy returns the policy configured exactly at a pattern URI
// (vsecure://secrets/production/*).
func (c *Client) GetPolicy(ctx context.Context, pattern string) (api.ResourceView, error) {
	var out api.ResourceView
	err := c.do(ctx, http.MethodGet, resourcePath(pattern), nil, nil, &out)
	return out, err
}

// GetSecret reads a secret's value (version 0: the latest). A gated
// secret without an approved request fails with CodeApprovalRequired.
func (c *Client) GetSecret(ctx context.Context, uri string, version int) (api.SecretRead, error) {
	var q url.Values
	if version > 0 {
		q = url.Values{"version": {strconv.Itoa(version)}}
	}
	var out api.SecretRead
	err := c.do(ctx, http.MethodGet, resourcePath(uri), q, nil, &out)
	return out, err
}

// Configure creates or replaces the policy at cfg.URI (admin).
func (c *Client) Configure(ctx context.Context, cfg api.ResourceConfig) (api.ResourceView, error) {
	var out api.ResourceView
	err := c.do(ctx, http.MethodPost, "/v1/security/mcp/resources", nil, cfg, &out)
	return out, err
}

// PutSecret writes a new version of the secret at uri.
func (c *Client) PutSecret(ctx context.Context, uri string, w api.SecretWrite) (api.SecretInfo, error) {
	var out api.SecretInfo
	err := c.do(ctx, http.MethodPut, resourcePath(uri), nil, w, &out)
	return out, err
}

// ListSecrets lists one page of secrets the caller may use (never values).
func (c *Client) ListSecrets(ctx context.Context, q api.SecretsQuery) ([]api.SecretInfo, api.Pagination, error) {
	v := url.Values{}
	set(v, "pattern", q.Pattern)
	setPage(v, q.Limit, q.Cursor)
	var out api.SecretList
	err := c.do(ctx, http.MethodGet, "/v1/security/mcp/secrets", v, nil, &out)
	return out.Secrets, out.Pagination, err
}

// AllSecrets follows cursors over every page of ListSecrets.
func (c *Client) AllSecrets(ctx context.Context, q api.SecretsQuery) iter.Seq2[api.SecretInfo, error] {
	return All(ctx, q.Cursor, func(ctx context.Context, cursor string) ([]api.SecretInfo, api.Pagination, error) {
		q.Cursor = cursor
		return c.ListSecrets(ctx, q)
	})
}

// RequestApproval asks for approval of one operation on one resource.
// When the policy needs no approval (or auto-approves), the response is
// already approved.
func (c *Client) RequestApproval(ctx context.Context, r api.ApprovalRequest) (api.ApprovalView, error) {
	var out api.ApprovalView
	err := c.do(ctx, http.MethodPost, "/v1/security/mcp/approve", nil, r, &out)
	return out, err
}

// ListApprovals lists one page of approvals the caller may see, newest first.
func (c *Client) ListApprovals(ctx context.Context, q api.ApprovalsQuery) ([]api.ApprovalView, api.Pagination, error) {
	v := url.Values{}
	set(v, "status", q.Status)
	set(v, "resource", q.Resource)
	setPage(v, q.Limit, q.Cursor)
	var out api.ApprovalList
	err := c.do(ctx, http.MethodGet, "/v1/security/mcp/approvals", v, nil, &out)
	return out.Data, out.Pagination, err
}

// AllApprovals follows cursors over every page of ListApprovals.
func (c *Client) AllApprovals(ctx context.Context, q api.ApprovalsQuery) iter.Seq2[api.ApprovalView, error] {
	return All(ctx, q.Cursor, func(ctx context.Context, cursor string) ([]api.ApprovalView, api.Pagination, error) {
		q.Cursor = cursor
		return c.ListApprovals(ctx, q)
	})
}

// GetApproval returns one approval.
func (c *Client) GetApproval(ctx context.Context, id string) (api.ApprovalView, error) {
	var out api.ApprovalView
	err := c.do(ctx, http.MethodGet, "/v1/security/mcp/approvals/"+url.PathEscape(id), nil, nil, &out)
	return out, err
}

// Respond approves or denies an approval (approver). The response to the
// decision that grants access carries the access token, shown only in that response and valid until expiresAt.
func (c *Client) Respond(ctx context.Context, id string, r api.Respond) (api.ApprovalView, error) {
	var out api.ApprovalView
	err := c.do(ctx, http.MethodPost, "/v1/security/mcp/approvals/"+url.PathEscape(id)+"/respond", nil, r, &out)
	return out, err
}

// Revoke ends granted access at once (listed approver or admin).
func (c *Client) Revoke(ctx context.Context, id string) (api.ApprovalView, error) {
	var out api.ApprovalView
	err := c.do(ctx, http.MethodPost, "/v1/security/mcp/approvals/"+url.PathEscape(id)+"/revoke", nil, struct{}{}, &out)
	return out, err
}

// CancelApproval withdraws a request (its requester, the human it acts
// for, or an admin): pending becomes cancelled, approved is revoked.
func (c *Client) CancelApproval(ctx context.Context, id string) (api.ApprovalView, error) {
	var out api.ApprovalView
	err := c.do(ctx, http.MethodPost, "/v1/security/mcp/approvals/"+url.PathEscape(id)+"/cancel", nil, struct{}{}, &out)
	return out, err
}

// Audit returns one page of audit entries, newest first (admin, auditor).
func (c *Client) Audit(ctx context.Context, q api.AuditQuery) ([]vsecure.Entry, api.Pagination, error) {
	v := url.Values{}
	set(v, "resource", q.Resource)
	set(v, "actor", q.Actor)
	set(v, "operation", q.Operation)
	if q.Success != nil {
		v.Set("success", strconv.FormatBool(*q.Success))
	}
	set(v, "from", q.From)
	set(v, "to", q.To)
	setPage(v, q.Limit, q.Cursor)
	var out api.AuditLog
	err := c.do(ctx, http.MethodGet, "/v1/security/mcp/audit", v, nil, &out)
	return out.Logs, out.Pagination, err
}

// AllAudit follows cursors over every page of Audit.
func (c *Client) AllAudit(ctx context.Context, q api.AuditQuery) iter.Seq2[vsecure.Entry, error] {
	return All(ctx, q.Cursor, func(ctx context.Context, cursor string) ([]vsecure.Entry, api.Pagination, error) {
		q.Cursor = cursor
		return c.Audit(ctx, q)
	})
}

// CreateKey mints an API key (admin). The secret is in the result only.
func (c *Client) CreateKey(ctx context.Context, r api.KeyRequest) (api.CreatedKey, error) {
	var out api.CreatedKey
	err := c.do(ctx, http.MethodPost, "/v1/security/keys", nil, r, &out)
	return out, err
}

// ListKeys lists one page of keys without secrets (admin).
func (c *Client) ListKeys(ctx context.Context, limit int, cursor string) ([]vsecure.Key, api.Pagination, error) {
	v := url.Values{}
	setPage(v, limit, cursor)
	var out api.KeyList
	err := c.do(ctx, http.MethodGet, "/v1/security/keys", v, nil, &out)
	return out.Keys, out.Pagination, err
}

// AllKeys follows cursors over every page of ListKeys.
func (c *Client) AllKeys(ctx context.Context, limit int) iter.Seq2[vsecure.Key, error] {
	return All(ctx, "", func(ctx context.Context, cursor string) ([]vsecure.Key, api.Pagination, error) {
		return c.ListKeys(ctx, limit, cursor)
	})
}

// DeleteKey revokes a key (admin).
func (c *Client) DeleteKey(ctx context.Context, id string) (vsecure.Key, error) {
	var out vsecure.Key
	err := c.do(ctx, http.MethodDelete, "/v1/security/keys/"+url.PathEscape(id), nil, nil, &out)
	return out, err
}

// RotateKey mints a replacement for key id with the same principal and
// roles; the old key keeps working for overlap (admin). The new secret is
// in the result only.
func (c *Client) RotateKey(ctx context.Context, id string, overlap time.Duration) (api.RotatedKey, error) {
	secs := int(overlap / time.Second)
	var out api.RotatedKey
	err := c.do(ctx, http.MethodPost, "/v1/security/keys/"+url.PathEscape(id)+"/rotate", nil, api.RotateRequest{OverlapSeconds: &secs}, &out)
	return out, err
}

// All turns a paged list call into an iterator over every item, following
// cursors from start until a page says hasMore: false. Iteration stops at
// the first error, which is yielded with a zero item.
func All[T any](ctx context.Context, start string, page func(ctx context.Context, cursor string) ([]T, api.Pagination, error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		cursor := start
		for {
			items, p, err := page(ctx, cursor)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, it := range items {
				if !yield(it, nil) {
					return
				}
			}
			if !p.HasMore || p.Cursor == "" || p.Cursor == cursor {
				return
			}
			cursor = p.Cursor
		}
	}
}

// Collect gathers an iterator into a slice, stopping at the first error.
func Collect[T any](seq iter.Seq2[T, error]) ([]T, error) {
	var out []T
	for it, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, it)
	}
	return out, nil
}

func set(v url.Values, k, s string) {
	if s != "" {
		v.Set(k, s)
	}
}

func setPage(v url.Values, limit int, cursor string) {
	if limit > 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	set(v, "cursor", cursor)
}

// VerifyAudit checks the audit log of [from, to) (RFC 3339, empty for
// unbounded) against its signed digests (admin, auditor).
func (c *Client) VerifyAudit(ctx context.Context, from, to string) (api.AuditVerification, error) {
	v := url.Values{}
	set(v, "from", from)
	set(v, "to", to)
	var out api.AuditVerification
	err := c.do(ctx, http.MethodGet, "/v1/security/mcp/audit/verify", v, nil, &out)
	return out, err
}

// SetKeySlackUser sets (or with "" clears) the Slack user id of a key's
// principal for Slack approvals (admin).
func (c *Client) SetKeySlackUser(ctx context.Context, id, slackUserID string) (vsecure.Key, error) {
	return c.UpdateKey(ctx, id, api.KeyUpdateRequest{SlackUserID: &slackUserID})
}

// UpdateKey changes the fields of key id that r sets: its roles, its Slack
// user id, or both (admin).
func (c *Client) UpdateKey(ctx context.Context, id string, r api.KeyUpdateRequest) (vsecure.Key, error) {
	var out vsecure.Key
	err := c.do(ctx, http.MethodPatch, "/v1/security/keys/"+url.PathEscape(id), nil, r, &out)
	return out, err
}

// ExportAuditPage returns one page of the audit export of [from, to) as
// JSON lines (admin, auditor); cursor is "" for the first page.
func (c *Client) ExportAuditPage(ctx context.Context, from, to, cursor string) ([]byte, error) {
	v := url.Values{}
	set(v, "from", from)
	set(v, "to", to)
	set(v, "cursor", cursor)
	var out []byte
	err := c.do(ctx, http.MethodGet, "/v1/security/mcp/audit/export", v, nil, &out)
	return out, err
}

// ExportAudit writes the audit export of [from, to) to w as one file: the
// first page's header line, then every page's records and digests in
// order, following the cursors to the end.
func (c *Client) ExportAudit(ctx context.Context, from, to string, w io.Writer) error {
	cursor := ""
	for page := 0; ; page++ {
		b, err := c.ExportAuditPage(ctx, from, to, cursor)
		if err != nil {
			return err
		}
		cursor = ""
		for len(b) > 0 {
			line, rest, _ := bytes.Cut(b, []byte("\n"))
			b = rest
			var l vsecure.ExportLine
			if err := json.Unmarshal(line, &l); err != nil {
				return fmt.Errorf("client: decode export line: %w", err)
			}
			switch {
			case l.Cursor != "":
				cursor = l.Cursor
				continue
			case l.Export != nil && page > 0:
				continue // one header per file: the first page's
			}
			if _, err := w.Write(append(line, '\n')); err != nil {
				return err
			}
		}
		if cursor == "" {
			return nil
		}
	}
}
