// Command audit-digest is the scheduled audit digest step: an EventBridge
// rule invokes it every five minutes and it seals the closed audit windows
// into digests signed with the KMS key VSECURE_AUDIT_SIGNING_KEY_ARN
// (package digest). It serves no route.
package main

import (
	"github.com/vsecure/vsecure/shared/lambdafn"
	"github.com/vsecure/vsecure/shared/lambdafn/s3witness"
)

func main() {
	lambdafn.Buckets = s3witness.Open
	lambdafn.ServeDigest()
}
