// Command workflow-expire is the approval state machine's Expire task
// (shared/workflow/task); Step Functions invokes it directly, not API Gateway.
package main

import "github.com/vsecure/vsecure/shared/lambdafn"

func main() { lambdafn.ServeTask("workflow-expire") }
