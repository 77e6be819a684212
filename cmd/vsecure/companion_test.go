//go:build !aws

package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestAWSCommandsNeedTheCompanion: the plain build without vsecure-aws
// next to it or on PATH refuses the AWS commands, naming what to install,
// and still runs the rest.
func TestAWSCommandsNeedTheCompanion(t *testing.T) {
	bin := buildVsecure(t)
	for _, args := range [][]string{
		{"admin:bootstrap", "--function", "f"},
		{"dev", "--store", "dynamodb", "--addr", "127.0.0.1:0"},
	} {
		cmd := exec.Command(bin, args...)
		cmd.Env = []string{"PATH=" + t.TempDir(), "HOME=" + t.TempDir()}
		out, err := cmd.CombinedOutput()
		if cmd.ProcessState.ExitCode() != exitError || !strings.Contains(string(out), "the command runs in vsecure-aws") ||
			!strings.Contains(string(out), "go build -tags aws") {
			t.Fatalf("%v: exit %d (%v), output %q", args, cmd.ProcessState.ExitCode(), err, out)
		}
	}
	// A usage error is the plain build's own.
	cmd := exec.Command(bin, "admin:bootstrap")
	cmd.Env = []string{"PATH=" + t.TempDir()}
	if out, _ := cmd.CombinedOutput(); cmd.ProcessState.ExitCode() != exitUsage || !strings.Contains(string(out), "exactly one of --stack and --function") {
		t.Fatalf("admin:bootstrap without a target: exit %d, %q", cmd.ProcessState.ExitCode(), out)
	}
}
