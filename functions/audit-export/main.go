// Command audit-export is the Lambda function serving the "audit-export"
// route of the route table (shared/httpapi.Routes): one page of the audit
// export (records, then the digests covering the range) as JSON lines.
package main

import "github.com/vsecure/vsecure/shared/lambdafn"

func main() { lambdafn.Serve("audit-export") }
