package mcpserver

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/client"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// fakeAPI is a small in-memory stand-in for the API with the rules the
// MCP layer depends on: secrets under a gated prefix need an approved
// request of the caller, approvals are visible to their requester.
type fakeAPI struct {
	mu        sync.Mutex
	me        string
	gated     string // URI prefix needing approval
	secrets   map[string]string
	approvals []api.ApprovalView
	requests  int    // RequestApproval calls
	whoamis   int    // Whoami calls
	useOnly   string // URI prefix whose policy grants use, not read
	uses      []api.SecretUse
	now       time.Time
}

func newFake() *fakeAPI {
	return &fakeAPI{
		me: "agent-1", gated: "vsecure://secrets/production/",
		secrets: map[string]string{
			"vsecure://secrets/staging/API_TOKEN":       "stg-token",
			"vsecure://secrets/production/DATABASE_URL": "postgres://prod",
		},
		now: time.Date(2024, 3, 15, 10, 30, 0, 0, time.UTC),
	}
}

func (f *fakeAPI) ListResources(context.Context) ([]api.ResourceView, error) {
	return []api.ResourceView{
		{URI: "vsecure://secrets/production/*", Type: "secret", Permissions: []vsecure.Operation{"read"}, RequiresApproval: true},
		{URI: "vsecure://secrets/staging/*", Type: "secret", Permissions: []vsecure.Operation{"read", "write"}},
	}, nil
}

func (f *fakeAPI) granted(uri string, op vsecure.Operation) bool {
	for _, a := range f.approvals {
		if a.Resource == uri && a.Operation == op && a.RequestedBy == f.me && a.Status == vsecure.StatusApproved {
			return true
		}
	}
	return false
}

func (f *fakeAPI) GetSecret(_ context.Context, uri string, _ int) (api.SecretRead, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.secrets[uri]
	if f.useOnly != "" && strings.HasPrefix(uri, f.useOnly) {
		return api.SecretRead{}, &client.Error{StatusCode: 403, Code: client.CodeNotPermitted, Message: "the policy of " + uri + " permits use, not read"}
	}
	if strings.HasPrefix(uri, f.gated) && !f.granted(uri, vsecure.OpRead) {
		return api.SecretRead{}, &client.Error{StatusCode: 403, Code: client.CodeApprovalRequired, Message: "read on " + uri + " requires approval"}
	}
	if !ok {
		return api.SecretRead{}, &client.Error{StatusCode: 404, Code: client.CodeNotFound, Message: "no secret at " + uri}
	}
	return api.SecretRead{URI: uri, Type: "secret", Value: v, Version: 1, Metadata: map[string]string{}}, nil
}

func (f *fakeAPI) UseSecret(_ context.Context, r api.SecretUse) (api.SecretRead, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.uses = append(f.uses, r)
	v, ok := f.secrets[r.URI]
	if strings.HasPrefix(r.URI, f.gated) && !f.granted(r.URI, "use") {
		return api.SecretRead{}, &client.Error{StatusCode: 403, Code: client.CodeApprovalRequired, Message: "use of " + r.URI + " requires approval"}
	}
	if !ok {
		return api.SecretRead{}, &client.Error{StatusCode: 404, Code: client.CodeNotFound, Message: "no secret at " + r.URI}
	}
	return api.SecretRead{URI: r.URI, Type: "secret", Value: v, Version: 1}, nil
}

func (f *fakeAPI) PutSecret(_ context.Context, uri string, w api.SecretWrite) (api.SecretInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if strings.HasPrefix(uri, f.gated) {
		return api.SecretInfo{}, &client.Error{StatusCode: 403, Code: client.CodeNotPermitted, Message: "the policy does not permit write"}
	}
	f.secrets[uri] = *w.Value
	return api.SecretInfo{URI: uri, Type: "secret", Version: 2, Metadata: map[string]string{}}, nil
}

func (f *fakeAPI) ListSecrets(_ context.Context, q api.SecretsQuery) ([]api.SecretInfo, api.Pagination, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []api.SecretInfo
	for _, uri := range []string{"vsecure://secrets/production/DATABASE_URL", "vsecure://secrets/staging/API_TOKEN"} {
		if q.Pattern != "" && !strings.HasPrefix(uri, strings.TrimSuffix(q.Pattern, "*")) {
			continue
		}
		out = append(out, api.SecretInfo{URI: uri, Type: "secret", Version: 1, Metadata: map[string]string{"env": "x"}, UpdatedAt: f.now})
	}
	// Two pages of one item each, to exercise cursors.
	if q.Cursor == "" && len(out) > 1 {
		return out[:1], api.Pagination{Cursor: "p2", HasMore: true}, nil
	}
	if q.Cursor == "p2" {
		return out[1:], api.Pagination{}, nil
	}
	return out, api.Pagination{}, nil
}

func (f *fakeAPI) RequestApproval(_ context.Context, r api.ApprovalRequest) (api.ApprovalView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	a := api.ApprovalView{
		ID: fmt.Sprintf("appr_%d", len(f.approvals)+1), Status: vsecure.StatusPending, Resource: r.Resource,
		Operation: vsecure.Operation(r.Operation), Reason: r.Reason, RequestedBy: f.me, RequestedAt: f.now,
		ExpiresAt: f.now.Add(time.Hour), TTL: 3600, Approvers: []string{"alice"}, RequiredApprovals: 1,
		AccessToken: "mcp_at_secret",
	}
	a.ApprovalURL = "http://127.0.0.1:8080/v1/security/mcp/approvals/" + a.ID
	f.approvals = append([]api.ApprovalView{a}, f.approvals...)
	return a, nil
}

func (f *fakeAPI) ListApprovals(_ context.Context, q api.ApprovalsQuery) ([]api.ApprovalView, api.Pagination, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []api.ApprovalView{}
	for _, a := range f.approvals {
		if (q.Status == "" || string(a.Status) == q.Status) && (q.Resource == "" || a.Resource == q.Resource) {
			out = append(out, a)
		}
	}
	return out, api.Pagination{}, nil
}

func (f *fakeAPI) GetApproval(_ context.Context, id string) (api.ApprovalView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range f.approvals {
		if a.ID == id {
			return a, nil
		}
	}
	return api.ApprovalView{}, &client.Error{StatusCode: 404, Code: client.CodeNotFound, Message: "no approval " + id}
}

func (f *fakeAPI) Audit(_ context.Context, q api.AuditQuery) ([]vsecure.Entry, api.Pagination, error) {
	return nil, api.Pagination{}, &client.Error{StatusCode: 403, Code: client.CodeForbidden, Message: "reading the audit log needs the admin or auditor role"}
}

func (f *fakeAPI) Whoami(context.Context) (api.Identity, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.whoamis++
	return api.Identity{Principal: f.me, Roles: []vsecure.Role{vsecure.RoleAgent}, KeyID: "key_1", Credential: api.CredentialAPIKey}, nil
}

// decide sets an approval's status (a human acting elsewhere).
func (f *fakeAPI) decide(id string, st vsecure.Status) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.approvals {
		if f.approvals[i].ID == id {
			f.approvals[i].Status = st
		}
	}
}

// addForeign adds a pending request of another principal that the caller
// sees as one of its approvers.
func (f *fakeAPI) addForeign(uri string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.approvals = append(f.approvals, api.ApprovalView{
		ID: "appr_other", Status: vsecure.StatusPending, Resource: uri, Operation: vsecure.OpRead,
		RequestedBy: "agent-2", RequestedAt: f.now, ExpiresAt: f.now.Add(time.Hour), Approvers: []string{f.me},
	})
}
