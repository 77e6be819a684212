// Command whoami is the Lambda function serving the "whoami" route(s) of the
// route table (shared/httpapi.Routes) behind API Gateway.
package main

import "github.com/vsecure/vsecure/shared/lambdafn"

func main() { lambdafn.Serve("whoami") }
