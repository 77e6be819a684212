package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// requestApprovalRoute is where an approval_required refusal sends the
// caller (gate.ApprovalNeeded).
const requestApprovalRoute = "POST /v1/security/mcp/approve"

func (a *API) writeError(ctx context.Context, w http.ResponseWriter, err error) {
	code := vsecure.ErrorCode(err)
	msg := vsecure.ErrorMessage(err)
	switch code {
	case vsecure.EInternal:
		// Never leak internals; the log has the detail under the request id.
		a.Log.ErrorContext(ctx, "internal error", "requestId", RequestID(ctx), "err", err)
		msg = "internal error"
	case vsecure.EConflict:
		code, msg = vsecure.EAlreadyDecided, "a concurrent change won; retry"
	}
	if need := (gate.ApprovalNeeded{}); errors.As(err, &need) {
		msg += "; request it with " + requestApprovalRoute
	}
	body := api.ErrorBody{Error: api.ErrorDetail{Code: code, Message: msg, RequestID: RequestID(ctx)}}
	var de *vsecure.Error
	if errors.As(err, &de) {
		body.Error.Details = de.Detail
	}
	if code == vsecure.ERateLimited || code == vsecure.EIdempotencyInProgress {
		retry := "1"
		if de != nil && de.Detail["retryAfter"] != "" {
			retry = de.Detail["retryAfter"]
		}
		w.Header().Set("Retry-After", retry)
	}
	writeJSON(w, api.StatusOf(code), body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
