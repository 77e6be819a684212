package api

import (
	"net/http"
	"testing"

	"github.com/vsecure/vsecure/shared/vsecure"
)

func TestStatusOf(t *testing.T) {
	for code, want := range map[vsecure.Code]int{
		vsecure.EInvalid:               http.StatusBadRequest,
		vsecure.EUnauthenticated:       http.StatusUnauthorized,
		vsecure.EApprovalRequired:      http.StatusForbidden,
		vsecure.ESelfApproval:          http.StatusForbidden,
		vsecure.EStepUpRequired:        http.StatusForbidden,
		vsecure.ENotFound:              http.StatusNotFound,
		vsecure.EMethodNotAllowed:      http.StatusMethodNotAllowed,
		vsecure.EAlreadyDecided:        http.StatusConflict,
		vsecure.EIdempotencyInProgress: http.StatusConflict,
		vsecure.EIdempotencyMismatch:   http.StatusUnprocessableEntity,
		vsecure.EExpired:               http.StatusGone,
		vsecure.ETooLarge:              http.StatusRequestEntityTooLarge,
		vsecure.ERateLimited:           http.StatusTooManyRequests,
		vsecure.EInternal:              http.StatusInternalServerError,
		vsecure.EAuditUnavailable:      http.StatusServiceUnavailable,
		vsecure.EUnavailable:           http.StatusServiceUnavailable,
		vsecure.Code("no_such_code"):   http.StatusInternalServerError,
	} {
		if got := StatusOf(code); got != want {
			t.Errorf("StatusOf(%s) = %d, want %d", code, got, want)
		}
	}
}

// CodeOf is StatusOf's inverse: every status of the table maps back to a
// code that maps to it again.
func TestCodeOfInvertsStatusOf(t *testing.T) {
	for _, s := range statuses {
		if got := StatusOf(CodeOf(s.status)); got != s.status {
			t.Errorf("StatusOf(CodeOf(%d)) = %d", s.status, got)
		}
	}
	for status, want := range map[int]vsecure.Code{
		http.StatusBadRequest:         vsecure.EInvalid,
		http.StatusForbidden:          vsecure.EForbidden,
		http.StatusServiceUnavailable: vsecure.EUnavailable,
		http.StatusTeapot:             "http_418",
	} {
		if got := CodeOf(status); got != want {
			t.Errorf("CodeOf(%d) = %s, want %s", status, got, want)
		}
	}
}
