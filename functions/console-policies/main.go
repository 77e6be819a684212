// Command console-policies is the Lambda function serving the "console-policies" route(s) of the
// route table (shared/httpapi.Routes): a page of the people's console,
// which checks its own session cookie (package consolefn).
package main

import (
	"github.com/vsecure/vsecure/shared/lambdafn"
	"github.com/vsecure/vsecure/shared/lambdafn/consolefn"
)

func main() { lambdafn.ServeWith("console-policies", consolefn.Install) }
