// Command admin-bootstrap mints the first admin key of a deployed stack,
// or a break-glass one (shared/lambdafn.BootstrapHandler). It serves no
// route: `vsecure admin:bootstrap` invokes it directly with the
// operator's AWS credentials.
package main

import "github.com/vsecure/vsecure/shared/lambdafn"

func main() { lambdafn.ServeBootstrap() }
