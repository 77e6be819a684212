// Package client is the typed Go client of the vsecure HTTP API, used by
// the CLI and the MCP server. It speaks exactly the JSON of package gate's
// exported view types, decodes the error envelope into *Error (whose code
// errors.As/vsecure.IsCode understand), and retries only what is safe to
// repeat: GET requests that met a network error, a 5xx or a 429.
package client

import (
	"github.com/vsecure/vsecure/shared/api"

	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultBaseURL is where `vsecure dev` listens.
const DefaultBaseURL = "http://127.0.0.1:8080"

// Config configures a Client. Zero fields take the defaults.
type Config struct {
	// BaseURL of the API, e.g. https://abc.execute-api.eu-west-1.amazonaws.com.
	BaseURL string
	// Key is the API key (vsk_…) or access token sent as a bearer credential.
	Key string
	// Transport carries requests (default http.DefaultTransport's clone).
	Transport http.RoundTripper
	// Timeout bounds one attempt of one request (default 15 s).
	Timeout time.Duration
	// Retries is how many times a GET is retried (default 2; negative: none).
	Retries int
	// Backoff is the wait before retry n (1-based); default exponential
	// from 100 ms with jitter, capped at 2 s.
	Backoff func(n int) time.Duration
	// UserAgent is sent with every request (default "vsecure-go-client").
	UserAgent string
}

// Client is safe for concurrent use; build one and reuse it so connections
// are kept alive.
type Client struct {
	base      *url.URL
	key       string
	http      *http.Client
	retries   int
	backoff   func(int) time.Duration
	userAgent string
}

// New validates cfg and returns a client.
func New(cfg Config) (*Client, error) {
	raw := cfg.BaseURL
	if raw == "" {
		raw = DefaultBaseURL
	}
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: base URL %q must be an http(s) URL such as %s", raw, DefaultBaseURL)
	}
	if strings.ContainsAny(cfg.Key, " \r\n\t") {
		return nil, errors.New("client: the API key contains whitespace")
	}
	t := cfg.Transport
	if t == nil {
		t = http.DefaultTransport.(*http.Transport).Clone()
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = 15 * time.Second
	}
	retries := cfg.Retries
	switch {
	case retries == 0:
		retries = 2
	case retries < 0:
		retries = 0
	}
	c := &Client{
		base: u, key: cfg.Key, http: &http.Client{Transport: t, Timeout: timeout},
		retries: retries, backoff: cfg.Backoff, userAgent: cfg.UserAgent,
	}
	if c.backoff == nil {
		c.backoff = defaultBackoff
	}
	if c.userAgent == "" {
		c.userAgent = "vsecure-go-client"
	}
	return c, nil
}

// BaseURL is the API base URL the client talks to.
func (c *Client) BaseURL() string { return c.base.String() }

func defaultBackoff(n int) time.Duration {
	d := 100 * time.Millisecond << (n - 1)
	if d > 2*time.Second || d <= 0 {
		d = 2 * time.Second
	}
	// Full jitter keeps many clients from retrying in lockstep.
	return d/2 + rand.N(d/2+1)
}

// do sends one API call and decodes a 2xx JSON body into out (if non-nil).
// path is already escaped; query may be nil.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return fmt.Errorf("client: encode request: %w", err)
		}
	}
	target := c.base.String() + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	attempts := 1
	if method == http.MethodGet {
		attempts += c.retries
	}
	var lastErr error
	for n := 0; n < attempts; n++ {
		if n > 0 {
			wait := c.backoff(n)
			var ae *Error
			if errors.As(lastErr, &ae) && ae.retryAfter > wait {
				wait = ae.retryAfter
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return lastErr
			case <-t.C:
			}
		}
		retry, err := c.attempt(ctx, method, target, payload, out)
		if err == nil {
			return nil
		}
		lastErr = err
		if !retry || ctx.Err() != nil {
			return err
		}
	}
	return lastErr
}

// attempt performs one HTTP exchange; retry says whether a GET may try again.
func (c *Client) attempt(ctx context.Context, method, target string, payload []byte, out any) (retry bool, _ error) {
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return false, fmt.Errorf("client: build request: %w", err)
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		// The URL holds no credential, but strip it anyway: messages end
		// up in agent transcripts.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return true, &Error{Code: CodeUnavailable, Message: fmt.Sprintf("cannot reach %s: %v", c.base.Host, err), Err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return true, &Error{StatusCode: resp.StatusCode, Code: CodeUnavailable, Message: "reading the response failed: " + err.Error(), Err: err}
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if raw, ok := out.(*[]byte); ok { // a non-JSON body (the audit export)
			*raw = b
			return false, nil
		}
		if out == nil || len(b) == 0 {
			return false, nil
		}
		if err := json.Unmarshal(b, out); err != nil {
			return false, fmt.Errorf("client: decode %s response: %w", method, err)
		}
		return false, nil
	}
	e := decodeError(resp, b)
	return resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests, e
}

func decodeError(resp *http.Response, b []byte) *Error {
	e := &Error{StatusCode: resp.StatusCode}
	var env api.ErrorBody
	if json.Unmarshal(b, &env) == nil && env.Error.Code != "" {
		e.Code = env.Error.Code
		e.Message, e.RequestID, e.Details = env.Error.Message, env.Error.RequestID, env.Error.Details
	} else {
		// Not our envelope (a proxy, a gateway): keep the status as the code.
		e.Code = codeForStatus(resp.StatusCode)
		e.Message = strings.TrimSpace(http.StatusText(resp.StatusCode))
	}
	if e.RequestID == "" {
		e.RequestID = resp.Header.Get("X-Request-Id")
	}
	if s := resp.Header.Get("Retry-After"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 && n <= 30 {
			e.retryAfter = time.Duration(n) * time.Second
		}
	}
	return e
}

// codeForStatus is the code of an error status that came without our
// envelope (a proxy, a gateway): a 5xx means the server could not be
// reached through it; otherwise the code the API gives that status.
func codeForStatus(status int) Code {
	if status >= 500 {
		return CodeUnavailable
	}
	return api.CodeOf(status)
}

// resourcePath is the API path of a resource URI: the full URI,
// percent-encoded as one path segment.
func resourcePath(uri string) string {
	return "/v1/security/mcp/resources/" + url.PathEscape(uri)
}
