#!/usr/bin/env bash
# Audited-read throughput as an outside client sees it: `wrk -t2 -c32`
# against `vsecure dev` on a fresh data dir on loopback (wrk is installed
# from Debian's package if missing). Seeds one ungated policy, one secret
# and an agent key, then prints wrk's report with latency percentiles.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
. .ci/devbench.sh
api -X POST "$base/v1/security/mcp/resources" -d '{"uri":"vsecure://secrets/loadtest/*","permissions":["read"]}' >/dev/null
path="/v1/security/mcp/resources/vsecure%3A%2F%2Fsecrets%2Floadtest%2FAPI_TOKEN"
api -X PUT "$base$path" -d '{"value":"load-test-value"}' >/dev/null
agent=$(api -X POST "$base/v1/security/keys" -d '{"principal":"load-agent","roles":["agent"]}' | sed -E 's/.*"key":"([^"]+)".*/\1/')
wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -H "Authorization: Bearer $agent" "$base$path"
# Every read must have succeeded and been audited: count them.
reads=$(api "$base/v1/security/mcp/secrets?pattern=vsecure://secrets/loadtest/*" | sed -E 's/.*"accessCount":([0-9]+).*/\1/')
echo "bench-wrk: accessCount after the run: $reads"
