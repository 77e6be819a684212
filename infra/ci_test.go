package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// ciJobs splits .github/workflows/deploy.yml into its jobs' text.
func ciJobs(t *testing.T) (string, map[string]string) {
	t.Helper()
	raw, err := os.ReadFile("../.github/workflows/deploy.yml")
	if err != nil {
		t.Fatal(err)
	}
	wf := string(raw)
	_, body, ok := strings.Cut(wf, "\njobs:\n")
	if !ok {
		t.Fatal("deploy.yml has no jobs")
	}
	jobs := map[string]string{}
	head := regexp.MustCompile(`(?m)^  ([a-z][a-z0-9-]*):\n`)
	idx := head.FindAllStringSubmatchIndex(body, -1)
	for i, m := range idx {
		end := len(body)
		if i+1 < len(idx) {
			end = idx[i+1][0]
		}
		jobs[body[m[2]:m[3]]] = body[m[1]:end]
	}
	return wf, jobs
}

// A tag can be moved to other code after review; a SHA cannot.
func TestCIActionsArePinnedBySHA(t *testing.T) {
	wf, _ := ciJobs(t)
	pinned := regexp.MustCompile(`^\s*-?\s*uses: [\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$`)
	n := 0
	for _, l := range strings.Split(wf, "\n") {
		if strings.Contains(l, "uses:") && !strings.HasPrefix(strings.TrimSpace(l), "#") {
			n++
			if !pinned.MatchString(l) {
				t.Errorf("not pinned by commit SHA with a # vX.Y.Z comment: %s", strings.TrimSpace(l))
			}
		}
	}
	if n == 0 {
		t.Fatal("no uses: lines found")
	}
}

// What is deployed is the assembly the synth job built after the tests:
// a deploy job that builds or synthesizes again could ship something else.
func TestCIDeploysTheSynthArtifactAfterADiff(t *testing.T) {
	_, jobs := ciJobs(t)
	synth := jobs["synth"]
	for _, want := range []string{"actions/upload-artifact@", "make synth ENV=${{ matrix.env }} PLACEHOLDER=", "name: cdk-out-${{ matrix.env }}"} {
		if !strings.Contains(synth, want) {
			t.Errorf("synth job lacks %q", want)
		}
	}
	for job, env := range map[string]string{"deploy-dev": "dev", "deploy-prod": "prod", "diff-prod": "prod"} {
		s, ok := jobs[job]
		if !ok {
			t.Errorf("no job %s", job)
			continue
		}
		for _, want := range []string{"actions/download-artifact@", "name: cdk-out-" + env, "tar -xf cdk-out.tar"} {
			if !strings.Contains(s, want) {
				t.Errorf("%s lacks %q", job, want)
			}
		}
		for _, bad := range []string{"make build", "make synth", "make deploy ENV", "cdk synth", "actions/setup-go@"} {
			if strings.Contains(s, bad) {
				t.Errorf("%s rebuilds (%q): it must deploy the synth artifact as it is", job, bad)
			}
		}
	}
	for job, want := range map[string][]string{
		"deploy-dev":  {"environment: dev\n", "make deploy-assembly ENV=dev"},
		"diff-prod":   {"environment: prod-diff\n", "needs: deploy-dev", "make --no-print-directory diff ENV=prod", "$GITHUB_STEP_SUMMARY"},
		"deploy-prod": {"environment: prod\n", "needs: diff-prod", "make deploy-assembly ENV=prod"},
	} {
		for _, w := range want {
			if !strings.Contains(jobs[job], w) {
				t.Errorf("%s lacks %q", job, w)
			}
		}
	}
}
