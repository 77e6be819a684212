// Command fallback is the Lambda function behind API Gateway's $default
// route: what no route of the table takes gets the local server's answer
// (405 with Allow, JSON 404, audited 400; httpapi.FallbackFunction).
package main

import "github.com/vsecure/vsecure/shared/lambdafn"

func main() { lambdafn.Serve("fallback") }
