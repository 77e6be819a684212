package functions_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/vsecure/vsecure/internal/oidctest"
	"github.com/vsecure/vsecure/shared/catalog"
)

// TestRIEAuthorizerAcceptsPeople runs the built authorizer and whoami with
// the VSECURE_OIDC_* variables the stack gives them (infra/oidc.go; the
// groups claim is mockoidc's "groups" where Cognito's is "cognito:groups"),
// pointed at a real OpenID provider on loopback: a person's ID token from
// it is accepted and names them, one from another issuer is refused, and
// whoami behind the authorizer verifies the token again.
func TestRIEAuthorizerAcceptsPeople(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	iss := oidctest.Start(t, false)
	w := newWorldOf(t, ctx, map[string]string{
		"VSECURE_OIDC_ISSUER":          iss.Issuer(),
		"VSECURE_OIDC_CLIENT_ID":       iss.ClientID,
		"VSECURE_OIDC_PRINCIPAL_CLAIM": "email",
		"VSECURE_OIDC_GROUPS_CLAIM":    "groups",
		"VSECURE_OIDC_ROLE_MAP":        "vsecure-admins=admin,vsecure-approvers=approver,vsecure-auditors=auditor",
	}, catalog.Authorizer, "whoami")

	n := 0
	authorize := func(t *testing.T, token string) events.APIGatewayV2CustomAuthorizerSimpleResponse {
		t.Helper()
		var ev events.APIGatewayV2CustomAuthorizerV2Request
		w.readEvent(t, "authorizer-valid", &ev)
		ev.Headers = map[string]string{"authorization": "Bearer " + token}
		ev.IdentitySource = []string{"Bearer " + token}
		n++
		ev.RequestContext.RequestID = fmt.Sprintf("oidc-%d", n)
		var res events.APIGatewayV2CustomAuthorizerSimpleResponse
		w.invoke(t, ctx, catalog.Authorizer, ev, &res)
		return res
	}

	jane := iss.IDToken(t, oidctest.User("jane@example.com", true, oidctest.Approvers))
	res := authorize(t, jane)
	if !res.IsAuthorized || res.Context["principal"] != "jane@example.com" || res.Context["roles"] != "approver" || res.Context["human"] != "true" {
		t.Fatalf("jane's ID token: authorized %v, context %v\n%s", res.IsAuthorized, res.Context, w.runtime(t, ctx, catalog.Authorizer).Output())
	}

	t.Run("whoami_verifies_again", func(t *testing.T) {
		var ev events.APIGatewayV2HTTPRequest
		w.readEvent(t, "whoami", &ev)
		ev.Headers = map[string]string{"authorization": "Bearer " + jane}
		ev.RequestContext.RequestID = "oidc-whoami"
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{Lambda: res.Context}
		var resp events.APIGatewayV2HTTPResponse
		w.invoke(t, ctx, "whoami", ev, &resp)
		var body map[string]any
		if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
			t.Fatalf("whoami body %q", resp.Body)
		}
		if resp.StatusCode != 200 || body["principal"] != "jane@example.com" || body["credential"] != "oidc" {
			t.Errorf("whoami as jane: %d %v", resp.StatusCode, body)
		}
	})

	t.Run("another_issuer_is_refused", func(t *testing.T) {
		other := oidctest.Start(t, true)
		if res := authorize(t, other.IDToken(t, oidctest.User("jane@example.com", true, oidctest.Approvers))); res.IsAuthorized {
			t.Errorf("a token of another issuer was authorized: %v", res.Context)
		}
	})

	t.Run("no_mapped_group_is_refused", func(t *testing.T) {
		if res := authorize(t, iss.IDToken(t, oidctest.User("mallory@example.com", true, "everyone"))); res.IsAuthorized {
			t.Errorf("a person without a vsecure group was authorized: %v", res.Context)
		}
	})
}
