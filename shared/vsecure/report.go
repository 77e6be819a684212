package vsecure

import "time"

// The outcome of checking the audit log against its signed digests
// (package digest verifies; the API and the CLI show it).

// Finding is one discrepancy.
type Finding struct {
	Kind string `json:"kind"`
	// Entry is the entry's id for entry findings.
	Entry string `json:"entry,omitempty"`
	// Window is the start of the digest's window.
	Window time.Time `json:"window"`
	Detail string    `json:"detail"`
}

// Report is the outcome of Verify.
type Report struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Digests and Entries checked.
	Digests int `json:"digests"`
	Entries int `json:"entries"`
	// SealedTo is the end of the last digest; Unsealed counts the entries
	// after it (not verifiable offline, MAC-checked online).
	SealedTo time.Time `json:"sealedTo"`
	Unsealed int       `json:"unsealed"`
	// Archived counts sealed entries past the store's retention, gone
	// from the store, that no archive was at hand to check: expired by
	// TTL, not findings (verify with the archive to check them).
	Archived int       `json:"archived,omitempty"`
	Findings []Finding `json:"findings"`
	// Head is the hash of the newest digest checked, to compare with a
	// copy kept elsewhere; KeyID the signing key trusted.
	Head  string `json:"head,omitempty"`
	KeyID string `json:"keyId,omitempty"`
	// Elapsed is how long verification took.
	Elapsed time.Duration `json:"-"`
}

// OK reports whether nothing was found.
func (r Report) OK() bool { return len(r.Findings) == 0 }
