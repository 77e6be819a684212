package lambdafn

import (
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/vsecure/vsecure/shared/catalog"
	"github.com/vsecure/vsecure/shared/workflow/task"
)

// TaskFunctions lists the approval workflow's task functions. They serve
// no route: the state machine invokes them directly with the
// events/workflow-*.json payloads. Every function directory is a route's,
// the authorizer or one of these.
func TaskFunctions() []string {
	return catalog.Names(catalog.KindTask)
}

// TaskHandler returns the handler of task function name over f. Notify
// needs the Step Functions workflow (VSECURE_STATE_MACHINE_ARN) to send a
// decision that reached the table before its task token.
func (f *Function) TaskHandler(name string) (any, error) {
	h := f.TaskHandlers()
	switch name {
	case "workflow-notify":
		if f.Workflow == nil {
			return nil, fmt.Errorf("%s: missing required environment variable VSECURE_STATE_MACHINE_ARN", name)
		}
		h.Sender = f.Workflow
		return h.Notify, nil
	case "workflow-expire":
		return h.Expire, nil
	case "workflow-revoke":
		return h.Revoke, nil
	}
	return nil, fmt.Errorf("lambdafn: %q is not a workflow task function", name)
}

// TaskHandlers builds the task functions' dependencies over f (the
// reconciler shares them: it expires through the same path).
func (f *Function) TaskHandlers() *task.Handlers {
	return &task.Handlers{Store: f.Gate.Store(), Expirer: f.Expirer, Log: f.Log, Notifier: f.Notifier}
}

// ServeTaskWith runs workflow task function name until the Lambda runtime
// stops it; extensions may install a notifier (Slack).
func ServeTaskWith(name string, ext ...Extension) {
	f, log := mustOpen(os.Stdout, true, ext)
	h, err := f.TaskHandler(name)
	if err != nil {
		fatal(log, err)
	}
	lambda.Start(h)
}
