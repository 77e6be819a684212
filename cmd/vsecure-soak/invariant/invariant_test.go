package invariant

import (
	"strings"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/digest"
	"github.com/vsecure/vsecure/shared/vsecure"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

func entry(id, op, actor, resource, opID, rid string, success bool, md ...string) vsecure.Entry {
	m := map[string]string{"userAgent": UserAgentPrefix + opID}
	if rid != "" {
		m["requestId"] = rid
	}
	for i := 0; i+1 < len(md); i += 2 {
		m[md[i]] = md[i+1]
	}
	e := vsecure.Entry{ID: id, Operation: op, Actor: actor, Resource: resource, Success: success, Metadata: m}
	if resource == gated {
		e.ApprovalID = "appr_1"
	}
	return e
}

const secret = "vsecure://secrets/open/S1"
const gated = "vsecure://secrets/quorum/Q1"

// valid is a small run that keeps every promise: two reads (one whose
// answer was lost), a quorum-2 approval decided by two approvers, a token
// read, a revoked key refused afterwards, a revoked approval.
func valid() Input {
	approved := t0.Add(5 * time.Second)
	return Input{
		Ops: []Op{
			{ID: "1", Kind: "read", Cred: "key_a", Resource: secret, Sent: at(1), Done: at(1), Status: 200, RequestID: "r1"},
			{ID: "2", Kind: "read", Cred: "key_a", Resource: secret, Sent: at(2)},
			{ID: "3", Kind: "request", Cred: "key_a", Resource: gated, Sent: at(3), Status: 200, RequestID: "r3", ApprovalID: "appr_1", Result: "pending"},
			{ID: "4", Kind: "respond", Cred: "key_p", ApprovalID: "appr_1", Sent: at(4), Status: 200, RequestID: "r4", Result: "pending"},
			{ID: "5", Kind: "respond", Cred: "key_q", ApprovalID: "appr_1", Sent: at(5), Status: 200, RequestID: "r5", Result: "approved"},
			{ID: "6", Kind: "respond", Cred: "key_r", ApprovalID: "appr_1", Sent: at(5), Status: 409, Code: "already_decided", RequestID: "r6"},
			{ID: "7", Kind: "read", Cred: "tok:appr_1", Resource: gated, Sent: at(6), Status: 200, RequestID: "r7"},
			{ID: "8", Kind: "key_revoke", Cred: "admin", Sent: at(7), Done: at(8), Status: 200, RequestID: "r8"},
			{ID: "9", Kind: "read", Cred: "key_a", Resource: secret, Sent: at(9), Status: 401, Code: "unauthenticated", RequestID: "r9"},
			{ID: "10", Kind: "revoke", Cred: "admin", ApprovalID: "appr_1", Sent: at(10), Done: at(10), Status: 200, RequestID: "r10"},
			{ID: "11", Kind: "read", Cred: "tok:appr_1", Resource: gated, Sent: at(11), Status: 401, RequestID: "r11"},
		},
		Revocations: []Revocation{
			{Cred: "key_a", At: at(8), Why: "key revoked"},
			{Cred: "tok:appr_1", At: at(10), Why: "approval revoked", Approval: "appr_1"},
		},
		Audit: []vsecure.Entry{
			entry("log_1", "read", "agent-1", secret, "1", "r1", true),
			entry("log_2", "read", "agent-1", secret, "2", "", true),
			entry("log_3", "request_approval", "agent-1", gated, "3", "r3", true),
			entry("log_4", "approve", "appr-1", gated, "4", "r4", true, "status", "pending"),
			entry("log_5", "approve", "appr-2", gated, "5", "r5", true, "status", "approved"),
			entry("log_6", "approve", "appr-3", gated, "6", "r6", false),
			entry("log_7", "read", "agent-1", gated, "7", "r7", true, "credential", "access_token"),
			entry("log_8", "key_revoke", "admin", "", "8", "r8", true),
			entry("log_9", "authenticate", "anonymous", "", "9", "r9", false),
			entry("log_10", "revoke", "admin", gated, "10", "r10", true),
			entry("log_11", "authenticate", "anonymous", "", "11", "r11", false),
			{ID: "log_12", Operation: "expire", Actor: "workflow", Success: true, Metadata: map[string]string{}},
		},
		Approvals: []api.ApprovalView{{
			ID: "appr_1", Status: vsecure.StatusRevoked, Resource: gated, RequestedBy: "agent-1", RequiredApprovals: 2,
			Decisions:  []vsecure.Decision{{By: "appr-1", Action: "approve"}, {By: "appr-2", Action: "approve"}},
			ApprovedBy: "appr-2", ApprovedAt: &approved,
		}},
		Secrets:   []api.SecretInfo{{URI: secret, AccessCount: 2}, {URI: gated, AccessCount: 1}},
		Verify:    []digest.Report{{Entries: 12}},
		Logs:      []byte(`{"msg":"request","requestId":"r1","status":200}` + "\n"),
		Sensitive: []Sensitive{{"secret value", "soakval-0123456789"}, {"API key", "vsk_abcdefghijklmnop"}},
	}
}

func TestValidRunHasNoViolation(t *testing.T) {
	if v := Check(valid()); len(v) != 0 {
		t.Fatalf("violations in a valid run: %+v", v)
	}
}

func TestEachInvariantIsReported(t *testing.T) {
	approvedAt := t0.Add(5 * time.Second)
	tests := []struct {
		name   string
		break_ func(in *Input)
		want   string
	}{
		{"two clients told they decided", func(in *Input) {
			in.Ops[5].Status, in.Ops[5].Result, in.Ops[5].Code = 200, "denied", ""
		}, DecidedTwice},
		{"two winning decisions audited", func(in *Input) {
			in.Audit[5] = entry("log_6", "deny", "appr-3", gated, "6", "r6", true, "status", "denied")
		}, DecidedTwice},
		{"one approver counted twice", func(in *Input) {
			in.Audit[4].Actor = "appr-1"
		}, DecidedTwice},
		{"quorum-2 granted with one distinct approver", func(in *Input) {
			in.Approvals[0].Decisions[1].By = "appr-1"
		}, DecidedTwice},
		{"quorum-2 granted on one vote", func(in *Input) {
			in.Approvals[0].Decisions = in.Approvals[0].Decisions[:1]
		}, DecidedTwice},
		{"approved then denied", func(in *Input) {
			in.Approvals[0].Status, in.Approvals[0].DeniedBy, in.Approvals[0].DeniedAt = vsecure.StatusDenied, "appr-3", &approvedAt
		}, DecidedTwice},
		{"200 read without an entry", func(in *Input) {
			in.Audit[0].Metadata["requestId"] = "other"
		}, ReadNotAudited},
		{"200 read audited as refused", func(in *Input) {
			in.Audit[0].Success = false
		}, ReadNotAudited},
		{"refusal without an entry", func(in *Input) {
			in.Audit = append(in.Audit[:5], in.Audit[6:]...)
		}, AuditLost},
		{"audited read no one made", func(in *Input) {
			in.Audit = append(in.Audit, vsecure.Entry{ID: "log_x", Operation: "read", Actor: "agent-1", Resource: secret, Success: true, Metadata: map[string]string{}})
			in.Secrets[0].AccessCount++
		}, PhantomRead},
		{"audited read the client saw refused", func(in *Input) {
			in.Ops[1].Status, in.Ops[1].Code, in.Ops[1].RequestID = 403, "forbidden", "r2"
			in.Audit[1].Metadata["requestId"] = "r2"
		}, PhantomRead},
		{"entry names an op never sent", func(in *Input) {
			in.Audit[11].Metadata["userAgent"] = UserAgentPrefix + "999"
		}, UnknownOperation},
		{"access count too high", func(in *Input) {
			in.Secrets[0].AccessCount = 3
		}, AccessCount},
		{"access count too low", func(in *Input) {
			in.Secrets[1].AccessCount = 0
		}, AccessCount},
		{"audited reads of an unlisted secret", func(in *Input) {
			in.Secrets = in.Secrets[:1]
		}, AccessCount},
		{"revoked key answered 200 after the ack", func(in *Input) {
			in.Ops[8].Status, in.Ops[8].Code = 200, ""
			in.Audit[8] = entry("log_9", "read", "agent-1", secret, "9", "r9", true)
			in.Secrets[0].AccessCount++
		}, RevokedUsed + " (key revoked)"},
		{"revoked key authenticated, refused later", func(in *Input) {
			in.Ops[8].Status, in.Ops[8].Code = 403, "approval_required"
			in.Audit[8] = entry("log_9", "read", "agent-1", secret, "9", "r9", false)
		}, RevokedUsed + " (key revoked)"},
		{"revoked key used, answer lost", func(in *Input) {
			in.Ops[8].Status, in.Ops[8].Code, in.Ops[8].RequestID = 0, "", ""
			in.Audit[8] = entry("log_9", "read", "agent-1", secret, "9", "", true)
			in.Secrets[0].AccessCount++
		}, RevokedUsed + " (key revoked)"},
		{"revoked approval's token still reads", func(in *Input) {
			in.Ops[10].Status = 200
			in.Audit[10] = entry("log_11", "read", "agent-1", gated, "11", "r11", true)
			in.Secrets[1].AccessCount++
		}, RevokedUsed + " (approval revoked)"},
		{"revoked approval still grants a key read", func(in *Input) {
			in.Revocations[0].At = at(100) // the key itself is fine here
			in.Ops = append(in.Ops, Op{ID: "12", Kind: "read", Cred: "key_a", Resource: gated, Sent: at(12)})
			e := entry("log_13", "read", "agent-1", gated, "12", "", true)
			e.ApprovalID = "appr_1"
			in.Audit = append(in.Audit, e)
			in.Secrets[1].AccessCount++
		}, RevokedUsed + " (approval revoked)"},
		{"verify finding", func(in *Input) {
			in.Verify[0].Findings = []digest.Finding{{Kind: "modified", Entry: "log_3", Window: t0, Detail: "hash differs"}}
		}, VerifyFailed},
		{"verify failed", func(in *Input) {
			in.VerifyErr = []string{"unavailable: the audit log could not be verified"}
		}, VerifyFailed},
		{"secret value in the log", func(in *Input) {
			in.Logs = append(in.Logs, []byte(`{"msg":"oops","value":"soakval-0123456789"}`)...)
		}, LeakInLog},
		{"API key in the log", func(in *Input) {
			in.Logs = append(in.Logs, []byte(`Authorization: Bearer vsk_abcdefghijklmnop`)...)
		}, LeakInLog},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := valid()
			tt.break_(&in)
			vs := Check(in)
			var got []string
			for _, v := range vs {
				got = append(got, v.Invariant)
				if v.Invariant == tt.want {
					if strings.Contains(v.Detail, "soakval-0123456789") || strings.Contains(v.Detail, "vsk_abcdefghijklmnop") {
						t.Errorf("the report repeats the leaked value: %s", v.Detail)
					}
					return
				}
			}
			t.Fatalf("want a %q violation, got %q", tt.want, got)
		})
	}
}
