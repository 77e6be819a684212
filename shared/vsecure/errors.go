package vsecure

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Code classifies a domain error. The HTTP layer maps each code to a status
// in exactly one place; everything else only speaks codes.
type Code string

// Error codes of the public contract.
const (
	EInvalid             Code = "invalid_request"
	EUnauthenticated     Code = "unauthenticated"
	EForbidden           Code = "forbidden"
	EApprovalRequired    Code = "approval_required"
	EOperationNotAllowed Code = "operation_not_permitted"
	ESelfApproval        Code = "self_approval_forbidden"
	ENotApprover         Code = "not_an_approver"
	ENotFound            Code = "not_found"
	EAlreadyDecided      Code = "already_decided"
	EExpired             Code = "expired"
	ETooLarge            Code = "payload_too_large"
	ERateLimited         Code = "rate_limited"
	EInternal            Code = "internal"
	EAuditUnavailable    Code = "audit_unavailable"
	EUnavailable         Code = "unavailable"
	// EIdempotencyMismatch: an Idempotency-Key was reused with a different
	// request (method, route, caller or body).
	EIdempotencyMismatch Code = "idempotency_mismatch"
	// EIdempotencyInProgress: the first request with this Idempotency-Key
	// is still running; retry shortly to get its response.
	EIdempotencyInProgress Code = "idempotency_in_progress"
	// EConflict is internal: a conditional write lost a race. Services
	// retry or translate it; it never reaches a caller as such.
	EConflict Code = "conflict"
	// EMethodNotAllowed: the path exists, the method does not (405).
	EMethodNotAllowed Code = "method_not_allowed"
	// EStepUpRequired: the approval's policy has stepUp, and the call
	// carried no fresh passkey step-up (decide in the console).
	EStepUpRequired Code = "step_up_required"
)

// Error is a domain error: a code and a message safe to show to the caller.
// Details that must not leak (AWS error text, paths) stay in the wrapped Err.
type Error struct {
	Code    Code
	Message string
	// Detail carries structured, caller-safe context (e.g. the pending
	// approval id for approval_required).
	Detail map[string]string
	Err    error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns a domain error with a caller-safe message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns a domain error that keeps err for logs but shows only msg.
func Wrap(code Code, err error, msg string) *Error {
	return &Error{Code: code, Message: msg, Err: err}
}

// ErrorCode returns the code of the first domain error in err's chain, or
// EInternal for anything else.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the caller-safe message of err.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// IsCode reports whether err carries code.
func IsCode(err error, code Code) bool { return err != nil && ErrorCode(err) == code }

// RateLimited is the error of a throttled call; retryAfter becomes the
// Retry-After header.
func RateLimited(retryAfter time.Duration, why string) *Error {
	secs := max(1, int(math.Ceil(retryAfter.Seconds())))
	return &Error{Code: ERateLimited, Message: why, Detail: map[string]string{"retryAfter": strconv.Itoa(secs)}}
}
