#!/usr/bin/env bash
# `vsecure run` overhead (issue 17: at most 20 ms): hyperfine (Debian's
# package if missing) times `vsecure run --env DB=… -- /bin/true` next to
# `/bin/true` against `vsecure dev` on a fresh data dir, on a policy that
# needs no approval, so the difference is one audited use and the process.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-40}
if ! command -v hyperfine >/dev/null; then
  echo "bench-run: installing hyperfine (Debian package)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine >/dev/null
fi
. .ci/devbench.sh
api -X POST "$base/v1/security/mcp/resources" -d '{"uri":"vsecure://secrets/runbench/*","permissions":["read"]}' >/dev/null
api -X PUT "$base/v1/security/mcp/resources/vsecure%3A%2F%2Fsecrets%2Frunbench%2FDATABASE_URL" -d '{"value":"postgresql://app:pw@db:5432/prod"}' >/dev/null
agent=$(api -X POST "$base/v1/security/keys" -d '{"principal":"run-agent","roles":["agent"]}' | sed -E 's/.*"key":"([^"]+)".*/\1/')
VSECURE_API_URL=$base VSECURE_API_KEY=$agent hyperfine -N --warmup 5 --runs "$RUNS" \
  /bin/true "$tmp/vsecure run --env DB=runbench/DATABASE_URL -- /bin/true"
