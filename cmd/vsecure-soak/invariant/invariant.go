// Package invariant is the soak's judge: given what the clients saw, what
// the server's audit log and store say afterwards, and the server's logs,
// it lists every broken promise. It is pure (records in, violations out)
// so that each invariant has a unit test with records that break it.
package invariant

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/digest"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// The invariants, as reported.
const (
	DecidedTwice     = "approval decided twice"
	ReadNotAudited   = "read without its audit entry"
	AuditLost        = "audit entry lost"
	PhantomRead      = "audited read no client made"
	AccessCount      = "access count differs from audited reads"
	RevokedUsed      = "revoked credential used after its revocation was acknowledged"
	VerifyFailed     = "audit:verify not clean"
	LeakInLog        = "secret value or credential in a log"
	UnknownOperation = "audit entry of no soak request"
)

// UserAgentPrefix starts the User-Agent of every soak request; the op id
// follows. The server records the User-Agent in each audit entry, so an
// entry maps back to the request that caused it even when the client never
// saw an answer (a SIGKILLed server, a timeout).
const UserAgentPrefix = "vsecure-soak op="

// Op is one request a soak client sent.
type Op struct {
	ID   string
	Kind string // read, write, request, respond, revoke, key_revoke, key_rotate, key_patch, key_create, list, ...
	// Cred names the credential: a key id, or "tok:" + approval id for an
	// access token.
	Cred       string
	Resource   string
	ApprovalID string
	Sent, Done time.Time
	// Status is the HTTP status; 0 when no answer arrived (unknown outcome).
	Status    int
	Code      string // error code of a refusal
	RequestID string // X-Request-Id (or the error body's requestId)
	// Result is the approval status in the body of a 200 to request or respond.
	Result string
}

// Outcome is ok (2xx), refused (an answer that is not 2xx) or unknown.
func (o Op) Outcome() string {
	switch {
	case o.Status == 0:
		return "unknown"
	case o.Status < 300:
		return "ok"
	}
	return "refused"
}

// Revocation is a credential's end as the server acknowledged it.
type Revocation struct {
	// Cred is the dead credential (as in Op.Cred).
	Cred string
	// At is when the acknowledgement arrived at the client (or, for a
	// rotation with an overlap, when the overlap ended).
	At time.Time
	// Why labels the violation: "key revoked", "key rotated",
	// "approval revoked", "token of a revoked key".
	Why string
	// Approval, if set, is a revoked approval: no read may be granted by it
	// after At, whatever credential made the read.
	Approval string
}

// Sensitive is a value that must never reach a log.
type Sensitive struct {
	Kind  string // "secret value", "API key", "access token", "admin key"
	Value string
}

// Input is everything the checker judges.
type Input struct {
	Ops         []Op
	Revocations []Revocation
	// Audit is the whole audit log, read through the API after the run.
	Audit []vsecure.Entry
	// Approvals and Secrets are the final state, listed by an admin.
	Approvals []api.ApprovalView
	Secrets   []api.SecretInfo
	// Verify is the report of audit:verify; VerifyErr is set if the call
	// itself failed.
	Verify    []digest.Report
	VerifyErr []string
	Logs      []byte
	Sensitive []Sensitive
	// Cutoff is when the checker began reading the audit log: requests
	// answered later (the checker's own) may be missing from it.
	Cutoff time.Time
}

// Violation is one broken promise. Subject names what broke it (an
// approval, a credential, a secret) so that reports can count distinct ones.
type Violation struct {
	Invariant string
	Subject   string
	Detail    string
}

// Check returns every violation in in, grouped by invariant in a stable order.
func Check(in Input) []Violation {
	var out []Violation
	add := func(inv, subject, f string, args ...any) {
		out = append(out, Violation{inv, subject, fmt.Sprintf(f, args...)})
	}

	ops := make(map[string]*Op, len(in.Ops))
	for i := range in.Ops {
		ops[in.Ops[i].ID] = &in.Ops[i]
	}
	byRequest := map[string][]*vsecure.Entry{}
	opOf := map[*vsecure.Entry]*Op{}
	for i := range in.Audit {
		e := &in.Audit[i]
		if rid := e.Metadata["requestId"]; rid != "" {
			byRequest[rid] = append(byRequest[rid], e)
		}
		if id, ok := strings.CutPrefix(e.Metadata["userAgent"], UserAgentPrefix); ok {
			opOf[e] = ops[id]
		}
	}

	checkApprovals(in, add)

	// Every answer a client got was audited under its request id, and every
	// 200 read by a read entry. 5xx answers may lack an entry (the audit
	// write is what failed); unauthenticated refusals (401, 429) may be
	// aggregated into one entry per source by design.
	for _, o := range in.Ops {
		if o.Status == 0 || o.Status >= 500 || o.Status == 401 || o.Status == 429 || o.RequestID == "" ||
			(!in.Cutoff.IsZero() && !o.Done.Before(in.Cutoff)) {
			continue
		}
		es := byRequest[o.RequestID]
		if o.Kind == "read" && o.Status == 200 {
			found := false
			for _, e := range es {
				found = found || (e.Operation == vsecure.AuditRead && e.Success && e.Resource == o.Resource)
			}
			if !found {
				add(ReadNotAudited, o.Resource, "op %s read %s (request %s) answered 200 but no successful read entry has its request id", o.ID, o.Resource, o.RequestID)
			}
			continue
		}
		if len(es) == 0 {
			add(AuditLost, o.Kind, "op %s (%s, answered %d %s, request %s) has no audit entry", o.ID, o.Kind, o.Status, o.Code, o.RequestID)
		}
	}
	// Every audited successful read is one a client saw succeed, or one
	// whose answer never arrived.
	readsPer := map[string]int64{}
	for i := range in.Audit {
		e := &in.Audit[i]
		if e.Operation != vsecure.AuditRead || !e.Success {
			continue
		}
		readsPer[e.Resource]++
		o := opOf[e]
		switch {
		case o == nil:
			add(PhantomRead, e.Resource, "entry %s: a successful read of %s by %s that no soak request made (user agent %q)", e.ID, e.Resource, e.Actor, e.Metadata["userAgent"])
		case o.Outcome() == "refused":
			add(PhantomRead, e.Resource, "entry %s: a successful read of %s, but op %s was answered %d %s", e.ID, e.Resource, o.ID, o.Status, o.Code)
		case o.RequestID != "" && o.RequestID != e.Metadata["requestId"]:
			add(PhantomRead, e.Resource, "entry %s: op %s got request id %s, the entry says %s", e.ID, o.ID, o.RequestID, e.Metadata["requestId"])
		}
	}
	// Every entry comes from a soak request (or the server itself).
	for i := range in.Audit {
		e := &in.Audit[i]
		if _, ok := opOf[e]; ok && opOf[e] == nil {
			add(UnknownOperation, e.Operation, "entry %s (%s by %s) names op %q, which no client sent", e.ID, e.Operation, e.Actor, e.Metadata["userAgent"])
		}
	}

	seen := map[string]bool{}
	for _, s := range in.Secrets {
		seen[s.URI] = true
		if n := readsPer[s.URI]; s.AccessCount != n {
			add(AccessCount, s.URI, "%s: accessCount %d, successful read entries %d", s.URI, s.AccessCount, n)
		}
	}
	for _, uri := range sortedKeys(readsPer) {
		if !seen[uri] {
			add(AccessCount, uri, "%s: %d successful read entries but the secret is not listed", uri, readsPer[uri])
		}
	}

	checkRevocations(in, opOf, add)

	for i, err := range in.VerifyErr {
		add(VerifyFailed, "", "audit:verify call %d failed: %s", i+1, err)
	}
	for _, r := range in.Verify {
		for _, f := range r.Findings {
			add(VerifyFailed, f.Entry, "%s entry %s window %s: %s", f.Kind, f.Entry, f.Window.Format(time.RFC3339), f.Detail)
		}
	}

	for _, s := range in.Sensitive {
		if len(s.Value) >= 8 && bytes.Contains(in.Logs, []byte(s.Value)) {
			add(LeakInLog, s.Kind, "a %s (%s…) appears in the server's log", s.Kind, s.Value[:min(8, len(s.Value))])
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Invariant < out[j].Invariant })
	return out
}

func checkApprovals(in Input, add func(string, string, string, ...any)) {
	type votes struct {
		final   []string // decisions that ended the request: "approve by x" …
		voters  map[string]int
		granted bool
		denied  bool
	}
	per := map[string]*votes{}
	get := func(id string) *votes {
		v := per[id]
		if v == nil {
			v = &votes{voters: map[string]int{}}
			per[id] = v
		}
		return v
	}
	for i := range in.Audit {
		e := &in.Audit[i]
		if !e.Success || e.ApprovalID == "" || (e.Operation != vsecure.AuditApprove && e.Operation != vsecure.AuditDeny) {
			continue
		}
		v := get(e.ApprovalID)
		v.voters[e.Actor]++
		switch st := e.Metadata["status"]; st {
		case string(vsecure.StatusApproved), string(vsecure.StatusDenied):
			v.final = append(v.final, e.Operation+" by "+e.Actor+" (entry "+e.ID+")")
			v.granted = v.granted || st == string(vsecure.StatusApproved)
			v.denied = v.denied || st == string(vsecure.StatusDenied)
		}
	}
	// What the clients were told.
	told := map[string][]string{}
	for _, o := range in.Ops {
		if o.Kind == "respond" && o.Status == 200 && (o.Result == string(vsecure.StatusApproved) || o.Result == string(vsecure.StatusDenied)) {
			told[o.ApprovalID] = append(told[o.ApprovalID], o.Result+" to op "+o.ID)
		}
	}
	for _, id := range sortedKeys(told) {
		if t := told[id]; len(t) > 1 {
			add(DecidedTwice, id, "approval %s: %d clients were told they decided it: %s", id, len(t), strings.Join(t, ", "))
		}
	}
	for _, id := range sortedKeys(per) {
		v := per[id]
		if len(v.final) > 1 {
			add(DecidedTwice, id, "approval %s: %d audited winning decisions: %s", id, len(v.final), strings.Join(v.final, "; "))
		}
		if v.granted && v.denied {
			add(DecidedTwice, id, "approval %s was audited as both approved and denied", id)
		}
		for _, who := range sortedKeys(v.voters) {
			if n := v.voters[who]; n > 1 {
				add(DecidedTwice, id, "approval %s: %s's decision was audited %d times", id, who, n)
			}
		}
	}
	for _, a := range in.Approvals {
		by := map[string]bool{}
		approves := 0
		for _, d := range a.Decisions {
			if by[d.By] {
				add(DecidedTwice, a.ID, "approval %s: %s decided twice", a.ID, d.By)
			}
			by[d.By] = true
			if d.Action == vsecure.ActionApprove {
				approves++
			}
		}
		granted := a.ApprovedBy != "" && a.ApprovedBy != vsecure.AutoApprover
		if granted && approves < a.RequiredApprovals {
			add(DecidedTwice, a.ID, "approval %s granted with %d distinct approvals of %d required", a.ID, approves, a.RequiredApprovals)
		}
		if a.ApprovedAt != nil && a.DeniedAt != nil {
			add(DecidedTwice, a.ID, "approval %s is both approved (%s) and denied (%s)", a.ID, a.ApprovedBy, a.DeniedBy)
		}
		if v := per[a.ID]; v != nil && v.granted && a.Status == vsecure.StatusDenied {
			add(DecidedTwice, a.ID, "approval %s was audited approved but is now denied", a.ID)
		}
	}
}

func checkRevocations(in Input, opOf map[*vsecure.Entry]*Op, add func(string, string, string, ...any)) {
	byCred := map[string][]*Op{}
	for i := range in.Ops {
		o := &in.Ops[i]
		byCred[o.Cred] = append(byCred[o.Cred], o)
	}
	for _, r := range in.Revocations {
		inv := RevokedUsed + " (" + r.Why + ")"
		flagged := map[string]bool{}
		for _, o := range byCred[r.Cred] {
			if accepted(o) && o.Sent.After(r.At) {
				flagged[o.ID] = true
				add(inv, r.Cred, "op %s (%s %s) sent %s after the ack, answered %d (request %s)", o.ID, o.Kind, o.Resource, o.Sent.Sub(r.At).Round(time.Millisecond), o.Status, o.RequestID)
			}
		}
		for e, o := range opOf {
			if o == nil || flagged[o.ID] || !o.Sent.After(r.At) {
				continue
			}
			// An entry with a named actor means the credential authenticated,
			// whether or not the operation then succeeded.
			used := o.Cred == r.Cred && e.Actor != vsecure.Anonymous
			byGrant := r.Approval != "" && e.Success && e.Operation == vsecure.AuditRead && e.ApprovalID == r.Approval
			if used || byGrant {
				flagged[o.ID] = true
				add(inv, r.Cred, "entry %s: %s by %s (success %t), op %s sent %s after the ack (answer: %s)", e.ID, e.Operation, e.Actor, e.Success, o.ID, o.Sent.Sub(r.At).Round(time.Millisecond), o.Outcome())
			}
		}
	}
}

// accepted reports whether the server took o's credential: any answer but
// no answer, 401, a pre-authentication 429 or a 5xx.
func accepted(o *Op) bool {
	return o.Status != 0 && o.Status != 401 && o.Status != 429 && o.Status < 500
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
