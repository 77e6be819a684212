// Package iampolicy is a small IAM policy evaluator for tests: it decides
// whether a request (action, resource, condition context) is allowed by a
// principal's identity policies and, for KMS, the key's resource policy.
// No emulator vsecure runs against enforces IAM, so the functions' suite
// records every AWS call and checks it here against the policies of the
// synthesized CloudFormation template (template.go).
//
// It implements the part of IAM's evaluation logic the stack uses:
// wildcards in actions and resources, explicit Deny over Allow, NotAction,
// and the condition operators String(Not)Equals/Like, Arn(Not)Equals/Like,
// Null and Bool, with the ForAllValues:/ForAnyValue: set qualifiers.
// Anything else in a policy is an error, never silently ignored.
package iampolicy

import (
	"fmt"
	"slices"
	"strings"
)

// Statement is one policy statement after its CloudFormation intrinsics
// were resolved.
type Statement struct {
	Sid        string
	Effect     string   // Allow or Deny
	Principals []string // resource policies: AWS principal ARNs or "*"; service principals as "service:<name>"
	Actions    []string
	NotActions []string
	Resources  []string
	Conditions []Condition
	// Source names where the statement comes from (policy logical id).
	Source string
}

// Condition is one operator/key pair of a statement's Condition block.
type Condition struct {
	Op     string // e.g. StringLike, ForAllValues:StringEquals
	Key    string // e.g. dynamodb:LeadingKeys
	Values []string
}

func (c Condition) String() string { return fmt.Sprintf("%s %s %q", c.Op, c.Key, c.Values) }

// Request is one authorization IAM makes for an API call. A call may need
// several: a TransactWriteItems is authorized item by item.
type Request struct {
	Principal string // the caller's role ARN (aws:PrincipalArn)
	Action    string // service:Action
	Resource  string // ARN
	// Context holds the request's condition keys (lower-case names are
	// matched case-insensitively), e.g. dynamodb:LeadingKeys.
	Context map[string][]string
}

func (r Request) String() string {
	var ctx []string
	for k, v := range r.Context {
		ctx = append(ctx, fmt.Sprintf("%s=%q", k, v))
	}
	slices.Sort(ctx)
	return fmt.Sprintf("%s on %s [%s]", r.Action, r.Resource, strings.Join(ctx, " "))
}

// Decision is the outcome of an evaluation.
type Decision int

const (
	ImplicitDeny Decision = iota // no statement allows it
	Allow
	ExplicitDeny
)

func (d Decision) String() string {
	return [...]string{"implicit deny", "allow", "explicit deny"}[d]
}

// Result is a decision and the statement that made it (nil for an
// implicit deny).
type Result struct {
	Decision  Decision
	Statement *Statement
}

// Evaluate decides r against one set of statements (identity policies,
// or a resource policy whose Principals are matched against r.Principal).
func Evaluate(stmts []Statement, r Request) (Result, error) {
	var allow *Statement
	for i := range stmts {
		s := &stmts[i]
		ok, err := s.Matches(r)
		if err != nil {
			return Result{}, err
		}
		if !ok {
			continue
		}
		if s.Effect == "Deny" {
			return Result{ExplicitDeny, s}, nil
		}
		if allow == nil {
			allow = s
		}
	}
	if allow != nil {
		return Result{Allow, allow}, nil
	}
	return Result{ImplicitDeny, nil}, nil
}

// Matches reports whether s applies to r: principal (if s has any),
// action, resource and every condition.
func (s *Statement) Matches(r Request) (bool, error) {
	if s.Effect != "Allow" && s.Effect != "Deny" {
		return false, fmt.Errorf("iampolicy: statement %q has effect %q", s.Sid, s.Effect)
	}
	if len(s.Principals) > 0 && !slices.ContainsFunc(s.Principals, func(p string) bool { return p == "*" || p == r.Principal || p == accountOf(r.Principal) }) {
		return false, nil
	}
	if len(s.NotActions) > 0 {
		if anyMatch(s.NotActions, r.Action, true) {
			return false, nil
		}
	} else if !anyMatch(s.Actions, r.Action, true) {
		return false, nil
	}
	if !anyMatch(s.Resources, r.Resource, false) {
		return false, nil
	}
	for _, c := range s.Conditions {
		ok, err := c.holds(r)
		if err != nil {
			return false, fmt.Errorf("iampolicy: statement %q: %w", s.Sid, err)
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}

func anyMatch(patterns []string, s string, fold bool) bool {
	for _, p := range patterns {
		if Like(p, s, fold) {
			return true
		}
	}
	return false
}

// Like is IAM's wildcard match: * is any run of characters (including
// '/' and ':'), ? any one character; fold makes it case-insensitive (IAM
// action names are).
func Like(pattern, s string, fold bool) bool {
	if fold {
		pattern, s = strings.ToLower(pattern), strings.ToLower(s)
	}
	return like([]rune(pattern), []rune(s))
}

func like(p, s []rune) bool {
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 0 && p[0] == '*' {
				p = p[1:]
			}
			if len(p) == 0 {
				return true
			}
			for i := 0; i <= len(s); i++ {
				if like(p, s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if len(s) == 0 {
				return false
			}
		default:
			if len(s) == 0 || s[0] != p[0] {
				return false
			}
		}
		p, s = p[1:], s[1:]
	}
	return len(s) == 0
}

func (r Request) values(key string) ([]string, bool) {
	for k, v := range r.Context {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	if strings.EqualFold(key, "aws:PrincipalArn") && r.Principal != "" {
		return []string{r.Principal}, true
	}
	return nil, false
}

// holds evaluates one condition against r.
func (c Condition) holds(r Request) (bool, error) {
	op, set := c.Op, ""
	if q, rest, ok := strings.Cut(op, ":"); ok {
		set, op = q, rest
	}
	op = strings.TrimSuffix(op, "IfExists")
	ifExists := op != c.Op && strings.HasSuffix(c.Op, "IfExists")
	vals, present := r.values(c.Key)
	if op == "Null" {
		if len(c.Values) != 1 {
			return false, fmt.Errorf("Null on %s wants one value", c.Key)
		}
		return (c.Values[0] == "true") == !present, nil
	}
	negated := strings.Contains(op, "Not")
	var match func(want, got string) bool
	switch strings.Replace(op, "Not", "", 1) {
	case "StringEquals", "ArnEquals":
		match = func(w, g string) bool { return w == g }
	case "StringEqualsIgnoreCase":
		match = strings.EqualFold
	case "StringLike", "ArnLike":
		match = func(w, g string) bool { return Like(w, g, false) }
	case "Bool":
		match = func(w, g string) bool { return strings.EqualFold(w, g) }
	default:
		return false, fmt.Errorf("condition operator %q is not implemented", c.Op)
	}
	// one is the operator's answer for a single context value.
	one := func(v string) bool {
		hit := slices.ContainsFunc(c.Values, func(w string) bool { return match(w, v) })
		return hit != negated
	}
	switch set {
	case "ForAllValues":
		// Every value must pass; no values (or no key) passes.
		for _, v := range vals {
			if !one(v) {
				return false, nil
			}
		}
		return true, nil
	case "ForAnyValue":
		return slices.ContainsFunc(vals, one), nil
	case "":
		if !present {
			return negated || ifExists, nil
		}
		if negated {
			// A negated operator holds when no value matches any of its values.
			for _, v := range vals {
				if !one(v) {
					return false, nil
				}
			}
			return true, nil
		}
		return slices.ContainsFunc(vals, one), nil
	}
	return false, fmt.Errorf("condition set qualifier %q is not implemented", set)
}

// accountOf is the account root ARN of a principal ARN
// (arn:aws:iam::123456789012:role/x → arn:aws:iam::123456789012:root).
func accountOf(principal string) string {
	parts := strings.SplitN(principal, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return strings.Join(parts[:5], ":") + ":root"
}

// EvaluateWithKeyPolicy decides a KMS request as KMS does: an explicit
// Deny in the key policy or an identity policy refuses; a key policy
// statement naming the principal itself allows; one naming the account
// (…:root) delegates to IAM, so the identity policies must allow too.
func EvaluateWithKeyPolicy(identity, key []Statement, r Request) (Result, error) {
	kr, err := Evaluate(key, r)
	if err != nil || kr.Decision == ExplicitDeny {
		return kr, err
	}
	ir, err := Evaluate(identity, r)
	if err != nil || ir.Decision == ExplicitDeny {
		return ir, err
	}
	if kr.Decision != Allow {
		return Result{ImplicitDeny, nil}, nil
	}
	// Prefer a direct grant of the key policy; else delegation needs IAM.
	for i := range key {
		s := &key[i]
		if s.Effect != "Allow" || !slices.ContainsFunc(s.Principals, func(p string) bool { return p == "*" || p == r.Principal }) {
			continue
		}
		if ok, err := s.Matches(r); err != nil {
			return Result{}, err
		} else if ok {
			return Result{Allow, s}, nil
		}
	}
	if ir.Decision == Allow {
		return ir, nil
	}
	return Result{ImplicitDeny, nil}, nil
}
