#!/usr/bin/env bash
# Audited-read throughput as an outside client sees it: `wrk -t2 -c32`
# against `vsecure dev` on a fresh data dir on loopback (wrk is installed
# from Debian's package if missing). Seeds one ungated policy, one secret
# and an agent key, then prints wrk's report with latency percentiles.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
if ! command -v wrk >/dev/null; then
  echo "bench-wrk: installing wrk (Debian package)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
tmp=$(mktemp -d)
trap 'kill "${pid:-}" 2>/dev/null || true; wait "${pid:-}" 2>/dev/null || true; rm -rf "$tmp"' EXIT
go build -o "$tmp/vsecure" ./cmd/vsecure
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
admin="vsk_$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
VSECURE_ADMIN_KEY=$admin VSECURE_LOG_LEVEL=${LOG_LEVEL:-info} VSECURE_RATE_LIMIT=off "$tmp/vsecure" dev --addr "127.0.0.1:$port" --data "$tmp/data" >"$tmp/server.log" 2>&1 &
pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 100); do curl -fs "$base/healthz" >/dev/null && break; sleep 0.1; done
api() { curl -fsS -H "Authorization: Bearer $admin" "$@"; }
api -X POST "$base/v1/security/mcp/resources" -d '{"uri":"vsecure://secrets/loadtest/*","permissions":["read"]}' >/dev/null
path="/v1/security/mcp/resources/vsecure%3A%2F%2Fsecrets%2Floadtest%2FAPI_TOKEN"
api -X PUT "$base$path" -d '{"value":"load-test-value"}' >/dev/null
agent=$(api -X POST "$base/v1/security/keys" -d '{"principal":"load-agent","roles":["agent"]}' | sed -E 's/.*"key":"([^"]+)".*/\1/')
wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -H "Authorization: Bearer $agent" "$base$path"
# Every read must have succeeded and been audited: count them.
reads=$(api "$base/v1/security/mcp/secrets?pattern=vsecure://secrets/loadtest/*" | sed -E 's/.*"accessCount":([0-9]+).*/\1/')
echo "bench-wrk: accessCount after the run: $reads"
