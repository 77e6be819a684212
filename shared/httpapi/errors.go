package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// statusOf is the one mapping from domain codes to HTTP statuses.
func statusOf(code vsecure.Code) int {
	switch code {
	case vsecure.EInvalid:
		return http.StatusBadRequest
	case vsecure.EUnauthenticated:
		return http.StatusUnauthorized
	case vsecure.EForbidden, vsecure.EApprovalRequired, vsecure.EOperationNotAllowed,
		vsecure.ESelfApproval, vsecure.ENotApprover:
		return http.StatusForbidden
	case vsecure.ENotFound:
		return http.StatusNotFound
	case vsecure.EMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case vsecure.EAlreadyDecided, vsecure.EConflict, vsecure.EIdempotencyInProgress:
		return http.StatusConflict
	case vsecure.EIdempotencyMismatch:
		return http.StatusUnprocessableEntity
	case vsecure.EExpired:
		return http.StatusGone
	case vsecure.ETooLarge:
		return http.StatusRequestEntityTooLarge
	case vsecure.ERateLimited:
		return http.StatusTooManyRequests
	case vsecure.EAuditUnavailable, vsecure.EUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// ErrorBody is the error envelope.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the content of the envelope.
type ErrorDetail struct {
	Code      vsecure.Code      `json:"code"`
	Message   string            `json:"message"`
	RequestID string            `json:"requestId"`
	Details   map[string]string `json:"details,omitempty"`
}

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
	writeJSON(w, statusOf(code), body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
