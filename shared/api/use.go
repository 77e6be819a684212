package api

// SecretUse is the body of POST /v1/security/mcp/secrets/use: the caller
// will inject the value into a process (vsecure run, run_with_secrets)
// rather than show it. It needs the use permission (read implies use) and
// is audited as operation use with the command and host; the response is
// a SecretRead.
type SecretUse struct {
	URI string `json:"uri"`
	// Version 0 is the latest.
	Version int `json:"version,omitempty"`
	// Command is the program the value goes into: argv[0] only, never its
	// arguments (they may hold anything).
	Command string `json:"command"`
	// Host is the machine the process runs on (os.Hostname).
	Host string `json:"host"`
}

// UsePath is the route of a secret use.
const UsePath = "/v1/security/mcp/secrets/use"
