package main

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// stack is what the cost model needs from a synthesized template.
type stack struct {
	env          string
	counts       map[string]int // resource type → count
	memoryMB     map[string]int // function name (functions/<name>) → MemorySize
	timeoutS     map[string]int // function name → Timeout, seconds
	systemLog    map[string]string
	traced       map[string]bool // X-Ray active tracing
	quietReqs    map[string]bool // the function logs its per-request line only on 5xx or slow requests
	accessFormat string          // API Gateway access log format
	authTTL      int             // authorizer result cache TTL, seconds
}

func readStack(path, env string) (*stack, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w (run make synth ENV=%s)", err, env)
	}
	var t struct {
		Resources map[string]struct {
			Type       string
			Properties map[string]any
		}
	}
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, err
	}
	s := &stack{env: env, counts: map[string]int{}, memoryMB: map[string]int{}, timeoutS: map[string]int{}, systemLog: map[string]string{}, traced: map[string]bool{}, quietReqs: map[string]bool{}}
	for _, r := range t.Resources {
		s.counts[r.Type]++
		p := r.Properties
		switch r.Type {
		case "AWS::Lambda::Function":
			name, _ := p["FunctionName"].(string)
			name = strings.TrimPrefix(name, "vsecure-"+env+"-")
			mem, _ := p["MemorySize"].(float64)
			s.memoryMB[name] = int(mem)
			timeout, _ := p["Timeout"].(float64)
			s.timeoutS[name] = int(timeout)
			if lc, ok := p["LoggingConfig"].(map[string]any); ok {
				s.systemLog[name], _ = lc["SystemLogLevel"].(string)
			}
			if tc, ok := p["TracingConfig"].(map[string]any); ok {
				s.traced[name] = tc["Mode"] == "Active"
			}
			// shared/lambdafn: VSECURE_REQUEST_LOG, default "errors" in prod.
			vars, _ := p["Environment"].(map[string]any)
			vars, _ = vars["Variables"].(map[string]any)
			setting, _ := vars["VSECURE_REQUEST_LOG"].(string)
			s.quietReqs[name] = setting == "errors" || (setting == "" && vars["VSECURE_ENV"] == "prod")
		case "AWS::ApiGatewayV2::Stage":
			if al, ok := p["AccessLogSettings"].(map[string]any); ok {
				s.accessFormat, _ = al["Format"].(string)
			}
		case "AWS::ApiGatewayV2::Authorizer":
			ttl, _ := p["AuthorizerResultTtlInSeconds"].(float64)
			s.authTTL = int(ttl)
		}
	}
	return s, nil
}

// dropsPlatformLines: SystemLogLevel WARN or above keeps Lambda's
// START/END/REPORT lines out of the function's log group.
func (s *stack) dropsPlatformLines(fn string) bool {
	switch s.systemLog[fn] {
	case "WARN", "ERROR", "FATAL":
		return true
	}
	return false
}

var contextVar = regexp.MustCompile(`\$context\.[A-Za-z.]+`)

// accessLogBytes renders the access log format with the values of a
// sample event (what API Gateway would substitute) and returns its size.
func (s *stack) accessLogBytes(vals map[string]string) int {
	line := contextVar.ReplaceAllStringFunc(s.accessFormat, func(v string) string {
		if x, ok := vals[v]; ok {
			return x
		}
		return "-"
	})
	return len(line) + 1
}

// transitionsPerApproval is the number of states a human-approved request
// enters in the approval workflow (the longest path from StartAt to an
// end state over Next, Default and Choices): Step Functions bills each.
func transitionsPerApproval(aslPath string) (int, []string, error) {
	b, err := os.ReadFile(aslPath)
	if err != nil {
		return 0, nil, err
	}
	var asl struct {
		StartAt string
		States  map[string]struct {
			Type    string
			Next    string
			Default string
			Choices []struct{ Next string }
		}
	}
	if err := json.Unmarshal(b, &asl); err != nil {
		return 0, nil, err
	}
	var longest func(name string, seen map[string]bool) []string
	longest = func(name string, seen map[string]bool) []string {
		st, ok := asl.States[name]
		if !ok || seen[name] {
			return nil
		}
		seen[name] = true
		defer delete(seen, name)
		var best []string
		nexts := []string{st.Next, st.Default}
		for _, c := range st.Choices {
			nexts = append(nexts, c.Next)
		}
		for _, n := range nexts {
			if n == "" {
				continue
			}
			if p := longest(n, seen); len(p) > len(best) {
				best = p
			}
		}
		return append([]string{name}, best...)
	}
	path := longest(asl.StartAt, map[string]bool{})
	return len(path), path, nil
}
