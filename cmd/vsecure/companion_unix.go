//go:build !windows

package main

import (
	"context"
	"os"
	"syscall"
)

// execCompanion replaces this process with the companion: the same pid,
// so a signal (or a SIGKILL) reaches the command itself. It returns only
// when the exec fails.
func execCompanion(_ context.Context, path string, _ stdio) error {
	return syscall.Exec(path, append([]string{path}, os.Args[1:]...), os.Environ())
}
