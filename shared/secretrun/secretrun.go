// Package secretrun is what `vsecure run` and the MCP tool
// run_with_secrets share: references NAME=vsecure://… resolved through the
// gate's use operation, values put into a child's environment (never its
// argv, a file or a log), and the child's exit status read the way a shell
// reads it. The masking of the child's output is package mask's.
package secretrun

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// Ref asks for the secret at URI in environment variable Name.
type Ref struct {
	Name, URI string
}

// Value is a resolved Ref.
type Value struct {
	Ref
	Value string
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ParseRef reads NAME=vsecure://… (the short form production/DB works).
func ParseRef(s string) (Ref, error) {
	name, uri, ok := strings.Cut(s, "=")
	if !ok || !envName.MatchString(name) || uri == "" {
		return Ref{}, vsecure.Errorf(vsecure.EInvalid, "%q is not NAME=vsecure://…", s)
	}
	return NewRef(name, uri)
}

// NewRef checks name and uri: a concrete secret URI, short form expanded.
func NewRef(name, uri string) (Ref, error) {
	if !envName.MatchString(name) {
		return Ref{}, vsecure.Errorf(vsecure.EInvalid, "%q is not an environment variable name", name)
	}
	u, err := vsecure.ParseURI(vsecure.ExpandShort(strings.TrimSpace(uri)))
	if err != nil {
		return Ref{}, err
	}
	if u.IsPattern() {
		return Ref{}, vsecure.Errorf(vsecure.EInvalid, "%s: %s is a pattern; name one secret", name, u)
	}
	return Ref{Name: name, URI: u.String()}, nil
}

// ParseEnvFile reads one NAME=vsecure://… a line; blank lines and lines
// starting with # are skipped.
func ParseEnvFile(r io.Reader) ([]Ref, error) {
	var refs []Ref
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		ref, err := ParseRef(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		refs = append(refs, ref)
	}
	return refs, sc.Err()
}

// Source fetches a value to inject; *client.Client is one.
type Source interface {
	UseSecret(ctx context.Context, r api.SecretUse) (api.SecretRead, error)
}

// RefError is the failure to resolve one reference; Err keeps the API's
// error (client.CodeOf reads its code).
type RefError struct {
	Ref Ref
	Err error
}

func (e *RefError) Error() string { return fmt.Sprintf("%s (%s): %v", e.Ref.Name, e.Ref.URI, e.Err) }
func (e *RefError) Unwrap() error { return e.Err }

// Resolve fetches every reference for command (argv[0]) on host, in
// order, and stops at the first failure, a *RefError.
func Resolve(ctx context.Context, src Source, refs []Ref, command, host string) ([]Value, error) {
	vals := make([]Value, 0, len(refs))
	for _, r := range refs {
		s, err := src.UseSecret(ctx, api.SecretUse{URI: r.URI, Command: command, Host: host})
		if err != nil {
			return nil, &RefError{Ref: r, Err: err}
		}
		vals = append(vals, Value{Ref: r, Value: s.Value})
	}
	return vals, nil
}

// Environ is base with each value set, replacing a variable of the same
// name.
func Environ(base []string, vals []Value) []string {
	set := map[string]bool{}
	for _, v := range vals {
		set[v.Name] = true
	}
	env := make([]string, 0, len(base)+len(vals))
	for _, kv := range base {
		if name, _, _ := strings.Cut(kv, "="); !set[name] {
			env = append(env, kv)
		}
	}
	for _, v := range vals {
		env = append(env, v.Name+"="+v.Value)
	}
	return env
}

// Secrets are the values to mask.
func Secrets(vals []Value) []string {
	s := make([]string, len(vals))
	for i, v := range vals {
		s[i] = v.Value
	}
	return s
}

// Hostname is os.Hostname, or "unknown": the audit records where a value
// went, and a missing name must not stop the run.
func Hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "unknown"
	}
	return h
}

// ExitCode reads the error of exec.Cmd.Run or Wait as a shell does: the
// child's exit code, 128+n for death by signal n, 127 for a command not
// found and 126 for one that cannot run. ok is false for any other error.
func ExitCode(err error) (code int, ok bool) {
	if err == nil {
		return 0, true
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, isWS := ee.Sys().(syscall.WaitStatus); isWS && ws.Signaled() {
			return 128 + int(ws.Signal()), true
		}
		return ee.ExitCode(), true
	}
	switch {
	case errors.Is(err, exec.ErrNotFound), errors.Is(err, os.ErrNotExist):
		return 127, true
	case errors.Is(err, os.ErrPermission):
		return 126, true
	}
	return 0, false
}
