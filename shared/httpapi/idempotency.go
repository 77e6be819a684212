package httpapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/vsecure/vsecure/shared/gate"
)

// Idempotency headers. The rules live in gate/idempotency.go.
const (
	// IdempotencyHeader is the request header naming a retry-safe write.
	IdempotencyHeader = "Idempotency-Key"
	// ReplayedHeader is "true" on a replayed response.
	ReplayedHeader = "Idempotent-Replayed"
	// WithheldHeader lists the one-time fields a replay leaves out.
	WithheldHeader = "Idempotency-Withheld"
)

// idempotent runs serve under an idempotency reservation: a replay is
// answered from the record, a first request runs and its response is
// stored with oneTime fields removed. 5xx and 429 responses are not
// stored (replayable): the reservation is released so a retry runs again.
func (a *API) idempotent(w http.ResponseWriter, r *http.Request, rt Route, c gate.Call, key string, oneTime []string, serve func(http.ResponseWriter, *http.Request)) {
	ctx := r.Context()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		a.writeError(ctx, w, a.Gate.RecordRefusal(ctx, c, opOf(rt), "", decodeError(err)))
		return
	}
	res, err := a.Gate.BeginIdempotent(ctx, c, opOf(rt), key, fingerprint(r, rt, c, body))
	if err != nil {
		a.writeError(ctx, w, err)
		return
	}
	if rep := res.Replay; rep != nil {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set(ReplayedHeader, "true")
		if len(rep.Withheld) > 0 {
			w.Header().Set(WithheldHeader, strings.Join(rep.Withheld, ","))
		}
		w.WriteHeader(rep.Status)
		_, _ = w.Write(rep.Body)
		return
	}
	cw := &captureWriter{ResponseWriter: w, status: http.StatusOK}
	finished := false
	defer func() {
		if !finished { // the handler panicked: let a retry run
			a.Gate.ReleaseIdempotent(ctx, res)
		}
	}()
	r.Body = io.NopCloser(bytes.NewReader(body))
	serve(cw, r)
	finished = true
	stored, withheld, ok := withhold(cw.buf.Bytes(), oneTime)
	if !ok || !replayable(cw.status) {
		a.Gate.ReleaseIdempotent(ctx, res)
		return
	}
	a.Gate.CompleteIdempotent(ctx, res, gate.Response{Status: cw.status, Body: stored, Withheld: withheld})
}

// replayable reports whether a response may answer retries: not a server
// failure, after which a retry should run again, nor a throttle.
func replayable(status int) bool {
	return status < 500 && status != http.StatusTooManyRequests
}

// fingerprint identifies a request for idempotency: the same key may only
// come back with the same method, route, path, caller and body.
func fingerprint(r *http.Request, rt Route, c gate.Call, body []byte) string {
	h := sha256.New()
	for _, part := range []string{r.Method, rt.Path, r.URL.EscapedPath(), r.URL.RawQuery, c.Principal.ID, c.Principal.KeyID, scopeOf(c)} {
		h.Write([]byte(strconv.Itoa(len(part))))
		h.Write([]byte{0})
		h.Write([]byte(part))
	}
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

func scopeOf(c gate.Call) string {
	if c.Principal.Scope == nil {
		return ""
	}
	return c.Principal.Scope.ApprovalID
}

// withhold removes the oneTime top-level fields from a JSON object body
// and names the ones it removed. ok is false when the body might hold one
// but is not a JSON object: then nothing is stored.
func withhold(body []byte, oneTime []string) (out []byte, removed []string, ok bool) {
	if len(oneTime) == 0 {
		return body, nil, true
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, nil, false
	}
	for _, f := range oneTime {
		if _, has := m[f]; has {
			delete(m, f)
			removed = append(removed, f)
		}
	}
	if len(removed) == 0 {
		return body, nil, true
	}
	out, err := json.Marshal(m)
	if err != nil {
		return nil, nil, false
	}
	return append(out, '\n'), removed, true
}

// captureWriter passes a response through and keeps a copy of it.
type captureWriter struct {
	http.ResponseWriter
	status int
	buf    bytes.Buffer
}

func (c *captureWriter) WriteHeader(code int) {
	c.status = code
	c.ResponseWriter.WriteHeader(code)
}

func (c *captureWriter) Write(p []byte) (int, error) {
	c.buf.Write(p)
	return c.ResponseWriter.Write(p)
}
