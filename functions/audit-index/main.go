// Command audit-index is the scheduled audit indexer: an EventBridge rule
// invokes it every minute, and until shortly before its deadline it runs
// passes that index new audit entries into the filter segments and apply
// their reads to the secrets' accessCount (dynamo.Store.IndexAudit). It
// serves no route.
package main

import "github.com/vsecure/vsecure/shared/lambdafn"

func main() { lambdafn.ServeIndex() }
