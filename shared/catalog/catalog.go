// Package catalog is the one list of every Lambda function of a
// deployment: the route table's functions and those that serve no route.
// functions/<name>/main.go exists for exactly these names, the CDK stack
// (infra/) creates exactly these, and the emulator tests in functions/ run
// them from this list. It imports only the route table, so the infra
// module can import it.
package catalog

import (
	"slices"

	"github.com/vsecure/vsecure/shared/httpapi"
)

// Kind says what invokes a function.
type Kind int

// Function kinds.
const (
	// KindRoute serves routes of httpapi.Routes() behind API Gateway.
	KindRoute Kind = iota
	// KindFallback serves API Gateway's $default route: what no route takes.
	KindFallback
	// KindAuthorizer is the REQUEST authorizer in front of every AuthKey route.
	KindAuthorizer
	// KindTask is a task of the approval workflow's state machine.
	KindTask
	// KindScheduled runs on an EventBridge schedule.
	KindScheduled
	// KindInvoked is invoked by the operator with AWS credentials.
	KindInvoked
)

// The functions that serve no route.
const (
	Authorizer = "authorizer"
	Fallback   = httpapi.FallbackFunction
	Notify     = "workflow-notify"
	Expire     = "workflow-expire"
	Revoke     = "workflow-revoke"
	Reconcile  = "workflow-reconcile"
	Digest     = "audit-digest"
	Index      = "audit-index"
	Bootstrap  = "admin-bootstrap"
)

// Function is one Lambda function.
type Function struct {
	// Name is its directory (functions/<name>), zip (build/<name>.zip) and
	// the suffix of its deployed name (vsecure-<env>-<name>).
	Name string
	Kind Kind
	// Entry is the lambdafn function its main.go runs. Serve and
	// ServeTaskWith take the name (ServeWith is Serve with an extension).
	Entry string
	// Store: the function reads or writes the tables. Only a function whose
	// every route is public (health) runs without; the stack gives it none.
	Store bool
	// Routes are the route table's entries it serves (KindRoute only).
	Routes []httpapi.Route
}

// Functions returns the catalog: the route functions in the route table's
// order, then the others.
func Functions() []Function {
	var fs []Function
	for _, r := range httpapi.Routes() {
		i := slices.IndexFunc(fs, func(f Function) bool { return f.Name == r.Function })
		if i < 0 {
			fs = append(fs, Function{Name: r.Function, Kind: KindRoute, Entry: "Serve"})
			i = len(fs) - 1
		}
		fs[i].Routes = append(fs[i].Routes, r)
		fs[i].Store = fs[i].Store || r.Auth != httpapi.AuthNone
	}
	return append(fs,
		// The fallback serves no route but audits the unclean paths it refuses.
		Function{Name: Fallback, Kind: KindFallback, Entry: "Serve", Store: true},
		Function{Name: Authorizer, Kind: KindAuthorizer, Entry: "ServeAuthorizer", Store: true},
		Function{Name: Notify, Kind: KindTask, Entry: "ServeTaskWith", Store: true},
		Function{Name: Expire, Kind: KindTask, Entry: "ServeTaskWith", Store: true},
		Function{Name: Revoke, Kind: KindTask, Entry: "ServeTaskWith", Store: true},
		Function{Name: Reconcile, Kind: KindScheduled, Entry: "ServeReconcile", Store: true},
		Function{Name: Digest, Kind: KindScheduled, Entry: "ServeDigest", Store: true},
		Function{Name: Index, Kind: KindScheduled, Entry: "ServeIndex", Store: true},
		Function{Name: Bootstrap, Kind: KindInvoked, Entry: "ServeBootstrap", Store: true},
	)
}

// Names returns the names of the functions of the given kinds, or of all.
func Names(kinds ...Kind) []string {
	var names []string
	for _, f := range Functions() {
		if len(kinds) == 0 || slices.Contains(kinds, f.Kind) {
			names = append(names, f.Name)
		}
	}
	return names
}

// Lookup returns the function named name.
func Lookup(name string) (Function, bool) {
	fs := Functions()
	i := slices.IndexFunc(fs, func(f Function) bool { return f.Name == name })
	if i < 0 {
		return Function{}, false
	}
	return fs[i], true
}
