// Command authorizer is the API Gateway HTTP API REQUEST authorizer: it
// resolves the caller's API key or access token to a principal and roles
// for the endpoint functions.
package main

import "github.com/vsecure/vsecure/shared/lambdafn"

func main() { lambdafn.ServeAuthorizer() }
