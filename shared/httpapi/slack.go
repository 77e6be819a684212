package httpapi

import (
	"context"
	"net/http"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// CallFrom returns the call the middleware built for a request (source IP,
// user agent, request id and, on AuthKey routes, the principal), for
// handlers other packages serve through API.Mounts.
func CallFrom(ctx context.Context) gate.Call { return vsecure.CallFrom(ctx) }

// updateKey serves PATCH /v1/security/keys/:id: a key's roles or the
// Slack user id of its principal.
func (a *API) updateKey(w http.ResponseWriter, r *http.Request) error {
	var b api.KeyUpdateRequest
	if err := decode(r, &b); err != nil {
		return a.refuse(r, vsecure.AuditKeyUpdate, "", err)
	}
	k, err := a.Gate.UpdateKey(r.Context(), callOf(r), r.PathValue("id"), b)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, k)
	return nil
}
