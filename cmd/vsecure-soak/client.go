package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vsecure/vsecure/cmd/vsecure-soak/invariant"
)

// records is what the clients saw, for the checker.
type records struct {
	next      atomic.Int64
	mu        sync.Mutex
	ops       []invariant.Op
	revs      []invariant.Revocation
	sensitive []invariant.Sensitive
}

func (r *records) revoked(v invariant.Revocation) {
	r.mu.Lock()
	r.revs = append(r.revs, v)
	r.mu.Unlock()
}

func (r *records) secret(kind, v string) {
	r.mu.Lock()
	r.sensitive = append(r.sensitive, invariant.Sensitive{Kind: kind, Value: v})
	r.mu.Unlock()
}

// cred is a credential and the name the checker knows it by.
type cred struct{ secret, id string }

// caller sends requests from one loopback source address. The server
// limits failed authentications per source address, so clients that probe
// dead credentials get addresses of their own (all of 127/8 is loopback).
type caller struct {
	base string
	http *http.Client
	rec  *records
}

func newCaller(base, srcIP string, rec *records) *caller {
	d := &net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(srcIP)}}
	tr := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 8, IdleConnTimeout: 30 * time.Second}
	return &caller{base: base, http: &http.Client{Transport: tr, Timeout: 10 * time.Second}, rec: rec}
}

// do sends one request and records it. op carries Kind, Resource and
// ApprovalID; do fills in the rest. A 2xx body is decoded into out.
func (c *caller) do(op invariant.Op, method, path string, cr cred, body, out any) invariant.Op {
	op.ID = strconv.FormatInt(c.rec.next.Add(1), 10)
	op.Cred = cr.id
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+cr.secret)
	req.Header.Set("User-Agent", invariant.UserAgentPrefix+op.ID)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	op.Sent = time.Now()
	res, err := c.http.Do(req)
	if err == nil {
		b, rerr := io.ReadAll(res.Body)
		res.Body.Close()
		if rerr == nil {
			op.Status, op.RequestID = res.StatusCode, res.Header.Get("X-Request-Id")
			if res.StatusCode < 300 {
				if out != nil {
					_ = json.Unmarshal(b, out)
				}
				var st struct {
					Status string `json:"status"`
				}
				if op.Kind == "request" || op.Kind == "respond" {
					_ = json.Unmarshal(b, &st)
					op.Result = st.Status
				}
			} else {
				var env struct {
					Error struct {
						Code      string `json:"code"`
						RequestID string `json:"requestId"`
					} `json:"error"`
				}
				_ = json.Unmarshal(b, &env)
				op.Code = env.Error.Code
				if op.RequestID == "" {
					op.RequestID = env.Error.RequestID
				}
			}
		}
	}
	op.Done = time.Now()
	c.rec.mu.Lock()
	c.rec.ops = append(c.rec.ops, op)
	c.rec.mu.Unlock()
	return op
}
