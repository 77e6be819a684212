package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// cli runs the CLI in process with env and returns its exit code and
// output.
func cli(env map[string]string, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(context.Background(), args, func(k string) string { return env[k] }, stdio{In: strings.NewReader(""), Out: &out, Err: &errb})
	return code, out.String(), errb.String()
}

func TestCommandTableRows(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range commands() {
		if seen[c.name] {
			t.Errorf("%q is in the table twice", c.name)
		}
		seen[c.name] = true
		if c.summary == "" || c.about == "" || c.setup == nil {
			t.Errorf("%q: summary, about and setup are all needed: %+v", c.name, c)
		}
		if !strings.HasPrefix(c.synopsis, c.name) {
			t.Errorf("%q: synopsis %q does not start with the command's name", c.name, c.synopsis)
		}
	}
}

func TestEveryCommandHelpExitsZero(t *testing.T) {
	for _, c := range commands() {
		for _, help := range []string{"--help", "-h"} {
			t.Run(c.name+" "+help, func(t *testing.T) {
				code, out, errs := cli(nil, append(strings.Fields(c.name), help)...)
				if code != exitOK {
					t.Errorf("exit %d, want 0; stderr:\n%s", code, errs)
				}
				if out != "" {
					t.Errorf("stdout %q, want nothing (usage goes to stderr)", out)
				}
				if !strings.HasPrefix(errs, "Usage: vsecure "+c.name) || !strings.Contains(errs, c.about) {
					t.Errorf("stderr does not hold the table's usage and about:\n%s", errs)
				}
			})
		}
	}
}

func TestEveryCommandUnknownFlagExitsTwoWithUsage(t *testing.T) {
	var calls atomic.Int32
	api := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { calls.Add(1) }))
	defer api.Close()
	env := map[string]string{"VSECURE_API_URL": api.URL, "VSECURE_API_KEY": "vsk_test"}
	for _, c := range commands() {
		t.Run(c.name, func(t *testing.T) {
			code, out, errs := cli(env, append(strings.Fields(c.name), "--no-such-flag")...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			if !strings.HasPrefix(errs, "flag provided but not defined: -no-such-flag\nUsage: vsecure "+c.name) {
				t.Errorf("stderr does not name the flag and show the usage:\n%s", errs)
			}
		})
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("the API was called %d times; a usage error must stop before connecting", n)
	}
}

func TestHelpListsTheTable(t *testing.T) {
	code, out, _ := cli(nil, "help")
	if code != exitOK {
		t.Fatalf("vsecure help: exit %d", code)
	}
	at := 0
	for _, c := range commands() {
		i := strings.Index(out[at:], "  "+c.name+" ")
		if i < 0 {
			t.Fatalf("vsecure help: %q missing or out of the table's order:\n%s", c.name, out)
		}
		at += i
		if line, _, _ := strings.Cut(out[at:], "\n"); !strings.HasSuffix(line, " "+c.summary) {
			t.Errorf("vsecure help: line %q does not end with the table's summary %q", line, c.summary)
		}
	}
}

func TestMCPGroupHelp(t *testing.T) {
	for _, help := range []string{"--help", "-h", "help"} {
		code, out, errs := cli(nil, "mcp", help)
		if code != exitOK {
			t.Errorf("vsecure mcp %s: exit %d, stderr %q", help, code, errs)
		}
		for _, c := range commands() {
			listed := strings.Contains(out, "  "+c.name+" ")
			if strings.HasPrefix(c.name, "mcp") != listed {
				t.Errorf("vsecure mcp %s: %q listed %v:\n%s", help, c.name, listed, out)
			}
		}
	}
	// Without a subcommand it is a usage error, with the same list.
	if code, out, errs := cli(nil, "mcp"); code != exitUsage || out != "" || !strings.Contains(errs, "  mcp serve ") {
		t.Errorf("vsecure mcp: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

func TestUnknownCommandExitsTwo(t *testing.T) {
	for _, args := range [][]string{{"nope"}, {"mcp", "nope"}} {
		code, out, errs := cli(nil, args...)
		want := `vsecure: unknown command "` + strings.Join(args, " ") + `"`
		if code != exitUsage || out != "" || !strings.HasPrefix(errs, want) {
			t.Errorf("vsecure %s: exit %d, stdout %q, stderr %q; want exit 2 and %s", strings.Join(args, " "), code, out, errs, want)
		}
	}
}
