// Command mcp is the Lambda function serving the remote MCP endpoint
// (Streamable HTTP, stateless) at /mcp. Its tool calls run the API
// in-process with the caller's own credential, checked by the same gate
// code as everywhere else.
package main

import (
	"github.com/vsecure/vsecure/shared/httpapi"
	"github.com/vsecure/vsecure/shared/lambdafn"
	"github.com/vsecure/vsecure/shared/remotemcp"
)

func main() {
	lambdafn.ServeWith("mcp", func(f *lambdafn.Function) {
		inner := &httpapi.API{Gate: f.Gate, Auth: httpapi.HeaderAuth{Gate: f.Gate}, Log: f.Log}
		f.API.Mounts.MCP = remotemcp.New(remotemcp.Config{API: inner.OwnHandler(), Logger: f.Log})
	})
}
