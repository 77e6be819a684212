package lambdafn

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/awslabs/aws-lambda-go-api-proxy/core"

	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/httpapi"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// Authorizer context keys. The authorizer writes them (simple response
// "context"); API Gateway hands them to the endpoint Lambda under
// requestContext.authorizer.lambda. Encoding and decoding live side by side
// so the two halves cannot drift apart.
const (
	ctxPrincipal  = "principal"
	ctxRoles      = "roles"
	ctxKeyID      = "keyId"
	ctxApprovalID = "approvalId"
	ctxResource   = "resource"
	ctxOperation  = "operation"
	ctxExpiresAt  = "expiresAt"
	ctxHuman      = "human"
	ctxOnBehalfOf = "onBehalfOf"
)

// EncodePrincipal renders p as an authorizer context: string values only
// (API Gateway accepts strings, numbers and booleans). It never carries the
// credential itself.
func EncodePrincipal(p vsecure.Principal) map[string]any {
	roles := make([]string, len(p.Roles))
	for i, r := range p.Roles {
		roles[i] = string(r)
	}
	m := map[string]any{ctxPrincipal: p.ID, ctxRoles: strings.Join(roles, ",")}
	if p.KeyID != "" {
		m[ctxKeyID] = p.KeyID
	}
	if p.Human {
		m[ctxHuman] = "true"
	}
	if p.OnBehalfOf != "" {
		m[ctxOnBehalfOf] = p.OnBehalfOf
	}
	if s := p.Scope; s != nil {
		m[ctxApprovalID] = s.ApprovalID
		m[ctxResource] = s.Resource
		m[ctxOperation] = string(s.Operation)
		m[ctxExpiresAt] = s.ExpiresAt.UTC().Format(time.RFC3339)
	}
	return m
}

// DecodePrincipal reads a principal back from an authorizer context. Any
// malformed field refuses the whole context: a half-read identity is no
// identity.
func DecodePrincipal(m map[string]any) (vsecure.Principal, error) {
	str := func(k string) (string, error) {
		v, ok := m[k]
		if !ok || v == nil {
			return "", nil
		}
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("authorizer context field %q is %T, not a string", k, v)
		}
		return s, nil
	}
	var p vsecure.Principal
	var err error
	if p.ID, err = str(ctxPrincipal); err != nil {
		return vsecure.Principal{}, err
	}
	if p.ID == "" {
		return vsecure.Principal{}, fmt.Errorf("authorizer context has no %q", ctxPrincipal)
	}
	roles, err := str(ctxRoles)
	if err != nil {
		return vsecure.Principal{}, err
	}
	for r := range strings.SplitSeq(roles, ",") {
		if r == "" {
			continue
		}
		role, err := vsecure.ParseRole(r)
		if err != nil {
			return vsecure.Principal{}, fmt.Errorf("authorizer context: %w", err)
		}
		p.Roles = append(p.Roles, role)
	}
	if p.KeyID, err = str(ctxKeyID); err != nil {
		return vsecure.Principal{}, err
	}
	if p.OnBehalfOf, err = str(ctxOnBehalfOf); err != nil {
		return vsecure.Principal{}, err
	}
	if p.OnBehalfOf != "" {
		if err := vsecure.ValidatePrincipal(p.OnBehalfOf); err != nil {
			return vsecure.Principal{}, fmt.Errorf("authorizer context: %w", err)
		}
	}
	human, err := str(ctxHuman)
	if err != nil {
		return vsecure.Principal{}, err
	}
	if p.Human = human == "true"; p.Human && p.KeyID != "" {
		return vsecure.Principal{}, fmt.Errorf("authorizer context: a human principal holds no key")
	}
	approval, err := str(ctxApprovalID)
	if err != nil {
		return vsecure.Principal{}, err
	}
	if approval == "" {
		return p, nil
	}
	// An access token: the scope must be complete.
	s := &vsecure.Scope{ApprovalID: approval}
	if s.Resource, err = str(ctxResource); err != nil || s.Resource == "" {
		return vsecure.Principal{}, fmt.Errorf("authorizer context scope has no valid %q", ctxResource)
	}
	op, err := str(ctxOperation)
	if err != nil {
		return vsecure.Principal{}, err
	}
	if s.Operation, err = vsecure.ParseOperation(op); err != nil {
		return vsecure.Principal{}, fmt.Errorf("authorizer context: %w", err)
	}
	exp, err := str(ctxExpiresAt)
	if err != nil {
		return vsecure.Principal{}, err
	}
	if s.ExpiresAt, err = time.Parse(time.RFC3339, exp); err != nil {
		return vsecure.Principal{}, fmt.Errorf("authorizer context %q: %w", ctxExpiresAt, err)
	}
	p.Roles = nil // scoped principals hold no roles
	p.Scope = s
	return p, nil
}

// AuthorizerContext is the endpoint Lambdas' httpapi.Authenticator: the
// authorizer Lambda already resolved the credential with gate.Authenticate
// (the same code the local middleware runs), so the endpoint reads the
// identity it left in the request context. A request without that context
// (a misconfigured route, a direct invoke) is refused and audited.
//
// API Gateway may hand over an answer cached for up to authCacheSeconds,
// from before the key was revoked or its roles changed. Unless the
// function judges the stored key itself (JudgesKey), the key is re-read
// and the caller acts as it is stored now: revoked or expired is 401,
// roles are the stored ones (docs/SECURITY.md, "What the authorizer cache can delay").
type AuthorizerContext struct {
	Gate *gate.Gate
	// JudgesKey is httpapi.Route.JudgesKey of every route of the function served: its handlers
	// judge the stored key within their own read, so it is not re-read here.
	JudgesKey bool
}

// Authenticate implements httpapi.Authenticator.
func (a AuthorizerContext) Authenticate(r *http.Request, c gate.Call) (vsecure.Principal, error) {
	ctx := r.Context()
	refuse := func(err error) (vsecure.Principal, error) {
		return vsecure.Principal{}, a.Gate.RecordRefusal(ctx, c, vsecure.AuditAuthenticate, "", err)
	}
	rc, ok := core.GetAPIGatewayV2ContextFromContext(ctx)
	if !ok || rc.Authorizer == nil || len(rc.Authorizer.Lambda) == 0 {
		return refuse(vsecure.Errorf(vsecure.EUnauthenticated, "the request carries no authorizer identity"))
	}
	p, err := DecodePrincipal(rc.Authorizer.Lambda)
	if err != nil {
		return refuse(vsecure.Errorf(vsecure.EUnauthenticated, "the authorizer identity is malformed"))
	}
	if p.Human {
		// A person holds no key to re-read; the token itself is verified
		// again instead (the issuer's keys are cached in the container),
		// so a cached answer cannot outlive the token's expiry.
		live, err := a.Gate.Authenticate(ctx, httpapi.Credential(r.Header), c)
		if err != nil {
			return vsecure.Principal{}, err
		}
		if !live.Human || live.ID != p.ID {
			return refuse(vsecure.Errorf(vsecure.EUnauthenticated, "the bearer token does not match the authorizer identity"))
		}
		return live, nil
	}
	if a.JudgesKey {
		return p, nil
	}
	live, err := a.Gate.LivePrincipal(ctx, p)
	if err != nil {
		return refuse(err)
	}
	return live, nil
}
