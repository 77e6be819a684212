// Command approvals-cancel is the Lambda function serving the "approvals-cancel" route(s) of the
// route table (shared/httpapi.Routes) behind API Gateway. With Slack
// configured it also rewrites the approval's Slack message.
package main

import (
	"github.com/vsecure/vsecure/shared/lambdafn"
	"github.com/vsecure/vsecure/shared/lambdafn/slackfn"
)

func main() { lambdafn.ServeWith("approvals-cancel", slackfn.InstallNotifier) }
