package client

import (
	"context"
	"net/http"

	"github.com/vsecure/vsecure/shared/api"
)

// UseSecret fetches a secret's value to inject into a process (vsecure
// run): the use permission, audited as operation use with r's command and
// host. A gated secret without an approved request fails with
// CodeApprovalRequired, as GetSecret does.
func (c *Client) UseSecret(ctx context.Context, r api.SecretUse) (api.SecretRead, error) {
	var out api.SecretRead
	err := c.do(ctx, http.MethodPost, api.UsePath, nil, r, &out)
	return out, err
}
