package mcpserver

import (
	"context"
	"encoding/json"
	"path"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/client"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// CodeApprovalRequired is the JSON-RPC error code of a resources/read
// refused because the secret needs an approved request first (clear of
// the SDK's own codes -32001..-32005 and -32020..-32042). Resource
// reads carry no reason for a human to judge, so they do not file one:
// the error tells the agent to use read_secret.
const CodeApprovalRequired = -32030

// resourcesPageSize is the page size of resources/list.
const resourcesPageSize = 100

// templates describe the URI grammar; every concrete URI matches one, so
// the SDK routes all resources/read calls to readResource.
var templates = []mcp.ResourceTemplate{
	{URITemplate: "vsecure://secrets/{environment}/{name}", Name: "secret", Title: "Secret",
		Description: "A secret value in an environment, e.g. vsecure://secrets/production/DATABASE_URL. Reading it follows the resource policy; gated secrets need an approved request (see the read_secret tool)."},
	{URITemplate: "vsecure://api-keys/{id}", Name: "api-key", Title: "API key",
		Description: "A stored third-party API key, e.g. vsecure://api-keys/stripe."},
	{URITemplate: "vsecure://custom/{type}/{id}", Name: "custom", Title: "Custom resource",
		Description: "A custom secret resource, e.g. vsecure://custom/certificate/web."},
}

func (s *service) addResources(srv *mcp.Server) {
	for i := range templates {
		t := templates[i]
		t.MIMEType = "text/plain"
		srv.AddResourceTemplate(&t, s.readResource)
	}
	// The secrets a caller may see depend on who calls and change all the
	// time, so resources/list is answered live from the API instead of
	// from a registry fixed at start.
	srv.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if method != "resources/list" {
				return next(ctx, method, req)
			}
			var cursor string
			if p, ok := req.GetParams().(*mcp.ListResourcesParams); ok && p != nil {
				cursor = p.Cursor
			}
			return s.listSecretResources(ctx, cursor)
		}
	})
}

func (s *service) listSecretResources(ctx context.Context, cursor string) (*mcp.ListResourcesResult, error) {
	items, p, err := s.api.ListSecrets(ctx, api.SecretsQuery{Limit: resourcesPageSize, Cursor: cursor})
	if err != nil {
		return nil, rpcError(err)
	}
	res := &mcp.ListResourcesResult{Resources: make([]*mcp.Resource, 0, len(items)), NextCursor: next(p)}
	for _, sec := range items {
		res.Resources = append(res.Resources, secretResource(sec))
	}
	return res, nil
}

func secretResource(sec api.SecretInfo) *mcp.Resource {
	name := sec.Name
	if name == "" {
		name = path.Base(sec.URI)
	}
	meta := mcp.Meta{SensitiveMeta: true, "version": sec.Version, "type": sec.Type, "accessCount": sec.AccessCount}
	if len(sec.Metadata) > 0 {
		meta["metadata"] = sec.Metadata
	}
	r := &mcp.Resource{
		URI: sec.URI, Name: name, Title: sec.Name, Description: sec.Description, MIMEType: "text/plain", Meta: meta,
	}
	if !sec.UpdatedAt.IsZero() {
		r.Annotations = &mcp.Annotations{LastModified: sec.UpdatedAt.UTC().Format(time.RFC3339)}
	}
	return r
}

func (s *service) readResource(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	uri := req.Params.URI
	if _, err := concreteURI(uri); err != nil || vsecure.ExpandShort(uri) != uri {
		return nil, mcp.ResourceNotFoundError(uri)
	}
	sec, err := s.api.GetSecret(ctx, uri, 0)
	if err != nil {
		if client.IsNotFound(err) {
			return nil, mcp.ResourceNotFoundError(uri)
		}
		return nil, rpcError(err)
	}
	return &mcp.ReadResourceResult{
		Meta: mcp.Meta{SensitiveMeta: true},
		Contents: []*mcp.ResourceContents{{
			URI: sec.URI, MIMEType: "text/plain", Text: sec.Value,
			Meta: mcp.Meta{SensitiveMeta: true, "version": sec.Version},
		}},
	}, nil
}

// rpcError turns an API error into a JSON-RPC error that keeps the API's
// code in data, so resource clients can branch on it.
func rpcError(err error) error {
	code := client.CodeOf(err)
	data, _ := json.Marshal(map[string]string{"code": string(code)})
	e := &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: err.Error(), Data: data}
	switch code {
	case client.CodeApprovalRequired:
		e.Code = CodeApprovalRequired
		e.Message += " — call the read_secret tool with a reason to request approval"
	case client.CodeInvalid:
		e.Code = jsonrpc.CodeInvalidParams
	}
	return e
}
