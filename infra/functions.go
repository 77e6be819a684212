package main

import (
	"slices"

	"github.com/vsecure/vsecure/shared/catalog"
	"github.com/vsecure/vsecure/shared/httpapi"
)

// functionSpec is how one Lambda function is sized and what it may touch.
// Every function of the catalog (shared/catalog) must have one:
// a new route without a spec fails synth, so nobody ships a function with
// guessed permissions.
type functionSpec struct {
	// MemoryMB and TimeoutSeconds, with the reason for them in Why.
	MemoryMB       int
	TimeoutSeconds int
	Why            string
	// Store lists the vsecure.Store methods the function's handler calls;
	// storeAccess turns them into DynamoDB actions on exact resources.
	Store []string
	// Sealer is the envelope-encryption operation the function performs
	// directly against the stack's KMS key (sealNone for everyone else).
	Sealer sealerUse
	// Cursor functions paginate and read the cursor-signing secret.
	Cursor bool
	// Slack functions read the Slack credentials secret.
	Slack bool
	// Workflow lists the Step Functions calls the function makes on the
	// approval state machine (the sfn adapter's StartExecution,
	// SendTaskSuccess, StopExecution, DescribeExecution); a function with any gets
	// VSECURE_STATE_MACHINE_ARN and exactly those actions.
	Workflow []string
	// Digest is the function's use of the audit signing key (an
	// asymmetric KMS key of its own, not the data key).
	Digest digestUse
	// Console functions serve the console's pages and read the secret
	// their session cookies are sealed with (package consolefn).
	Console bool
	// SignIn is the console's sign-in: it gets the VSECURE_OIDC_*
	// environment and the callback URL of the code flow.
	SignIn bool
}

// digestUse is a function's use of the audit digest signing key.
type digestUse int

const (
	digestNone   digestUse = iota
	digestSign             // kms:Sign: seals windows (the scheduled step)
	digestVerify           // kms:GetPublicKey: checks signatures locally
	// digestPublicKey is kms:GetPublicKey alone, to name the key an
	// export's digests are signed with (audit-export): no MAC keys, no
	// witness, since it checks nothing.
	digestPublicKey
)

// sealerUse is a function's direct use of the KMS key for data keys.
type sealerUse int

const (
	sealNone sealerUse = iota
	sealOpen           // kms:Decrypt of a secret version's data key
	sealSeal           // kms:GenerateDataKey for a new secret version
	sealBoth           // both: a function that reads and writes secrets (mcp)
)

// The functions that serve no route, by their names in the function
// catalog (shared/catalog; infra imports nothing of shared/ but the route
// table, the catalog and the schema).
const (
	// authorizerFunction is the REQUEST authorizer.
	authorizerFunction = catalog.Authorizer
	// The approval workflow's task functions, invoked by the state machine.
	notifyFunction = catalog.Notify
	expireFunction = catalog.Expire
	revokeFunction = catalog.Revoke
	// The scheduled workflow reconciler, audit indexer and digest step.
	reconcileFunction = catalog.Reconcile
	indexFunction     = catalog.Index
	digestFunction    = catalog.Digest
)

// Sizing rationale shared by most functions. Lambda gives CPU in
// proportion to memory; a Go handler needs ~30 MB, so memory buys CPU for
// the cold start's TLS handshakes and JSON work, not room.
const (
	whyLight = "128 MB: one or two DynamoDB calls and small JSON; 10 s covers SDK retries well inside API Gateway's 30 s integration limit"
	whyList  = "256 MB: pages of up to 100 items to encode; the extra CPU halves cold start; 10 s covers SDK retries"
	whyHot   = "256 MB: on the hot path of every audited read (BatchGet, KMS, TransactWrite); the extra CPU cuts cold-start TLS time; 10 s covers SDK retries"
)

// idempotent is what a function honouring Idempotency-Key adds to its
// store methods (httpapi.Route.Idempotent marks those functions' routes).
var idempotent = []string{"ReserveIdempotency", "CompleteIdempotency", "ReleaseIdempotency"}

// liveKey is what a function behind the authorizer cache adds to its
// store methods: it re-reads the caller's key, because the cached answer
// may predate a revocation or a role change (lambdafn.AuthorizerContext).
// Functions that judge the key within their own read (httpapi.Route.JudgesKey:
// resources-get, resources-put) go without.
var liveKey = []string{"GetKey"}

func with(methods ...[]string) []string { return slices.Concat(methods...) }

// functionSpecs is keyed by function name (functions/<name>, build/<name>):
// one entry per function of the catalog (shared/catalog), no other.
var functionSpecs = map[string]functionSpec{
	authorizerFunction: {MemoryMB: 256, TimeoutSeconds: 5, Why: "256 MB: runs before every uncached request, so cold start matters most; 5 s because API Gateway gives an authorizer 10 s and a slow authorizer should fail fast",
		Store: []string{"KeyByHash", "MarkKeyUsed", "ApprovalByToken", "GetKey", "AppendAudit"}},
	"health": {MemoryMB: 128, TimeoutSeconds: 3, Why: "128 MB / 3 s: returns a constant"},
	// The $default route (fallback.go): answers from the route table; the
	// only store call is the audit entry of a refused unclean path.
	httpapi.FallbackFunction: {MemoryMB: 128, TimeoutSeconds: 10, Why: whyLight, Store: []string{"AppendAudit"}},

	"resources-list":      {MemoryMB: 128, TimeoutSeconds: 10, Why: whyLight, Store: with([]string{"ListPolicies", "AppendAudit"}, liveKey)},
	"resources-configure": {MemoryMB: 128, TimeoutSeconds: 10, Why: whyLight, Store: with([]string{"PutPolicy", "AppendAudit"}, liveKey)},
	// A read or use under an approval with maxUses spends one of its uses
	// (SpendUse) instead of RecordRead's bare entry.
	"resources-get": {MemoryMB: 256, TimeoutSeconds: 10, Why: whyHot,
		Store: []string{"LoadAccess", "RecordRead", "SpendUse", "AppendAudit"}, Sealer: sealOpen},
	"secrets-use": {MemoryMB: 256, TimeoutSeconds: 10, Why: whyHot,
		Store: []string{"LoadAccess", "RecordRead", "SpendUse", "AppendAudit"}, Sealer: sealOpen},
	"resources-put": {MemoryMB: 256, TimeoutSeconds: 10, Why: whyHot,
		Store: with([]string{"LoadAccess", "PutSecret", "AppendAudit"}, idempotent), Sealer: sealSeal},
	"secrets-list": {MemoryMB: 256, TimeoutSeconds: 10, Why: whyList,
		Store: with([]string{"ListPolicies", "ListSecrets", "AppendAudit"}, liveKey), Cursor: true},

	// approvals-request takes a token from the requester's rate bucket
	// (TakeToken) before it creates the approval: the product's limit,
	// shared by every container.
	"approvals-request": {MemoryMB: 128, TimeoutSeconds: 10, Why: whyLight,
		Store: with([]string{"LoadAccess", "TakeToken", "CreateApproval", "AppendAudit"}, idempotent, liveKey), Workflow: []string{"StartExecution"}},
	"approvals-list": {MemoryMB: 256, TimeoutSeconds: 10, Why: whyList,
		Store: with([]string{"ListApprovals", "AppendAudit"}, liveKey), Cursor: true},
	"approvals-get": {MemoryMB: 128, TimeoutSeconds: 10, Why: whyLight,
		Store: with([]string{"GetApproval", "AppendAudit"}, liveKey)},
	"approvals-respond": {MemoryMB: 128, TimeoutSeconds: 10, Why: whyLight,
		Store: with([]string{"GetApproval", "UpdateApproval", "AppendAudit"}, idempotent, liveKey), Workflow: []string{"SendTaskSuccess"},
		Slack: true}, // rewrites the approval's Slack message with the outcome
	"approvals-revoke": {MemoryMB: 128, TimeoutSeconds: 10, Why: whyLight,
		Store: with([]string{"GetApproval", "UpdateApproval", "AppendAudit"}, liveKey), Workflow: []string{"StopExecution"},
		Slack: true}, // rewrites the approval's Slack message with the outcome
	// approvals-cancel ends a pending request's wait (SendTaskSuccess, as
	// a denial does) or an approved one's execution (StopExecution, as a
	// revocation does).
	"approvals-cancel": {MemoryMB: 128, TimeoutSeconds: 10, Why: whyLight,
		Store: with([]string{"GetApproval", "UpdateApproval", "AppendAudit"}, liveKey), Workflow: []string{"SendTaskSuccess", "StopExecution"},
		Slack: true}, // rewrites the approval's Slack message with the outcome

	// audit-list Queries the audit table and appends the entry recording
	// the audit read itself (the gate audits every call, fail-closed).
	"audit-list": {MemoryMB: 256, TimeoutSeconds: 10, Why: whyList,
		Store: with([]string{"QueryAudit", "AppendAudit"}, liveKey), Cursor: true},

	// audit-verify reads windows and digests from the time index and checks
	// signatures against the digest key's public key (kms:GetPublicKey
	// only: it can check digests, never make one).
	"audit-verify": {MemoryMB: 512, TimeoutSeconds: 29, Why: "512 MB / 29 s: re-hashes every entry of the range (~150k entries/s per vCPU measured); API Gateway's integration limit is 30 s, so long ranges are verified in slices with --from/--to",
		Store: with([]string{"AuditRange", "DigestBefore", "Digests", "AppendAudit"}, liveKey), Digest: digestVerify},

	// audit-export pages out the same reads as audit-verify (records from
	// the time index, then digests); the key id it names comes from the
	// environment, and kms:GetPublicKey is all it may do with the key.
	"audit-export": {MemoryMB: 512, TimeoutSeconds: 29, Why: "512 MB / 29 s: builds a page of up to 4 MB of JSON lines in memory (Lambda answers at most 6 MB); an export is many short calls",
		Store: with([]string{"AuditRange", "DigestBefore", "Digests", "AppendAudit"}, liveKey), Digest: digestPublicKey, Cursor: true},

	// The scheduled digest step: finds where the chain ends (DigestBefore,
	// or OldestAudit on the first run), reads each closed window from the
	// time index, signs its digest (kms:Sign on the signing key only) and
	// appends it to the audit table with a conditional Put. It writes no
	// audit entry of its own: the digests are the record.
	digestFunction: {MemoryMB: 512, TimeoutSeconds: 300, Why: "512 MB / 300 s: a run catching up seals up to a day of windows (288 digests of up to 3000 entries each); the schedule is every 5 minutes, so a run ends before the next starts",
		Store: []string{"OldestAudit", "DigestBefore", "AuditRange", "PutDigest", "Digests"}, Digest: digestSign},

	// The scheduled audit indexer (dynamo.Store.IndexAudit): reads the
	// watermark and its pass's claim, Queries the window from the entry
	// shards, claims the pass, writes its filter segments, then moves the
	// watermark and applies the window's reads to the secrets' accessCount
	// in one transaction. It writes no audit entry: no MAC key.
	indexFunction: {MemoryMB: 256, TimeoutSeconds: 70, Why: "256 MB / 70 s: a pass holds up to 5,000 entries (≤ 1 KB each) and their segments in memory; the run loops a pass a second until 5 s before its deadline, and the schedule is every minute, with one runner at a time",
		Store: []string{"IndexAudit"}},

	// admin-bootstrap looks for an active admin key in the keys listing
	// (the GSI Query, bounded), then creates one with its audit entry.
	bootstrapFunction: {MemoryMB: 128, TimeoutSeconds: 30, Why: "128 MB / 30 s: a few keys-listing pages and one write; invoked by hand, never on a request path",
		Store: []string{"ListKeys", "BootstrapKey", "AppendAudit"}},
	"keys-create": {MemoryMB: 128, TimeoutSeconds: 10, Why: whyLight, Store: with([]string{"CreateKey", "AppendAudit"}, idempotent, liveKey)},
	"keys-list": {MemoryMB: 256, TimeoutSeconds: 10, Why: whyList,
		Store: with([]string{"ListKeys", "AppendAudit"}, liveKey), Cursor: true},
	"keys-delete": {MemoryMB: 128, TimeoutSeconds: 10, Why: whyLight, Store: with([]string{"GetKey", "UpdateKey", "AppendAudit"}, liveKey)},
	// keys-rotate reads the old key, then creates the new one and cuts
	// the old key's life short in one write with the audit entry.
	"keys-rotate": {MemoryMB: 128, TimeoutSeconds: 10, Why: whyLight,
		Store: with([]string{"GetKey", "RotateKey", "AppendAudit"}, idempotent, liveKey)},

	"keys-update": {MemoryMB: 128, TimeoutSeconds: 10, Why: whyLight, Store: with([]string{"GetKey", "UpdateKey", "AppendAudit"}, liveKey)},

	// whoami answers from the authorizer's identity, checked against the
	// stored key (liveKey), and audits the question.
	"whoami": {MemoryMB: 128, TimeoutSeconds: 10, Why: whyLight, Store: with([]string{"AppendAudit"}, liveKey)},

	// The Slack interaction webhook: Slack retries after 3 s, so it must
	// answer within that. It verifies the signature and remembers it
	// (Remember: one conditional PutItem, shared by every container), maps
	// the Slack user (KeysBySlackUser: a gsi1 Query and consistent GetItem),
	// decides through the gate, then calls chat.update before answering
	// (a Lambda is frozen once it has answered).
	"slack-interactions": {MemoryMB: 256, TimeoutSeconds: 5, Why: "256 MB: must acknowledge Slack within 3 s including a cold start and one chat.update; 5 s hard stop",
		// A decision made in Slack ends the workflow's wait like one made
		// through the API (SendTaskSuccess).
		Store: []string{"Remember", "KeysBySlackUser", "GetApproval", "UpdateApproval", "AppendAudit"}, Slack: true,
		Workflow: []string{"SendTaskSuccess"}},

	// The remote MCP endpoint runs the whole API in-process as the caller:
	// it re-authenticates the credential (KeyByHash, ApprovalByToken) and
	// its tools list resources and secrets, read and write secrets (both
	// data-key operations), request and read approvals, and query the
	// audit log. No tool decides or revokes, so no UpdateApproval. Its
	// approval requests draw on the requester's rate bucket (TakeToken)
	// like approvals-request's.
	"mcp": {MemoryMB: 256, TimeoutSeconds: 25,
		Why: "256 MB: every tool call runs the API in-process (KMS, BatchGet, TransactWrite) plus MCP JSON; 25 s: a tool may wait up to 20 s for a decision (remotemcp.MaxWait), under API Gateway's 30 s limit",
		Store: with([]string{"KeyByHash", "ApprovalByToken", "GetKey", "ListPolicies", "ListSecrets", "LoadAccess", "RecordRead", "SpendUse", "PutSecret",
			"TakeToken", "CreateApproval", "GetApproval", "ListApprovals", "QueryAudit", "AppendAudit"}, liveKey),
		Sealer: sealBoth, Cursor: true, Workflow: []string{"StartExecution"}},

	// The console's pages (one function per page route; consolefn), as
	// the signed-in person, through the same gate methods as the API's
	// functions above. No API key reaches them, so no GetKey: the identity
	// is the sealed session cookie, for the subject the gateway's JWT
	// authorizer verified when people sign in (edge.go).
	"console-signin": {MemoryMB: 128, TimeoutSeconds: 10, Why: "128 MB: renders the sign-in page and runs the OIDC code flow (one token exchange); 10 s covers a slow issuer",
		Store: []string{"AppendAudit"}, Console: true, SignIn: true}, // the audited refusal of an unclean path, as in every function
	"console-inbox": {MemoryMB: 256, TimeoutSeconds: 10, Why: whyList,
		Store: []string{"ListApprovals", "AppendAudit"}, Console: true},
	"console-approval": {MemoryMB: 128, TimeoutSeconds: 10, Why: whyLight,
		Store: []string{"GetApproval", "AppendAudit"}, Console: true},
	"console-decide": {MemoryMB: 128, TimeoutSeconds: 10, Why: whyLight,
		Store: []string{"GetApproval", "UpdateApproval", "AppendAudit"}, Workflow: []string{"SendTaskSuccess"},
		Slack: true, Console: true}, // rewrites the approval's Slack message with the outcome
	"console-revoke": {MemoryMB: 128, TimeoutSeconds: 10, Why: whyLight,
		Store: []string{"GetApproval", "UpdateApproval", "AppendAudit"}, Workflow: []string{"StopExecution"},
		Slack: true, Console: true},
	// The owner's cancel of their agent's request, as approvals-cancel.
	"console-cancel": {MemoryMB: 128, TimeoutSeconds: 10, Why: whyLight,
		Store: []string{"GetApproval", "UpdateApproval", "AppendAudit"}, Workflow: []string{"SendTaskSuccess", "StopExecution"},
		Slack: true, Console: true},
	// The audit page is audit-list's query and audit-verify's check of the
	// last 24 hours, with the same grants.
	"console-audit": {MemoryMB: 512, TimeoutSeconds: 29, Why: "512 MB / 29 s: a page of the log and the verification of the last 24 hours (as audit-verify); under API Gateway's 30 s limit",
		Store: []string{"QueryAudit", "AuditRange", "DigestBefore", "Digests", "AppendAudit"}, Digest: digestVerify, Cursor: true, Console: true},
	"console-keys": {MemoryMB: 256, TimeoutSeconds: 10, Why: whyList,
		Store: []string{"ListKeys", "AppendAudit"}, Console: true},
	"console-policies": {MemoryMB: 128, TimeoutSeconds: 10, Why: whyLight,
		Store: []string{"ListPolicies", "AppendAudit"}, Console: true},
	// Registration: the ceremony's challenge is kept, taken once, and the
	// verified passkey stored with its audit entry (gate.RegisterPasskey).
	"console-passkeys": {MemoryMB: 128, TimeoutSeconds: 10, Why: whyLight,
		Store: []string{"ListPasskeys", "PutPasskeyCeremony", "TakePasskeyCeremony", "CreatePasskey", "AppendAudit"}, Console: true},
	// Step-up: the assertion's ceremony, and the credential's sign count.
	"console-stepup": {MemoryMB: 128, TimeoutSeconds: 10, Why: whyLight,
		Store: []string{"ListPasskeys", "PutPasskeyCeremony", "TakePasskeyCeremony", "UsePasskey", "AppendAudit"}, Console: true},
	"console-static": {MemoryMB: 128, TimeoutSeconds: 3, Why: "128 MB / 3 s: returns the embedded stylesheet and script"},

	// The workflow tasks read and conditionally update one approval (the
	// update carries its audit entry). Notify stores the task token and,
	// when the decision beat it to the table, sends it itself.
	notifyFunction: {MemoryMB: 128, TimeoutSeconds: 10, Why: "128 MB: one conditional DynamoDB write and a notification; 10 s covers SDK retries and Step Functions retries the task",
		Store: []string{"GetApproval", "UpdateApproval"}, Workflow: []string{"SendTaskSuccess"}, Slack: true},
	expireFunction: {MemoryMB: 128, TimeoutSeconds: 10, Why: "128 MB: one conditional, audited DynamoDB write; 10 s covers SDK retries and Step Functions retries the task",
		Store: []string{"GetApproval", "UpdateApproval"}, Slack: true},
	revokeFunction: {MemoryMB: 128, TimeoutSeconds: 10, Why: "128 MB: one conditional, audited DynamoDB write; 10 s covers SDK retries and Step Functions retries the task",
		Store: []string{"GetApproval", "UpdateApproval"}, Slack: true},
	// The reconciler lists live approvals (a Query on the sparse live
	// index, never a Scan), asks Step Functions for each one's execution
	// and starts a missing one, or expires a due approval through the
	// Expire/Revoke tasks' path (the same conditional, audited write).
	reconcileFunction: {MemoryMB: 128, TimeoutSeconds: 120, Why: "128 MB / 120 s: one Query, then one DescribeExecution per live approval (hundreds at most) and rarely a start or an expiry; the schedule is every 5 minutes, so a run ends before the next starts",
		Store: []string{"ListLiveApprovals", "GetApproval", "UpdateApproval"}, Workflow: []string{"DescribeExecution", "StartExecution"}, Slack: true},
}
