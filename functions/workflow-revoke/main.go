// Command workflow-revoke is the approval state machine's Revoke task
// (shared/workflow/task); Step Functions invokes it directly, not API Gateway.
// It announces in Slack when the deployment has Slack credentials.
package main

import (
	"github.com/vsecure/vsecure/shared/lambdafn"
	"github.com/vsecure/vsecure/shared/lambdafn/slackfn"
)

func main() { lambdafn.ServeTaskWith("workflow-revoke", slackfn.InstallNotifier) }
