package api

import (
	"net/http"
	"strconv"

	"github.com/vsecure/vsecure/shared/vsecure"
)

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

// statuses is THE table of error codes and HTTP statuses: the server maps
// codes to statuses with it (StatusOf) and the client maps a status that
// came without an envelope back to a code (CodeOf). Several codes share a
// status; the first of them in the table is the one a bare status means.
var statuses = []struct {
	code   vsecure.Code
	status int
}{
	{vsecure.EInvalid, http.StatusBadRequest},
	{vsecure.EUnauthenticated, http.StatusUnauthorized},
	{vsecure.EForbidden, http.StatusForbidden},
	{vsecure.EApprovalRequired, http.StatusForbidden},
	{vsecure.EOperationNotAllowed, http.StatusForbidden},
	{vsecure.ESelfApproval, http.StatusForbidden},
	{vsecure.ENotApprover, http.StatusForbidden},
	{vsecure.EStepUpRequired, http.StatusForbidden},
	{vsecure.ENotFound, http.StatusNotFound},
	{vsecure.EMethodNotAllowed, http.StatusMethodNotAllowed},
	{vsecure.EAlreadyDecided, http.StatusConflict},
	{vsecure.EConflict, http.StatusConflict},
	{vsecure.EIdempotencyInProgress, http.StatusConflict},
	{vsecure.EExpired, http.StatusGone},
	{vsecure.ETooLarge, http.StatusRequestEntityTooLarge},
	{vsecure.EIdempotencyMismatch, http.StatusUnprocessableEntity},
	{vsecure.ERateLimited, http.StatusTooManyRequests},
	{vsecure.EInternal, http.StatusInternalServerError},
	{vsecure.EUnavailable, http.StatusServiceUnavailable},
	{vsecure.EAuditUnavailable, http.StatusServiceUnavailable},
}

// StatusOf is the HTTP status of an error code: 500 for a code the table
// does not know.
func StatusOf(code vsecure.Code) int {
	for _, s := range statuses {
		if s.code == code {
			return s.status
		}
	}
	return http.StatusInternalServerError
}

// CodeOf is the error code a bare HTTP error status stands for, the
// inverse of StatusOf; "http_<status>" for a status no code has.
func CodeOf(status int) vsecure.Code {
	for _, s := range statuses {
		if s.status == status {
			return s.code
		}
	}
	return vsecure.Code("http_" + strconv.Itoa(status))
}
