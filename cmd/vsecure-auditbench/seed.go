package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vsecure/vsecure/shared/auditlog"
	"github.com/vsecure/vsecure/shared/store/dynamo"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// The seeded world: agents read secrets under five environments, humans
// decide approvals, an admin manages policies and keys. A secret URI has
// two segments (vsecure://secrets/<env>/<name>); the team is part of the
// name, since the URI grammar allows no third level.
var (
	envs    = []string{"production", "staging", "development", "qa", "sandbox"}
	teams   = []string{"payments", "search", "identity", "billing", "data", "infra", "mobile", "web", "ml", "growth"}
	names   = []string{"DATABASE_URL", "API_KEY", "SIGNING_KEY", "REDIS_URL", "SMTP_PASSWORD", "OAUTH_SECRET", "S3_KEY", "WEBHOOK_SECRET", "TLS_KEY", "LICENSE"}
	humans  = []string{"alice", "bob", "carol", "dave", "erin"}
	ctypes  = []string{"certs", "ssh", "tokens"}
	errText = []string{"approval_required", "forbidden", "not_found", "invalid_request"}
)

type world struct {
	agents, secrets, customs, keys []string
}

func newWorld() *world {
	w := &world{}
	for i := 1; i <= 50; i++ {
		w.agents = append(w.agents, fmt.Sprintf("agent-%02d", i))
	}
	for _, e := range envs {
		for _, t := range teams {
			for _, n := range names {
				w.secrets = append(w.secrets, "vsecure://secrets/"+e+"/"+t+"-"+n)
			}
		}
	}
	for _, t := range ctypes {
		for i := 1; i <= 10; i++ {
			w.customs = append(w.customs, fmt.Sprintf("vsecure://custom/%s/%s-%02d", t, t, i))
		}
	}
	for i := 1; i <= 20; i++ {
		w.keys = append(w.keys, fmt.Sprintf("vsecure://api-keys/key_%02d", i))
	}
	return w
}

// how an event reaches the store.
type path int

const (
	viaRecordRead path = iota // a successful secret read
	viaPutSecret              // a secret write (state + entry in one transaction)
	viaAppend                 // everything else
)

type event struct {
	e   vsecure.Entry
	via path
}

// events generates n entries, the first len(secrets) creating every
// secret, then a mix dated evenly over [start, start+span).
func (w *world) events(n int, start time.Time, span time.Duration, seed uint64) []event {
	r := mrand.New(mrand.NewPCG(seed, 0x5eed))
	out := make([]event, 0, n)
	pick := func(l []string) string { return l[r.IntN(len(l))] }
	// secrets are read with a skew: a few are hot, most are cool.
	hot := func() string { u := r.Float64(); return w.secrets[int(u*u*float64(len(w.secrets)))] }
	mk := func(ts time.Time, op, actor, res string) vsecure.Entry {
		ts = ts.UTC().Truncate(time.Second)
		md := map[string]string{
			"requestId": auditlog.NewEntryID(ts)[4:],
			"ipAddress": fmt.Sprintf("10.%d.%d.%d", r.IntN(4), r.IntN(256), r.IntN(256)),
			"userAgent": "vsecure-mcp/1.4 (" + actor + ")",
		}
		return vsecure.Entry{ID: auditlog.NewEntryID(ts), Timestamp: ts, Resource: res, Operation: op, Actor: actor, Success: true, Metadata: md}
	}
	for i, s := range w.secrets {
		if len(out) == n {
			return out
		}
		e := mk(start.Add(-time.Minute+time.Duration(i)*time.Millisecond), vsecure.AuditWrite, "admin", s)
		e.Metadata["version"] = "1"
		out = append(out, event{e, viaPutSecret})
	}
	m := n - len(out)
	for i := 0; len(out) < n; i++ {
		ts := start.Add(time.Duration(float64(span) * float64(i) / float64(m)))
		var ev event
		x := r.IntN(1000)
		switch {
		case x < 700:
			ev = event{mk(ts, vsecure.AuditRead, pick(w.agents), hot()), viaRecordRead}
		case x < 750:
			ev = event{mk(ts, vsecure.AuditWrite, pick(w.agents), hot()), viaPutSecret}
		case x < 780:
			ev = event{mk(ts, vsecure.AuditGetResource, pick(w.agents), pick(w.secrets)), viaAppend}
		case x < 830:
			ev = event{mk(ts, vsecure.AuditListSecrets, pick(w.agents), "vsecure://secrets/"+pick(envs)+"/*"), viaAppend}
		case x < 880:
			ev = event{mk(ts, vsecure.AuditRequestApproval, pick(w.agents), pick(w.secrets)), viaAppend}
		case x < 905:
			ev = event{mk(ts, vsecure.AuditApprove, pick(humans), pick(w.secrets)), viaAppend}
		case x < 910:
			ev = event{mk(ts, vsecure.AuditDeny, pick(humans), pick(w.secrets)), viaAppend}
		case x < 940:
			ev = event{mk(ts, vsecure.AuditGetApproval, pick(w.agents), pick(w.secrets)), viaAppend}
		case x < 965:
			op := vsecure.AuditRead
			if r.IntN(4) == 0 {
				op = vsecure.AuditWrite
			}
			ev = event{mk(ts, op, pick(w.agents), pick(w.customs)), viaAppend}
		case x < 975:
			op := []string{vsecure.AuditKeyCreate, vsecure.AuditKeyRotate, vsecure.AuditKeyRevoke}[r.IntN(3)]
			ev = event{mk(ts, op, "admin", pick(w.keys)), viaAppend}
		case x < 980:
			ev = event{mk(ts, vsecure.AuditConfigure, "admin", "vsecure://secrets/"+pick(envs)+"/*"), viaAppend}
		case x < 990:
			ev = event{mk(ts, vsecure.AuditQuery, "auditor", ""), viaAppend}
		default:
			ev = event{mk(ts, vsecure.AuditAuthenticate, pick(w.agents), ""), viaAppend}
		}
		// ~3 % of everything fails; a failed read or write changes no
		// state, so its entry is appended alone.
		if r.IntN(100) < 3 {
			ev.e.Success = false
			ev.e.Error = pick(errText)
			ev.via = viaAppend
		}
		if ev.via == viaRecordRead {
			ev.e.Metadata["version"] = "1"
		}
		out = append(out, ev)
	}
	return out
}

// seeder writes events through the store's real paths.
type seeder struct {
	s     *dynamo.Store
	mu    sync.Mutex
	heads map[string]*head
}

type head struct {
	mu      sync.Mutex
	version int
	created time.Time
}

func (sd *seeder) head(uri string) *head {
	sd.mu.Lock()
	defer sd.mu.Unlock()
	h := sd.heads[uri]
	if h == nil {
		h = &head{}
		sd.heads[uri] = h
	}
	return h
}

func (sd *seeder) write(ctx context.Context, ev event) error {
	e := ev.e
	switch ev.via {
	case viaRecordRead:
		return sd.s.RecordRead(ctx, e.Resource, e.Timestamp, e)
	case viaPutSecret:
		h := sd.head(e.Resource)
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.version == 0 {
			h.created = e.Timestamp
		}
		v := h.version + 1
		e.Metadata["version"] = fmt.Sprint(v)
		ct := make([]byte, 48)
		rand.Read(ct)
		sec := vsecure.Secret{URI: e.Resource, Version: v, CreatedAt: h.created, UpdatedAt: e.Timestamp, UpdatedBy: e.Actor}
		ver := vsecure.SecretVersion{URI: e.Resource, Version: v, CreatedAt: e.Timestamp, CreatedBy: e.Actor,
			Sealed: vsecure.Sealed{KeyID: "local-aes:bench", WrappedKey: ct[:40], Nonce: ct[:12], Ciphertext: ct}}
		if err := sd.s.PutSecret(ctx, sec, ver, e); err != nil {
			return err
		}
		h.version = v
		return nil
	}
	return sd.s.AppendAudit(ctx, e)
}

// seed runs writers goroutines over events, in order of their index (so
// timestamps rise as they would), the secrets' creation first. It returns
// the ids written and how long the mix took.
func seed(ctx context.Context, sd *seeder, evs []event, creations, writers int, progress func(done int)) (map[string]bool, time.Duration, error) {
	written := make(map[string]bool, len(evs))
	var wmu sync.Mutex
	run := func(evs []event) error {
		var next atomic.Int64
		var firstErr error
		var once sync.Once
		var wg sync.WaitGroup
		for range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1) - 1)
					if i >= len(evs) || ctx.Err() != nil {
						return
					}
					err := sd.write(ctx, evs[i])
					// The store already retried conflicts and throttling;
					// what is left is reported, not hidden.
					if err != nil {
						once.Do(func() { firstErr = fmt.Errorf("entry %d (%s %s): %w", i, evs[i].e.Operation, evs[i].e.Resource, err) })
						return
					}
					wmu.Lock()
					written[evs[i].e.ID] = true
					n := len(written)
					wmu.Unlock()
					if progress != nil && n%5000 == 0 {
						progress(n)
					}
				}
			}()
		}
		wg.Wait()
		if firstErr == nil && ctx.Err() != nil {
			firstErr = ctx.Err()
		}
		return firstErr
	}
	if err := run(evs[:creations]); err != nil {
		return nil, 0, err
	}
	t0 := time.Now()
	err := run(evs[creations:])
	if err != nil && errors.Is(err, context.Canceled) {
		return nil, 0, err
	}
	return written, time.Since(t0), err
}
