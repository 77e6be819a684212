#!/usr/bin/env bash
# Bounded load run: builds vsecure, starts `vsecure dev` on a fresh data dir
# on loopback, drives audited reads with vsecure-load, and stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
tmp=$(mktemp -d)
trap 'kill "${pid:-}" 2>/dev/null || true; wait "${pid:-}" 2>/dev/null || true; rm -rf "$tmp"' EXIT
go build -o "$tmp/vsecure" ./cmd/vsecure
go build -o "$tmp/vsecure-load" ./cmd/vsecure-load
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
key="vsk_$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
VSECURE_ADMIN_KEY=$key VSECURE_LOG_LEVEL=${LOG_LEVEL:-info} VSECURE_RATE_LIMIT=off "$tmp/vsecure" dev --addr "127.0.0.1:$port" --data "$tmp/data" >"$tmp/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
"$tmp/vsecure-load" -url "http://127.0.0.1:$port" -admin-key "$key" -connections "$CONNECTIONS" -duration "$DURATION"
