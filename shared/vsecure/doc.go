// Package vsecure is the domain of the secrets gate: resource URIs and
// patterns, policies, the approval state machine, audit entries, API keys,
// and the interfaces (Store, Sealer) that adapters implement.
//
// It performs no I/O and knows nothing of HTTP, AWS or Slack, so every rule
// here can be tested with plain values and an injected clock. Adapters live
// in sibling packages and depend on this one, never the other way round.
package vsecure
