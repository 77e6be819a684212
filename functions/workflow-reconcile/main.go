// Command workflow-reconcile is the scheduled workflow reconciler: an
// EventBridge rule invokes it every five minutes, and it starts the missing
// execution of a live approval, or expires a due one that has none
// (shared/workflow/task.Reconciler). It serves no route. It announces
// expiries in Slack when the deployment has Slack credentials.
package main

import (
	"github.com/vsecure/vsecure/shared/lambdafn"
	"github.com/vsecure/vsecure/shared/lambdafn/slackfn"
)

func main() { lambdafn.ServeReconcile(slackfn.InstallNotifier) }
