package api

import "github.com/vsecure/vsecure/shared/vsecure"

// AuditLog is a page of GET /v1/security/mcp/audit.
type AuditLog struct {
	Logs       []vsecure.Entry `json:"logs"`
	Pagination Pagination      `json:"pagination"`
}

// AuditQuery filters GET /v1/security/mcp/audit.
type AuditQuery struct {
	Resource  string // exact URI or pattern
	Actor     string
	Operation string
	Success   *bool
	From, To  string // RFC 3339
	Limit     int
	Cursor    string
}

// TrustedKey is the key digests are checked against, so that an auditor
// can compare it with the one they were given.
type TrustedKey struct {
	KeyID     string `json:"keyId"`
	Algorithm string `json:"algorithm"`
	// PublicKey is PKIX DER (base64 in JSON).
	PublicKey []byte `json:"publicKey"`
}

// AuditVerification is the answer of GET /v1/security/mcp/audit/verify: a
// verification report and the key it trusted.
type AuditVerification struct {
	vsecure.Report
	TrustedKey TrustedKey `json:"trustedKey"`
}
