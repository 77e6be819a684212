//go:build !aws

package main

import (
	"context"
	"errors"
)

// awsBuilt: this build runs the AWS commands in its companion
// (companion.go).
const awsBuilt = false

func adminBootstrap(ctx context.Context, _, _, _ *string, _ *bool, _ func(string) string, std stdio) int {
	return runCompanion(ctx, "admin:bootstrap", std)
}

// backends: setupDev hands --store dynamodb to the companion before this
// is reached.
func backends(_ context.Context, kind, _ string, _ func(string) string) (backend, error) {
	if b, done, err := embeddedBackend(kind); done {
		return b, err
	}
	return backend{}, errors.New("--store dynamodb runs in " + companionName)
}
