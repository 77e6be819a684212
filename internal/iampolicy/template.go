package iampolicy

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
)

// Template is a synthesized CloudFormation template whose intrinsics
// (Ref, Fn::GetAtt, Fn::Join, Fn::Select, Fn::Split, pseudo parameters)
// resolve to ARNs of a fixed account and region, and of the physical
// names a test binds to logical ids (its emulated tables and keys).
type Template struct {
	Account, Region string
	// Names maps a logical id to its physical name: a table's name, a
	// key's id. Unbound resources are named by their logical id.
	Names     map[string]string
	Resources map[string]Resource
}

// Resource is one resource of the template.
type Resource struct {
	Type       string         `json:"Type"`
	Properties map[string]any `json:"Properties"`
}

// Load reads a template.
func Load(path, account, region string) (*Template, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct{ Resources map[string]Resource }
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("iampolicy: %s: %w", path, err)
	}
	return &Template{Account: account, Region: region, Names: map[string]string{}, Resources: doc.Resources}, nil
}

func (t *Template) name(id string) string {
	if n, ok := t.Names[id]; ok {
		return n
	}
	return id
}

// ref is what {"Ref": id} returns for the resource's type.
func (t *Template) ref(id string) (string, error) {
	switch id {
	case "AWS::Partition":
		return "aws", nil
	case "AWS::Region":
		return t.Region, nil
	case "AWS::AccountId":
		return t.Account, nil
	case "AWS::URLSuffix":
		return "amazonaws.com", nil
	case "AWS::StackName":
		return "vsecure", nil
	}
	r, ok := t.Resources[id]
	if !ok {
		return "", fmt.Errorf("iampolicy: Ref to unknown %s", id)
	}
	switch r.Type {
	case "AWS::SecretsManager::Secret", "AWS::SNS::Topic", "AWS::IAM::ManagedPolicy":
		return t.arn(id, r)
	case "AWS::StepFunctions::StateMachine":
		return t.arn(id, r)
	}
	if r.Type == "AWS::Lambda::Function" {
		if n, ok := r.Properties["FunctionName"].(string); ok {
			return n, nil
		}
	}
	return t.name(id), nil
}

// arn is what {"Fn::GetAtt": [id, "Arn"]} returns.
func (t *Template) arn(id string, r Resource) (string, error) {
	n, ra := t.name(id), t.Region+":"+t.Account
	switch r.Type {
	case "AWS::DynamoDB::Table":
		return "arn:aws:dynamodb:" + ra + ":table/" + n, nil
	case "AWS::KMS::Key":
		return "arn:aws:kms:" + ra + ":key/" + n, nil
	case "AWS::IAM::Role":
		if rn, ok := r.Properties["RoleName"].(string); ok {
			n = rn
		}
		return "arn:aws:iam::" + t.Account + ":role/" + n, nil
	case "AWS::SecretsManager::Secret":
		return "arn:aws:secretsmanager:" + ra + ":secret:" + n, nil
	case "AWS::StepFunctions::StateMachine":
		if sn, ok := r.Properties["StateMachineName"].(string); ok {
			n = sn
		}
		return "arn:aws:states:" + ra + ":stateMachine:" + n, nil
	case "AWS::Logs::LogGroup":
		return "arn:aws:logs:" + ra + ":log-group:" + n + ":*", nil
	case "AWS::S3::Bucket":
		return "arn:aws:s3:::" + n, nil
	case "AWS::SNS::Topic":
		return "arn:aws:sns:" + ra + ":" + n, nil
	case "AWS::Lambda::Function":
		fn, _ := t.ref(id)
		return "arn:aws:lambda:" + ra + ":function:" + fn, nil
	}
	return "arn:aws:unknown:" + ra + ":" + n, nil
}

// Resolve evaluates the intrinsics in v to a string or a list of strings.
func (t *Template) Resolve(v any) (any, error) {
	switch x := v.(type) {
	case string, bool, float64, nil:
		return x, nil
	case []any:
		out := make([]any, 0, len(x))
		for _, e := range x {
			r, err := t.Resolve(e)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
		return out, nil
	case map[string]any:
		if ref, ok := x["Ref"].(string); ok && len(x) == 1 {
			return t.ref(ref)
		}
		if ga, ok := x["Fn::GetAtt"].([]any); ok && len(x) == 1 && len(ga) == 2 {
			id, _ := ga[0].(string)
			r, ok := t.Resources[id]
			if !ok {
				// A resource the template excerpt leaves out (the API's
				// endpoint in an environment): no ARN a policy could match.
				return fmt.Sprintf("unresolved:%s.%v", id, ga[1]), nil
			}
			if ga[1] != "Arn" {
				return t.name(id), nil
			}
			return t.arn(id, r)
		}
		if j, ok := x["Fn::Join"].([]any); ok && len(x) == 1 && len(j) == 2 {
			sep, _ := j[0].(string)
			parts, err := t.Resolve(j[1])
			if err != nil {
				return nil, err
			}
			ss, err := strs(parts)
			if err != nil {
				return nil, err
			}
			return strings.Join(ss, sep), nil
		}
		if sp, ok := x["Fn::Split"].([]any); ok && len(x) == 1 && len(sp) == 2 {
			sep, _ := sp[0].(string)
			s, err := t.Resolve(sp[1])
			if err != nil {
				return nil, err
			}
			str, _ := s.(string)
			var out []any
			for _, p := range strings.Split(str, sep) {
				out = append(out, p)
			}
			return out, nil
		}
		if sel, ok := x["Fn::Select"].([]any); ok && len(x) == 1 && len(sel) == 2 {
			i, _ := sel[0].(float64)
			l, err := t.Resolve(sel[1])
			if err != nil {
				return nil, err
			}
			ls, _ := l.([]any)
			if int(i) >= len(ls) {
				return nil, fmt.Errorf("iampolicy: Fn::Select %d of %d", int(i), len(ls))
			}
			return ls[int(i)], nil
		}
		out := map[string]any{}
		for k, e := range x {
			if strings.HasPrefix(k, "Fn::") {
				return nil, fmt.Errorf("iampolicy: intrinsic %s is not implemented", k)
			}
			r, err := t.Resolve(e)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	}
	return nil, fmt.Errorf("iampolicy: unexpected %T in template", v)
}

func strs(v any) ([]string, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{x}, nil
	case bool:
		return []string{fmt.Sprint(x)}, nil
	case []any:
		var out []string
		for _, e := range x {
			s, err := strs(e)
			if err != nil {
				return nil, err
			}
			out = append(out, s...)
		}
		return out, nil
	}
	return nil, fmt.Errorf("iampolicy: %T is not a string or a list of strings", v)
}

// Statements parses a resolved-or-not policy document.
func (t *Template) Statements(doc any, source string) ([]Statement, error) {
	d, err := t.Resolve(doc)
	if err != nil {
		return nil, err
	}
	m, _ := d.(map[string]any)
	list, ok := m["Statement"].([]any)
	if !ok {
		return nil, fmt.Errorf("iampolicy: %s: policy document without a Statement list", source)
	}
	var out []Statement
	for _, x := range list {
		sm, _ := x.(map[string]any)
		s := Statement{Source: source}
		s.Sid, _ = sm["Sid"].(string)
		s.Effect, _ = sm["Effect"].(string)
		for k, f := range map[string]*[]string{"Action": &s.Actions, "NotAction": &s.NotActions, "Resource": &s.Resources} {
			if *f, err = strs(sm[k]); err != nil {
				return nil, fmt.Errorf("%s %s: %w", source, k, err)
			}
		}
		if _, ok := sm["NotResource"]; ok {
			return nil, fmt.Errorf("iampolicy: %s: NotResource is not implemented", source)
		}
		switch p := sm["Principal"].(type) {
		case nil:
		case string:
			s.Principals = []string{p}
		case map[string]any:
			for kind, v := range p {
				ps, err := strs(v)
				if err != nil {
					return nil, err
				}
				for _, x := range ps {
					if kind != "AWS" {
						x = strings.ToLower(kind) + ":" + x
					}
					s.Principals = append(s.Principals, x)
				}
			}
		}
		cond, _ := sm["Condition"].(map[string]any)
		for op, kv := range cond {
			km, _ := kv.(map[string]any)
			for k, v := range km {
				vs, err := strs(v)
				if err != nil {
					return nil, err
				}
				s.Conditions = append(s.Conditions, Condition{Op: op, Key: k, Values: vs})
			}
		}
		slices.SortFunc(s.Conditions, func(a, b Condition) int { return strings.Compare(a.Op+a.Key, b.Op+b.Key) })
		out = append(out, s)
	}
	return out, nil
}

// Function is one Lambda function of the template: its role and every
// statement of the role's inline and attached customer policies.
type Function struct {
	Name       string // the FunctionName
	Role       string // the role's ARN
	Statements []Statement
	Env        map[string]string // resolved environment
}

// Function finds the function named name (its FunctionName property).
func (t *Template) Function(name string) (*Function, error) {
	for id, r := range t.Resources {
		if r.Type != "AWS::Lambda::Function" || r.Properties["FunctionName"] != name {
			continue
		}
		ga, _ := r.Properties["Role"].(map[string]any)["Fn::GetAtt"].([]any)
		if len(ga) != 2 {
			return nil, fmt.Errorf("iampolicy: function %s (%s) has no role of this template", name, id)
		}
		roleID, _ := ga[0].(string)
		role := t.Resources[roleID]
		roleARN, _ := t.arn(roleID, role)
		f := &Function{Name: name, Role: roleARN, Env: map[string]string{}}
		if ps, ok := role.Properties["Policies"].([]any); ok {
			for _, p := range ps {
				pm, _ := p.(map[string]any)
				st, err := t.Statements(pm["PolicyDocument"], roleID)
				if err != nil {
					return nil, err
				}
				f.Statements = append(f.Statements, st...)
			}
		}
		if mp, ok := role.Properties["ManagedPolicyArns"]; ok && mp != nil {
			return nil, fmt.Errorf("iampolicy: role %s attaches managed policies, which this evaluator cannot see", roleID)
		}
		pids := make([]string, 0)
		for pid, p := range t.Resources {
			if p.Type != "AWS::IAM::Policy" && p.Type != "AWS::IAM::ManagedPolicy" {
				continue
			}
			roles, _ := p.Properties["Roles"].([]any)
			if slices.ContainsFunc(roles, func(x any) bool { m, _ := x.(map[string]any); return m["Ref"] == roleID }) {
				pids = append(pids, pid)
			}
		}
		slices.Sort(pids)
		for _, pid := range pids {
			st, err := t.Statements(t.Resources[pid].Properties["PolicyDocument"], pid)
			if err != nil {
				return nil, err
			}
			f.Statements = append(f.Statements, st...)
		}
		if env, ok := r.Properties["Environment"].(map[string]any); ok {
			vars, _ := env["Variables"].(map[string]any)
			for k, v := range vars {
				rv, err := t.Resolve(v)
				if err != nil {
					return nil, err
				}
				f.Env[k], _ = rv.(string)
			}
		}
		return f, nil
	}
	return nil, fmt.Errorf("iampolicy: no function named %s in the template", name)
}

// KeyPolicy is the key policy of the KMS key whose id is bound (or whose
// logical id is) keyID.
func (t *Template) KeyPolicy(keyID string) ([]Statement, error) {
	for id, r := range t.Resources {
		if r.Type == "AWS::KMS::Key" && (t.name(id) == keyID || id == keyID) {
			return t.Statements(r.Properties["KeyPolicy"], id)
		}
	}
	return nil, fmt.Errorf("iampolicy: no KMS key %s in the template", keyID)
}

// Bind names the resource that env var of function fn references (Ref or
// Fn::GetAtt) with the physical name a test gave it: e.g. VSECURE_TABLE
// → the emulated table's name. It is how a test maps its world onto the
// template without knowing logical ids.
func (t *Template) Bind(fn, env, physical string) error {
	for _, r := range t.Resources {
		if r.Type != "AWS::Lambda::Function" || r.Properties["FunctionName"] != fn {
			continue
		}
		e, _ := r.Properties["Environment"].(map[string]any)
		vars, _ := e["Variables"].(map[string]any)
		v, _ := vars[env].(map[string]any)
		id, _ := v["Ref"].(string)
		if ga, ok := v["Fn::GetAtt"].([]any); ok && len(ga) == 2 {
			id, _ = ga[0].(string)
		}
		if id == "" {
			return fmt.Errorf("iampolicy: %s of %s references no resource", env, fn)
		}
		t.Names[id] = physical
		return nil
	}
	return fmt.Errorf("iampolicy: no function named %s in the template", fn)
}

// TablePolicy is the resource policy of the DynamoDB table that resource
// (a table or index ARN) names; nil if the table has none.
func (t *Template) TablePolicy(resource string) ([]Statement, error) {
	for id, r := range t.Resources {
		if r.Type != "AWS::DynamoDB::Table" {
			continue
		}
		arn, _ := t.arn(id, r)
		if resource != arn && !strings.HasPrefix(resource, arn+"/") {
			continue
		}
		rp, _ := r.Properties["ResourcePolicy"].(map[string]any)
		if rp == nil {
			return nil, nil
		}
		return t.Statements(rp["PolicyDocument"], id)
	}
	return nil, nil
}
