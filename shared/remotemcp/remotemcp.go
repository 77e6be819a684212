// Package remotemcp serves the MCP server over Streamable HTTP at /mcp, in
// stateless mode, as the route "mcp" of the route table (httpapi.Mounts.MCP).
//
// The auth middleware has already resolved the caller when the handler
// runs. Each request gets an MCP server whose Backend is a *client.Client
// holding the caller's own credential and whose transport calls the API's
// handler in-process: no network hop, no base URL to configure, and every
// tool call goes through exactly the routes, checks, error envelope and
// audit entries a direct API call would, as that caller, under the outer
// request's id. An access token (mcp_at_…) stays limited to its scope.
//
// Responses are plain JSON (no SSE) because API Gateway HTTP APIs do not
// stream; progress notifications are therefore not delivered remotely, and
// the bounded approval wait is capped below API Gateway's 30 s timeout.
package remotemcp

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/vsecure/vsecure/shared/client"
	"github.com/vsecure/vsecure/shared/httpapi"
	"github.com/vsecure/vsecure/shared/mcpserver"
)

// MaxWait bounds a remote tool's wait for an approval decision.
const MaxWait = 20 * time.Second

// NoRunReason is why the remote endpoint never offers run_with_secrets:
// the command would run inside the service, not where the agent works, and
// no user's allowlist could bound what runs there.
const NoRunReason = "run_with_secrets is not offered here: on the remote endpoint a command would run inside the vsecure service, not on your machine. " +
	"Use the local server for it (vsecure mcp serve --allow-command PATH), which runs only the commands its user allowlisted."

// Config configures the endpoint.
type Config struct {
	// API serves the vsecure API in-process (httpapi.API.OwnHandler()).
	API     http.Handler
	Version string
	Logger  *slog.Logger
}

// New returns the /mcp handler.
func New(cfg Config) http.Handler {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cache := mcp.NewSchemaCache()
	return mcp.NewStreamableHTTPHandler(func(r *http.Request) *mcp.Server {
		c, err := client.New(client.Config{
			// The host is never dialled: the transport calls API directly.
			BaseURL: "http://vsecure.internal",
			Key:     httpapi.Credential(r.Header),
			Transport: inProcess{
				api: cfg.API, requestID: httpapi.RequestID(r.Context()),
				remoteAddr: r.RemoteAddr, userAgent: r.UserAgent(),
			},
			Retries: -1,
		})
		if err != nil {
			log.WarnContext(r.Context(), "remote mcp: unusable credential", "requestId", httpapi.RequestID(r.Context()))
			return nil
		}
		return mcpserver.New(c, mcpserver.Options{
			Version: cfg.Version, Logger: log, SchemaCache: cache, MaxWait: MaxWait,
			NoRunReason: NoRunReason,
		})
	}, &mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true, Logger: log})
}

// inProcess is an http.RoundTripper that serves requests with the API
// handler in this process, carrying over who called and from where.
type inProcess struct {
	api        http.Handler
	requestID  string
	remoteAddr string
	userAgent  string
}

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if t.requestID != "" {
		ctx = httpapi.WithRequestID(ctx, t.requestID)
	}
	r := req.Clone(ctx)
	r.RemoteAddr = t.remoteAddr
	r.RequestURI = req.URL.RequestURI()
	r.Header.Set("User-Agent", t.userAgent+" (vsecure remote mcp)")
	if r.Body == nil {
		r.Body = http.NoBody
	}
	w := &recorder{header: http.Header{}}
	t.api.ServeHTTP(w, r)
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return &http.Response{
		Status:     strconv.Itoa(w.status) + " " + http.StatusText(w.status),
		StatusCode: w.status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: w.header, Body: io.NopCloser(bytes.NewReader(w.body.Bytes())),
		ContentLength: int64(w.body.Len()), Request: req,
	}, nil
}

// recorder buffers one in-process response.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *recorder) Header() http.Header { return w.header }

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(b)
}

// Handler is New over api with the defaults: the one way both runtimes
// mount /mcp (app.Parts.MCP).
func Handler(api *httpapi.API, log *slog.Logger) http.Handler {
	return New(Config{API: api.OwnHandler(), Logger: log})
}
