// Command secrets-use is the Lambda function serving the "secrets-use" route(s) of the
// route table (shared/httpapi.Routes) behind API Gateway.
package main

import "github.com/vsecure/vsecure/shared/lambdafn"

func main() { lambdafn.Serve("secrets-use") }
