#!/usr/bin/env bash
# Runs every Fuzz target of the module for FUZZTIME each (default 10s).
# Findings land in the package's testdata/fuzz/<Target>/ and, once
# committed, run as regression tests in every `go test`.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-10s}
for pkg in $(go list ./...); do
  for target in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
    echo "== $pkg $target ($FUZZTIME)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg" 2>&1 | grep -E 'elapsed: [0-9]+s, execs|PASS|FAIL|---' | tail -3
  done
done
