package client

import (
	"errors"
	"fmt"
	"time"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// Code is an API error code (the envelope's error.code).
type Code = vsecure.Code

// Error codes a caller is likely to branch on. They are the domain codes.
const (
	CodeInvalid          = vsecure.EInvalid
	CodeUnauthenticated  = vsecure.EUnauthenticated
	CodeForbidden        = vsecure.EForbidden
	CodeApprovalRequired = vsecure.EApprovalRequired
	CodeNotPermitted     = vsecure.EOperationNotAllowed
	CodeSelfApproval     = vsecure.ESelfApproval
	CodeNotApprover      = vsecure.ENotApprover
	CodeStepUpRequired   = vsecure.EStepUpRequired
	CodeNotFound         = vsecure.ENotFound
	CodeAlreadyDecided   = vsecure.EAlreadyDecided
	CodeExpired          = vsecure.EExpired
	CodePayloadTooLarge  = vsecure.ETooLarge
	CodeRateLimited      = vsecure.ERateLimited
	CodeInternal         = vsecure.EInternal
	CodeAuditUnavailable = vsecure.EAuditUnavailable
	// CodeUnavailable also stands for "the server could not be reached".
	CodeUnavailable = vsecure.EUnavailable
)

// Error is an API error: the decoded envelope, or a transport failure with
// Code CodeUnavailable. It unwraps to a *vsecure.Error with the same code,
// so vsecure.IsCode works on errors from this client and from the gate
// alike.
type Error struct {
	// StatusCode is the HTTP status (0 when no response arrived).
	StatusCode int
	Code       Code
	Message    string
	RequestID  string
	Details    map[string]string
	// Err is the transport error, if any.
	Err        error
	retryAfter time.Duration
}

func (e *Error) Error() string {
	if e.RequestID != "" {
		return fmt.Sprintf("%s: %s (request %s)", e.Code, e.Message, e.RequestID)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Unwrap exposes the domain error and the transport error.
func (e *Error) Unwrap() []error {
	errs := []error{&vsecure.Error{Code: e.Code, Message: e.Message, Detail: e.Details}}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// CodeOf returns the API error code of err, "" for nil, or CodeInternal
// for errors that carry none.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return vsecure.ErrorCode(err)
}

// IsApprovalRequired reports whether the operation needs an approved request first.
func IsApprovalRequired(err error) bool { return CodeOf(err) == CodeApprovalRequired }

// IsNotFound reports whether the resource, approval or key does not exist.
func IsNotFound(err error) bool { return CodeOf(err) == CodeNotFound }

// IsUnavailable reports whether the server could not be reached or could
// not audit (and so did not perform) the call.
func IsUnavailable(err error) bool {
	switch CodeOf(err) {
	case CodeUnavailable, CodeAuditUnavailable:
		return true
	}
	return false
}
