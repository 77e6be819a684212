# Sourced by the bench scripts: wrk (Debian's package when missing) and a
# `vsecure dev` on a fresh data dir ($TMPDIR; TMPDIR=/dev/shm puts it on a tmpfs) on loopback with a generated admin key,
# stopped and removed on exit. Sets tmp, pid, base, admin and api().
if ! command -v wrk >/dev/null; then
  echo "$(basename "$0"): installing wrk (Debian package)" >&2
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
