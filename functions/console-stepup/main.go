// Command console-stepup is the Lambda function serving the "console-stepup" route(s) of the
// route table (shared/httpapi.Routes): a page of the people's console,
// which checks its own session cookie (package consolefn), running passkey
// ceremonies (the one kind of console function that links WebAuthn).
package main

import (
	"github.com/vsecure/vsecure/shared/lambdafn"
	"github.com/vsecure/vsecure/shared/lambdafn/consolefn"
	"github.com/vsecure/vsecure/shared/lambdafn/consolefn/passkeyfn"
)

func main() { lambdafn.ServeWith("console-stepup", consolefn.WithPasskeys(passkeyfn.Open)) }
