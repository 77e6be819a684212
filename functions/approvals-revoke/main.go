// Command approvals-revoke is the Lambda function serving the "approvals-revoke" route(s) of the
// route table (shared/httpapi.Routes) behind API Gateway.
package main

import "github.com/vsecure/vsecure/shared/lambdafn"

func main() { lambdafn.Serve("approvals-revoke") }
