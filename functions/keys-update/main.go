// Command keys-update is the Lambda function serving the "keys-update" route(s) of the
// route table (shared/httpapi.Routes) behind API Gateway.
package main

import "github.com/vsecure/vsecure/shared/lambdafn"

func main() { lambdafn.Serve("keys-update") }
