package dynamo

import "time"

// WithAuditRetention is a stub for h-layout's option (sets ttl on entries and segments); the lead drops this file at merge.
func WithAuditRetention(d time.Duration) Option { return func(*Store) {} }
