#!/usr/bin/env bash
# make mutate: mutation testing of the domain (shared/vsecure) and the gate
# (shared/gate) with gremlins, pinned and installed into the tool cache.
# Each mutant is judged by its own package's tests, without emulators: the
# gate's tests run on the embedded store (VSECURE_TEST_STORES=embedded
# leaves the DynamoDB half of stores.Both out). Not part of `make test`.
#
#   MUTATE_PKGS       packages, in order (default: ./shared/vsecure ./shared/gate)
#   MUTATE_TIMEOUT    wall-clock bound per package, for timeout(1) (default 90m)
#   MUTATE_WORKERS    mutants tested at once (default 2)
#   MUTATE_THRESHOLD  efficacy in percent below which a package fails (default 95)
#
# Results: .cache/mutate/<package>.log (one line per mutant) and .json.
# docs/mutation.md has the last scores and argues each surviving mutant.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
CACHE="${VSECURE_CACHE:-$ROOT/.cache}"
GREMLINS_VERSION=v0.6.0
BIN="$CACHE/bin/gremlins-$GREMLINS_VERSION"
PKGS="${MUTATE_PKGS:-./shared/vsecure ./shared/gate}"
TIMEOUT="${MUTATE_TIMEOUT:-90m}"
WORKERS="${MUTATE_WORKERS:-2}"
THRESHOLD="${MUTATE_THRESHOLD:-95}"
# Test fixtures of other packages (shared/gate/gatetest: the revocation and
# use rules every store runs) are not code under test.
EXCLUDE="${MUTATE_EXCLUDE:-^gatetest/}" # a regexp of paths relative to the package
OUT="$ROOT/.cache/mutate"

log() { echo "mutate: $*" >&2; }

if [[ ! -x "$BIN" ]]; then
  log "installing gremlins@$GREMLINS_VERSION into $CACHE/bin"
  tmp="$(mktemp -d)"
  GOBIN="$tmp" go install "github.com/go-gremlins/gremlins/cmd/gremlins@$GREMLINS_VERSION"
  mkdir -p "$CACHE/bin"
  mv "$tmp/gremlins" "$BIN"
  rm -rf "$tmp"
fi

# gremlins copies the module once per worker and every test writes bbolt
# files with fsync: on a tmpfs both cost next to nothing (the gate's tests
# run in a few seconds instead of half a minute).
base=/dev/shm
[[ -d "$base" && -w "$base" ]] || base="${TMPDIR:-/tmp}"
work="$(mktemp -d "$base/vsecure-mutate.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$OUT"

rc=0
for pkg in $PKGS; do
  name="$(basename "$pkg")"
  log "$pkg: $WORKERS workers, at most $TIMEOUT; log in $OUT/$name.log"
  set +e
  # One CPU per test run, through GOFLAGS: gremlins v0.6.0's --test-cpu
  # hands go test "-cpu 1" as one argument, a setup failure that it then
  # reports as every mutant KILLED.
  TMPDIR="$work" GOFLAGS="${GOFLAGS:+$GOFLAGS }-cpu=1" VSECURE_TEST_STORES=embedded timeout "$TIMEOUT" nice "$BIN" unleash \
    --workers "$WORKERS" --timeout-coefficient 10 --exclude-files "$EXCLUDE" \
    --threshold-efficacy "$THRESHOLD" -o "$OUT/$name.json" "$pkg" 2>&1 | tee "$OUT/$name.log"
  status=${PIPESTATUS[0]}
  set -e
  case $status in
    0) ;;
    124) log "$pkg: stopped at MUTATE_TIMEOUT=$TIMEOUT before every mutant was tested"; rc=1 ;;
    *) log "$pkg: efficacy below $THRESHOLD% (or gremlins failed, status $status); survivors: grep LIVED $OUT/$name.log"; rc=1 ;;
  esac
done
exit $rc
