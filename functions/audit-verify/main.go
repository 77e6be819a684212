// Command audit-verify is the Lambda function serving the "audit-verify"
// route of the route table (shared/httpapi.Routes): it checks the audit
// log against the digests signed with VSECURE_AUDIT_SIGNING_KEY_ARN, whose
// public key it fetches once (kms:GetPublicKey).
package main

import (
	"github.com/vsecure/vsecure/shared/lambdafn"
	"github.com/vsecure/vsecure/shared/lambdafn/s3witness"
)

func main() {
	lambdafn.Buckets = s3witness.Open
	lambdafn.Serve("audit-verify")
}
