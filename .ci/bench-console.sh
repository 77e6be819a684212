#!/usr/bin/env bash
# Console pages as a browser fetches them: `wrk -t2 -c8` against the inbox
# and an approval page of `vsecure dev` on a fresh data dir on loopback,
# signed in with the dev sign-in (an approver). Prints each page's size and
# wrk's latency percentiles (TTFB and whole answer are one round trip here:
# the pages are rendered before the first byte).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-8s}
CONNS=${CONNS:-8}
. .ci/devbench.sh
api -X POST "$base/v1/security/mcp/resources" -d '{"uri":"vsecure://secrets/prod/*","permissions":["read"],"requiresApproval":true,"approvers":["alice"]}' >/dev/null
agent=$(api -X POST "$base/v1/security/keys" -d '{"principal":"agent-1","roles":["agent"]}' | sed -E 's/.*"key":"([^"]+)".*/\1/')
id=$(curl -fsS -H "Authorization: Bearer $agent" -X POST "$base/v1/security/mcp/approve" \
  -d '{"resource":"vsecure://secrets/prod/DB","operation":"read","reason":"bench","ttl":3600}' | sed -E 's/.*"approvalId":"([^"]+)".*/\1/')
cookie=$(curl -fsS -o /dev/null -D - -X POST "$base/console/signin/dev" -d 'principal=alice&role=approver' |
  sed -nE 's/^[Ss]et-[Cc]ookie: (__Host-vsecure-session=[^;]+).*/\1/p' | tr -d '\r')
[[ -n "$cookie" ]] || { echo "bench-console: dev sign-in gave no session cookie" >&2; exit 1; }
for page in /console "/console/approvals/$id"; do
  size=$(curl -fsS -H "Cookie: $cookie" "$base$page" | wc -c)
  echo "== $page ($size bytes)"
  wrk -t"$(( CONNS < 2 ? 1 : 2 ))" -c"$CONNS" -d"$DURATION" --latency -H "Cookie: $cookie" "$base$page" | grep -E "Latency|50%|99%|Requests/sec|Non-2xx"
done
