package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// docCommands returns the make and vsecure invocations of a Markdown page:
// in its sh code blocks (at command position) and in inline code spans.
func docCommands(doc string) (makes, clis [][]string) {
	var lines []string
	inSh := false
	for _, l := range strings.Split(doc, "\n") {
		t := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(t, "```"):
			inSh = !inSh && strings.TrimPrefix(t, "```") == "sh"
		case inSh:
			lines = append(lines, t)
		}
	}
	for _, m := range regexp.MustCompile("`((?:make|vsecure) [^`]*)`").FindAllStringSubmatch(doc, -1) {
		lines = append(lines, m[1])
	}
	at := regexp.MustCompile(`(?:^|[|;&(]\s*|\$\(\s*)(make|vsecure)\s+([^|;&)#]*)`)
	for _, l := range lines {
		for _, m := range at.FindAllStringSubmatch(l, -1) {
			words := strings.Fields(m[2])
			if m[1] == "make" {
				makes = append(makes, words)
			} else {
				clis = append(clis, words)
			}
		}
	}
	return makes, clis
}

func makeTargets(t *testing.T) map[string]bool {
	t.Helper()
	raw, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	targets := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^([a-z][a-z0-9-]*)\s*:([^=]|$)`).FindAllStringSubmatch(string(raw), -1) {
		targets[m[1]] = true
	}
	return targets
}

// docs/deploy.md is what a platform engineer follows on deploy day; a
// renamed target or command must fail here, not there.
func TestDeployDocCommandsExist(t *testing.T) {
	raw, err := os.ReadFile("../../docs/deploy.md")
	if err != nil {
		t.Fatal(err)
	}
	makes, clis := docCommands(string(raw))
	if len(makes) == 0 || len(clis) == 0 {
		t.Fatalf("found %d make and %d vsecure commands in docs/deploy.md; the parser lost them", len(makes), len(clis))
	}
	targets := makeTargets(t)
	for _, words := range makes {
		n := 0
		for _, w := range words {
			if strings.HasPrefix(w, "-") || strings.Contains(w, "=") || strings.HasPrefix(w, "'") || strings.HasSuffix(w, "'") {
				continue
			}
			n++
			if !targets[w] {
				t.Errorf("docs/deploy.md: `make %s`: no target %q in the Makefile", strings.Join(words, " "), w)
			}
		}
		if n == 0 {
			t.Errorf("docs/deploy.md: `make %s` names no target", strings.Join(words, " "))
		}
	}
	commands := commandTable()
	for _, words := range clis {
		if len(words) == 0 {
			t.Error("docs/deploy.md: a bare `vsecure` with no command")
			continue
		}
		name := words[0]
		if name == "--help" || name == "help" {
			continue
		}
		if name == "mcp" && len(words) > 1 {
			name = "mcp " + words[1]
		}
		if _, ok := commands[name]; !ok {
			t.Errorf("docs/deploy.md: `vsecure %s`: %q is not in commandTable", strings.Join(words, " "), name)
		}
	}
}

func TestDocCommandsParser(t *testing.T) {
	doc := "Run `make install` and `vsecure whoami`.\n```sh\nmake deploy ENV=prod SLACK_CHANNEL='#x'\n" +
		"printf x | vsecure secrets:put a/b --name N   # comment with make nothing\n" +
		"export K=$(vsecure mcp serve)\n```\n```json\n{\"make\": \"vsecure nope\"}\n```\n"
	makes, clis := docCommands(doc)
	got := func(ws [][]string) (out []string) {
		for _, w := range ws {
			out = append(out, w[0])
		}
		return out
	}
	if g := strings.Join(got(makes), ","); g != "deploy,install" {
		t.Errorf("make targets = %s", g)
	}
	if g := strings.Join(got(clis), ","); g != "secrets:put,mcp,whoami" {
		t.Errorf("vsecure commands = %s", g)
	}
}
