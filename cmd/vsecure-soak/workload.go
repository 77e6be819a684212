package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vsecure/vsecure/cmd/vsecure-soak/invariant"
	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/vsecure"
)

const (
	openPolicy   = "vsecure://secrets/open/*"   // read and write, no approval
	gatedPolicy  = "vsecure://secrets/gated/*"  // one approver's yes
	quorumPolicy = "vsecure://secrets/quorum/*" // two approvers' yes
)

func resPath(uri string) string { return "/v1/security/mcp/resources/" + url.PathEscape(uri) }

func newValue() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "soakval-" + hex.EncodeToString(b[:])
}

type token struct {
	cred
	resource string
	expires  time.Time
}

type agent struct {
	name string
	c    *caller
	mu   sync.Mutex
	key  cred
	toks []token
	// pending is when this agent's open request for a resource expires.
	pending map[string]time.Time
}

func (a *agent) current() cred { a.mu.Lock(); defer a.mu.Unlock(); return a.key }

// world is the soak's shared state: actors, secrets, and the credentials
// that died (which the prober keeps trying).
type world struct {
	rec      *records
	stop     atomic.Bool
	max      int64
	admin    *caller
	adminKey cred
	agents   map[string]*agent
	names    []string
	apprs    []*caller
	apprKeys []cred
	apprIDs  []string
	open     []string
	gated    []string // gated and quorum secrets

	mu        sync.Mutex
	requester map[string]string // approval id -> key id that requested it
	tokens    map[string]token  // approval id -> its access token
	dead      []token           // dead credentials and what each could read
}

func (w *world) stopped() bool { return w.stop.Load() || w.rec.next.Load() >= w.max }

func (w *world) die(t token) { w.mu.Lock(); w.dead = append(w.dead, t); w.mu.Unlock() }

func (w *world) createKey(principal string, role vsecure.Role) (cred, bool) {
	var k api.CreatedKey
	op := w.admin.do(invariant.Op{Kind: "key_create"}, "POST", "/v1/security/keys", w.adminKey,
		api.KeyRequest{Principal: principal, Roles: []string{string(role)}}, &k)
	if op.Status != 201 && op.Status != 200 {
		return cred{}, false
	}
	w.rec.secret("API key", k.Secret)
	return cred{k.Secret, k.ID}, true
}

// setup configures the policies, secrets and keys of the run.
func (w *world) setup(agents, approvers int) error {
	for i := range approvers {
		w.apprIDs = append(w.apprIDs, fmt.Sprintf("appr-%d", i))
	}
	for _, p := range []map[string]any{
		{"uri": openPolicy, "permissions": []string{"read", "write"}, "requiresApproval": false},
		{"uri": gatedPolicy, "permissions": []string{"read"}, "requiresApproval": true, "approvers": w.apprIDs, "maxTtl": 120},
		{"uri": quorumPolicy, "permissions": []string{"read"}, "requiresApproval": true, "approvers": w.apprIDs, "requiredApprovals": 2, "maxTtl": 120},
	} {
		if op := w.admin.do(invariant.Op{Kind: "configure"}, "POST", "/v1/security/mcp/resources", w.adminKey, p, nil); op.Outcome() != "ok" {
			return fmt.Errorf("configure %s: %d %s", p["uri"], op.Status, op.Code)
		}
	}
	for i := range 4 {
		w.open = append(w.open, fmt.Sprintf("vsecure://secrets/open/S%d", i))
	}
	for i := range 3 {
		w.gated = append(w.gated, fmt.Sprintf("vsecure://secrets/gated/G%d", i))
	}
	for i := range 2 {
		w.gated = append(w.gated, fmt.Sprintf("vsecure://secrets/quorum/Q%d", i))
	}
	for _, uri := range append(append([]string{}, w.open...), w.gated...) {
		if !w.write(w.admin, w.adminKey, uri) {
			return fmt.Errorf("seeding %s failed", uri)
		}
	}
	for i := range agents {
		name := fmt.Sprintf("agent-%d", i)
		k, ok := w.createKey(name, vsecure.RoleAgent)
		if !ok {
			return fmt.Errorf("creating %s's key failed", name)
		}
		w.agents[name] = &agent{name: name, key: k, pending: map[string]time.Time{},
			c: newCaller(w.admin.base, fmt.Sprintf("127.0.0.%d", 10+i), w.rec)}
		w.names = append(w.names, name)
	}
	for i, id := range w.apprIDs {
		k, ok := w.createKey(id, vsecure.RoleApprover)
		if !ok {
			return fmt.Errorf("creating %s's key failed", id)
		}
		w.apprKeys = append(w.apprKeys, k)
		w.apprs = append(w.apprs, newCaller(w.admin.base, fmt.Sprintf("127.0.0.%d", 40+i), w.rec))
	}
	return nil
}

func (w *world) write(c *caller, k cred, uri string) bool {
	v := newValue()
	w.rec.secret("secret value", v)
	op := c.do(invariant.Op{Kind: "write", Resource: uri}, "PUT", resPath(uri), k, api.SecretWrite{Value: &v}, nil)
	return op.Outcome() == "ok"
}

func (w *world) read(c *caller, k cred, uri string) invariant.Op {
	return c.do(invariant.Op{Kind: "read", Resource: uri}, "GET", resPath(uri), k, nil, nil)
}

// runAgent reads open and gated secrets with its key and its tokens,
// requests approvals, and writes new versions.
func (w *world) runAgent(a *agent, seed uint64) {
	rng := mrand.New(mrand.NewPCG(seed, 1))
	for !w.stopped() {
		k := a.current()
		var op invariant.Op
		switch x := rng.Float64(); {
		case x < 0.50:
			op = w.read(a.c, k, w.open[rng.IntN(len(w.open))])
		case x < 0.72:
			uri := w.gated[rng.IntN(len(w.gated))]
			op = w.read(a.c, k, uri)
			a.mu.Lock()
			may := time.Now().After(a.pending[uri])
			a.mu.Unlock()
			if op.Code == string(vsecure.EApprovalRequired) && may {
				op = w.request(a, k, uri, rng)
			}
		case x < 0.90:
			a.mu.Lock()
			var t *token
			if len(a.toks) > 0 {
				t = &a.toks[rng.IntN(len(a.toks))]
			}
			a.mu.Unlock()
			if t == nil {
				continue
			}
			op = w.read(a.c, t.cred, t.resource)
			if op.Status == 401 || op.Status == 410 || time.Now().After(t.expires) {
				a.mu.Lock()
				for i := range a.toks {
					if a.toks[i].id == t.id {
						a.toks = append(a.toks[:i], a.toks[i+1:]...)
						break
					}
				}
				a.mu.Unlock()
			}
		case x < 0.95:
			// Open secrets are approved at once: a token without a human.
			op = w.request(a, k, w.open[rng.IntN(len(w.open))], rng)
		default:
			w.write(a.c, k, w.open[rng.IntN(len(w.open))])
		}
		if op.Status == 401 || op.Status == 0 {
			time.Sleep(20 * time.Millisecond) // a key being swapped, or a server restarting
		}
	}
}

func (w *world) request(a *agent, k cred, uri string, rng *mrand.Rand) invariant.Op {
	ttl := 4 + rng.IntN(40)
	var v api.ApprovalView
	op := a.c.do(invariant.Op{Kind: "request", Resource: uri}, "POST", "/v1/security/mcp/approve", k,
		api.ApprovalRequest{Resource: uri, Operation: "read", Reason: "soak", TTL: &ttl}, &v)
	if op.Outcome() != "ok" || v.ID == "" {
		return op
	}
	w.mu.Lock()
	w.requester[v.ID] = k.id
	w.mu.Unlock()
	a.mu.Lock()
	a.pending[uri] = v.ExpiresAt
	a.mu.Unlock()
	if v.AccessToken != "" {
		w.grant(v, v.AccessToken)
	}
	return op
}

// grant hands a freshly issued access token to the agent that asked.
func (w *world) grant(v api.ApprovalView, tok string) {
	w.rec.secret("access token", tok)
	t := token{cred{tok, "tok:" + v.ID}, v.Resource, v.ExpiresAt}
	w.mu.Lock()
	w.tokens[v.ID] = t
	w.mu.Unlock()
	if a := w.agents[v.RequestedBy]; a != nil {
		a.mu.Lock()
		a.toks = append(a.toks, t)
		a.mu.Unlock()
	}
}

// runApprover decides pending requests, often the same one as the other
// approvers, and sometimes races a second approver on purpose.
func (w *world) runApprover(i int, seed uint64) {
	rng := mrand.New(mrand.NewPCG(seed, 2))
	c, k, me := w.apprs[i], w.apprKeys[i], w.apprIDs[i]
	for !w.stopped() {
		var list struct {
			Data []api.ApprovalView `json:"data"`
		}
		c.do(invariant.Op{Kind: "list"}, "GET", "/v1/security/mcp/approvals?status=pending&limit=10", k, nil, &list)
		var open []api.ApprovalView
		for _, a := range list.Data {
			voted := false
			for _, d := range a.Decisions {
				voted = voted || d.By == me
			}
			if !voted && a.RequestedBy != me {
				open = append(open, a)
			}
		}
		if len(open) == 0 {
			time.Sleep(30 * time.Millisecond)
			continue
		}
		a := open[rng.IntN(min(3, len(open)))]
		action := "approve"
		if rng.Float64() < 0.2 {
			action = "deny"
		}
		if rng.Float64() < 0.3 {
			// A deliberate race: another approver decides the same request
			// at the same moment, the opposite way half the time.
			j := (i + 1 + rng.IntN(len(w.apprs)-1)) % len(w.apprs)
			other := "approve"
			if rng.Float64() < 0.5 {
				other = "deny"
			}
			var wg sync.WaitGroup
			wg.Go(func() { w.respond(w.apprs[j], w.apprKeys[j], a.ID, other) })
			w.respond(c, k, a.ID, action)
			wg.Wait()
		} else {
			w.respond(c, k, a.ID, action)
		}
		time.Sleep(time.Duration(5+rng.IntN(20)) * time.Millisecond)
	}
}

func (w *world) respond(c *caller, k cred, id, action string) {
	var v api.ApprovalView
	op := c.do(invariant.Op{Kind: "respond", ApprovalID: id}, "POST", "/v1/security/mcp/approvals/"+url.PathEscape(id)+"/respond", k,
		api.Respond{Action: action, Reason: "soak"}, &v)
	if op.Outcome() == "ok" && v.AccessToken != "" {
		w.grant(v, v.AccessToken)
	}
}
