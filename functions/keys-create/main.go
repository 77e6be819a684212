// Command keys-create is the Lambda function serving the "keys-create" route(s) of the
// route table (shared/httpapi.Routes) behind API Gateway.
package main

import "github.com/vsecure/vsecure/shared/lambdafn"

func main() { lambdafn.Serve("keys-create") }
