package lambdafn

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/vsecure/vsecure/internal/oidctest"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// BenchmarkAuthorizerJWT is what a person's JWT costs the authorizer over
// an API key (issue 16: at most 1 ms p99 with the JWKS cached): the same
// function judges a bearer API key and a bearer ID token of a started
// issuer whose keys it has fetched once. p50 and p99 are per call.
func BenchmarkAuthorizerJWT(b *testing.B) {
	iss := oidctest.Start(b, false)
	f, st, _ := humanFunction(b, iss)
	st.keys[gate.HashCredential(testKey)] = vsecure.Key{ID: "key_1", Principal: "agent-1", Roles: []vsecure.Role{vsecure.RoleAgent}}
	jane := iss.IDToken(b, oidctest.User("jane@example.com", true, oidctest.Approvers))
	ctx := context.Background()
	for _, c := range []struct{ name, bearer string }{{"api_key", testKey}, {"jwt", jane}} {
		b.Run(c.name, func(b *testing.B) {
			ev := authEvent(map[string]string{"authorization": "Bearer " + c.bearer})
			if resp, err := f.Authorizer().Handle(ctx, ev); err != nil || !resp.IsAuthorized {
				b.Fatalf("not authorized: %v", err) // also fetches the JWKS once
			}
			took := make([]time.Duration, 0, b.N)
			for b.Loop() {
				t0 := time.Now()
				resp, err := f.Authorizer().Handle(ctx, ev)
				took = append(took, time.Since(t0))
				if err != nil || !resp.IsAuthorized {
					b.Fatalf("not authorized: %v", err)
				}
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
		})
	}
}
