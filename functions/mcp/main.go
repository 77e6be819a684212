// Command mcp is the Lambda function serving the remote MCP endpoint
// (Streamable HTTP, stateless) at /mcp. Its tool calls run the API
// in-process with the caller's own credential, checked by the same gate
// code as everywhere else (mounted by app.Assemble, as on `vsecure dev`).
package main

import (
	"github.com/vsecure/vsecure/shared/app"
	"github.com/vsecure/vsecure/shared/lambdafn"
	"github.com/vsecure/vsecure/shared/remotemcp"
)

func main() {
	lambdafn.ServeWith("mcp", func(_ *lambdafn.Build, p *app.Parts) { p.MCP = remotemcp.Handler })
}
