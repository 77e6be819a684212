//go:build windows

package main

import (
	"context"
	"os"
	"os/exec"
	"time"
)

// execCompanion runs the companion as a child (Windows has no exec): its
// exit code comes back as an *exec.ExitError, and Ctrl-C interrupts it
// and leaves it time to shut down.
func execCompanion(ctx context.Context, path string, std stdio) error {
	cmd := exec.CommandContext(ctx, path, os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = std.In, std.Out, std.Err
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 15 * time.Second
	return cmd.Run()
}
