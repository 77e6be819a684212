package catalog

import "github.com/vsecure/vsecure/shared/vsecure"

// Operation maps one operation's names across the layers it passes
// through: the function that serves it, the audit operations its entries
// carry, the gate methods its handler calls, the client methods and the
// CLI commands that call it. The layers name things for their readers
// (a CLI user revokes a key, the HTTP API deletes it), so rather than one
// forced name this table says which names are the same operation. An
// empty column is a layer the operation does not pass through.
type Operation struct {
	Function string
	Audit    []string
	Gate     []string // methods of *gate.Gate
	Client   []string // methods of *client.Client
	CLI      []string // vsecure subcommands
}

// Operations has one row per route function and per function an operator
// invokes (admin-bootstrap); catalog_test checks that every named method
// and command exists.
func Operations() []Operation {
	return []Operation{
		{Function: "health", Client: []string{"Health"}},
		{Function: "resources-list", Audit: []string{vsecure.AuditListResources}, Gate: []string{"ListResources"},
			Client: []string{"ListResources"}, CLI: []string{"mcp:resources"}},
		{Function: "resources-configure", Audit: []string{vsecure.AuditConfigure}, Gate: []string{"ConfigurePolicy"},
			Client: []string{"Configure"}, CLI: []string{"mcp:configure"}},
		// A concrete URI reads the secret, a pattern reads its policy.
		{Function: "resources-get", Audit: []string{vsecure.AuditRead, vsecure.AuditGetResource}, Gate: []string{"ReadSecret", "GetPattern"},
			Client: []string{"GetSecret", "GetPolicy"}, CLI: []string{"secrets:get"}},
		{Function: "resources-put", Audit: []string{vsecure.AuditWrite}, Gate: []string{"WriteSecret"},
			Client: []string{"PutSecret"}, CLI: []string{"secrets:put"}},
		// A use returns the value for injection, audited with argv[0] and host.
		{Function: "secrets-use", Audit: []string{vsecure.AuditUse}, Gate: []string{"UseSecret"},
			Client: []string{"UseSecret"}},
		{Function: "secrets-list", Audit: []string{vsecure.AuditListSecrets}, Gate: []string{"ListSecrets"},
			Client: []string{"ListSecrets", "AllSecrets"}, CLI: []string{"secrets:list"}},
		{Function: "approvals-request", Audit: []string{vsecure.AuditRequestApproval}, Gate: []string{"RequestApproval"},
			Client: []string{"RequestApproval"}, CLI: []string{"mcp:approve"}},
		{Function: "approvals-list", Audit: []string{vsecure.AuditListApprovals}, Gate: []string{"ListApprovals"},
			Client: []string{"ListApprovals", "AllApprovals"}, CLI: []string{"mcp:approvals"}},
		{Function: "approvals-get", Audit: []string{vsecure.AuditGetApproval}, Gate: []string{"GetApproval"},
			Client: []string{"GetApproval"}, CLI: []string{"mcp:approval"}},
		{Function: "approvals-respond", Audit: []string{vsecure.AuditApprove, vsecure.AuditDeny, vsecure.AuditRespond}, Gate: []string{"Decide"},
			Client: []string{"Respond"}, CLI: []string{"mcp:respond"}},
		{Function: "approvals-revoke", Audit: []string{vsecure.AuditRevoke}, Gate: []string{"Revoke"},
			Client: []string{"Revoke"}, CLI: []string{"mcp:revoke"}},
		{Function: "approvals-cancel", Audit: []string{vsecure.AuditCancel}, Gate: []string{"Cancel"},
			Client: []string{"CancelApproval"}, CLI: []string{"mcp:cancel"}},
		{Function: "audit-list", Audit: []string{vsecure.AuditQuery}, Gate: []string{"QueryAudit"},
			Client: []string{"Audit", "AllAudit"}, CLI: []string{"mcp:audit"}},
		{Function: "audit-verify", Audit: []string{vsecure.AuditVerify}, Gate: []string{"VerifyAudit"},
			Client: []string{"VerifyAudit"}, CLI: []string{"audit:verify"}},
		{Function: "audit-export", Audit: []string{vsecure.AuditExport}, Gate: []string{"ExportAudit"},
			Client: []string{"ExportAuditPage", "ExportAudit"}, CLI: []string{"audit:export"}},
		{Function: "keys-create", Audit: []string{vsecure.AuditKeyCreate}, Gate: []string{"CreateKey"},
			Client: []string{"CreateKey"}, CLI: []string{"keys:create"}},
		{Function: "keys-list", Audit: []string{vsecure.AuditKeyList}, Gate: []string{"ListKeys"},
			Client: []string{"ListKeys", "AllKeys"}, CLI: []string{"keys:list"}},
		{Function: "keys-delete", Audit: []string{vsecure.AuditKeyRevoke}, Gate: []string{"RevokeKey"},
			Client: []string{"DeleteKey"}, CLI: []string{"keys:revoke"}},
		{Function: "keys-rotate", Audit: []string{vsecure.AuditKeyRotate}, Gate: []string{"RotateKey"},
			Client: []string{"RotateKey"}, CLI: []string{"keys:rotate"}},
		{Function: "keys-update", Audit: []string{vsecure.AuditKeyUpdate}, Gate: []string{"UpdateKey"},
			Client: []string{"UpdateKey", "SetKeySlackUser"}, CLI: []string{"keys:slack"}},
		{Function: "whoami", Audit: []string{vsecure.AuditWhoami}, Gate: []string{"Whoami"},
			Client: []string{"Whoami"}, CLI: []string{"whoami"}},
		// Slack's buttons decide as the mapped approver; a refused press is
		// audited as the interaction.
		{Function: "slack-interactions", Audit: []string{vsecure.AuditSlack, vsecure.AuditApprove, vsecure.AuditDeny},
			Gate: []string{"SlackPrincipal", "Decide", "RecordSlack"}},
		// Remote MCP's tools call the routes above in-process, as the
		// caller: their entries are those routes' operations.
		{Function: "mcp", Gate: []string{"Authenticate"}},
		// The console's pages call the same gate methods as the routes
		// above, as the session's person; sign-in, the stylesheet and the
		// step-up ceremonies audit nothing of their own.
		{Function: "console-signin"},
		{Function: "console-inbox", Audit: []string{vsecure.AuditListApprovals}, Gate: []string{"ListApprovals"}},
		{Function: "console-approval", Audit: []string{vsecure.AuditGetApproval}, Gate: []string{"GetApproval"}},
		{Function: "console-decide", Audit: []string{vsecure.AuditApprove, vsecure.AuditDeny}, Gate: []string{"Decide"}},
		{Function: "console-revoke", Audit: []string{vsecure.AuditRevoke}, Gate: []string{"Revoke"}},
		{Function: "console-cancel", Audit: []string{vsecure.AuditCancel}, Gate: []string{"Cancel"}},
		{Function: "console-audit", Audit: []string{vsecure.AuditQuery, vsecure.AuditVerify}, Gate: []string{"QueryAudit", "VerifyAudit"}},
		{Function: "console-keys", Audit: []string{vsecure.AuditKeyList}, Gate: []string{"ListKeys"}},
		{Function: "console-policies", Audit: []string{vsecure.AuditListResources}, Gate: []string{"ListResources"}},
		{Function: "console-passkeys", Audit: []string{vsecure.AuditPasskeyRegister}, Gate: []string{"RegisterPasskey"}},
		{Function: "console-stepup"},
		{Function: "console-static"},
		{Function: Bootstrap, Audit: []string{vsecure.AuditKeyBootstrap}, Gate: []string{"Bootstrap"}, CLI: []string{"admin:bootstrap"}},
	}
}
