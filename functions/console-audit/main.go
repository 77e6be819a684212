// Command console-audit is the Lambda function serving the "console-audit"
// route of the route table (shared/httpapi.Routes): the console's audit
// page, with audit-verify's check of the digests (hence the witness
// bucket's S3 opener).
package main

import (
	"github.com/vsecure/vsecure/shared/lambdafn"
	"github.com/vsecure/vsecure/shared/lambdafn/consolefn"
	"github.com/vsecure/vsecure/shared/lambdafn/s3witness"
)

func main() {
	lambdafn.Buckets = s3witness.Open
	lambdafn.ServeWith("console-audit", consolefn.Install)
}
