#!/usr/bin/env bash
# Installs (cached, pinned), starts and stops the AWS protocol peers the
# store and crypto tests run against: DynamoDB Local (the jar shipped in the
# npm package amplify-dynamodb-simulator, run with the machine's Java) and
# local-kms (go install), and versitygw (go install; a real S3 on a posix
# directory, with versioning and Object Lock: it refuses deleting or
# shortening a COMPLIANCE-locked version, checked by shared/archive/s3lock).
#
#   .ci/emulators.sh install        fetch into .cache/ (idempotent)
#   .ci/emulators.sh start          install, start both on free ports, wait until ready
#   .ci/emulators.sh env            print the export lines of the running emulators
#   .ci/emulators.sh stop           stop what start started
#   .ci/emulators.sh run CMD...     start, run CMD with the endpoints exported, stop
#                                   (also when CMD fails); exits with CMD's status
#
# Endpoints are exported as VSECURE_TEST_DYNAMODB_ENDPOINT and
# VSECURE_TEST_KMS_ENDPOINT (plus VSECURE_TEST_KMS_KEY_ID, a seeded AES key,
# and VSECURE_TEST_AUDIT_MAC_KEY_ID, another for the audit MAC keys; also as
# VSECURE_KMS_KEY_ID and VSECURE_AUDIT_MAC_KEY_ID for `vsecure dev`),
# and as the SDK's standard AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_KMS;
# S3 as VSECURE_TEST_S3_ENDPOINT with VSECURE_TEST_S3_ACCESS_KEY/_SECRET_KEY
# (the gateway's root user; path-style addressing).
# Headless Chromium (Debian's package, installed with apt-get when missing;
# the browser tests drive it over CDP) is exported as VSECURE_TEST_CHROMIUM.
#
#   .ci/emulators.sh install-chromium   only the browser (make test-deps)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${VSECURE_CACHE:-$ROOT/.cache}"
RUN="$CACHE/run"

DDB_NPM_VERSION="2.9.30" # amplify-dynamodb-simulator, pinned
LKMS_VERSION="v0.0.0-20260228092603-2a5e92d09ab6"
DDB_DIR="$CACHE/dynamodb/$DDB_NPM_VERSION"
LKMS_BIN="$CACHE/bin/local-kms"
VGW_VERSION="v1.8.0"
VGW_BIN="$CACHE/bin/versitygw-$VGW_VERSION"
# The seeded keys: fixed ids so local runs and `vsecure dev` can name them.
# The second is the audit MAC key (GenerateDataKey per epoch), a key of its
# own as in the stack.
KMS_KEY_ID="6f1c7a52-0b7e-4c1e-9a0b-7a1d2e3f4a5b"
KMS_AUDIT_KEY_ID="0c3e5a7b-2d4f-4a6b-8c9d-1e2f3a4b5c6d"

log() { echo "emulators: $*" >&2; }

install_java() {
  if command -v java >/dev/null 2>&1; then return; fi
  log "java missing; installing default-jre-headless"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless >/dev/null
}

install_dynamodb() {
  if [[ -f "$DDB_DIR/emulator/DynamoDBLocal.jar" ]]; then return; fi
  log "installing amplify-dynamodb-simulator@$DDB_NPM_VERSION into $DDB_DIR"
  local tmp
  tmp="$(mktemp -d)"
  # npm pack fetches only the package tarball (verified against the
  # registry's integrity hash); the jar needs none of its JS dependencies.
  (cd "$tmp" && npm pack --silent "amplify-dynamodb-simulator@$DDB_NPM_VERSION" >/dev/null)
  mkdir -p "$DDB_DIR"
  tar xzf "$tmp"/amplify-dynamodb-simulator-"$DDB_NPM_VERSION".tgz -C "$DDB_DIR" --strip-components=1 package/emulator
  rm -rf "$tmp"
}

install_kms() {
  if [[ -x "$LKMS_BIN" ]]; then return; fi
  log "installing local-kms@$LKMS_VERSION into $CACHE/bin"
  mkdir -p "$CACHE/bin"
  GOBIN="$CACHE/bin" go install "github.com/nsmithuk/local-kms@$LKMS_VERSION"
}

install_s3() {
  if [[ -x "$VGW_BIN" ]]; then return; fi
  log "installing versitygw@$VGW_VERSION into $CACHE/bin"
  local tmp
  tmp="$(mktemp -d)"
  GOBIN="$tmp" go install "github.com/versity/versitygw/cmd/versitygw@$VGW_VERSION"
  mkdir -p "$CACHE/bin"
  mv "$tmp/versitygw" "$VGW_BIN"
  rm -rf "$tmp"
}

# Debian's chromium rather than a downloaded build: security updates come
# with the distribution and nothing is cached in the repository. A browser
# named by VSECURE_TEST_CHROMIUM already is kept. The first apt-get try
# skips `apt-get update` (fast when the lists are fresh); the lock timeout
# lets parallel installs on one machine wait for each other.
chromium_path() {
  if [[ -n "${VSECURE_TEST_CHROMIUM:-}" && -x "$VSECURE_TEST_CHROMIUM" ]]; then echo "$VSECURE_TEST_CHROMIUM"; return; fi
  command -v chromium
}

install_chromium() {
  if chromium_path >/dev/null 2>&1; then return; fi
  log "chromium missing; installing Debian's chromium"
  local sudo=()
  if [[ "$(id -u)" != 0 ]]; then sudo=(sudo -n); fi
  local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600)
  if ! "${apt[@]}" install -y -qq --no-install-recommends chromium >/dev/null 2>&1; then
    "${apt[@]}" update -qq && "${apt[@]}" install -y -qq --no-install-recommends chromium >/dev/null
  fi
  chromium_path >/dev/null 2>&1 || { log "chromium still missing after apt-get install"; return 1; }
}

install() { install_java; install_dynamodb; install_kms; install_s3; install_chromium; }

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$((20000 + RANDOM % 40000))
    if port_free "$p"; then echo "$p"; return; fi
  done
  log "no free port found"; return 1
}

wait_http() { # name url [curl args...]: until it answers, or its process ($RUN/name.pid) is gone
  local name="$1" url="$2"; shift 2
  for _ in $(seq 1 150); do
    if curl -s -o /dev/null -m 2 "$@" "$url"; then return 0; fi
    if ! kill -0 "$(cat "$RUN/$name.pid" 2>/dev/null)" 2>/dev/null; then break; fi
    sleep 0.2
  done
  log "$name did not become ready at $url; its log:"; tail -20 "$RUN/$name.log" >&2 || true
  return 1
}

launch_dynamodb() { # port
  (cd "$RUN" && exec java -Djava.library.path="$DDB_DIR/emulator/DynamoDBLocal_lib" \
    -jar "$DDB_DIR/emulator/DynamoDBLocal.jar" -inMemory -port "$1" -disableTelemetry \
    >"$RUN/dynamodb.log" 2>&1) &
  echo $! >"$RUN/dynamodb.pid"
}

launch_kms() { # port
  rm -rf "$RUN/kms-data"
  PORT="$1" KMS_DATA_PATH="$RUN/kms-data" KMS_SEED_PATH="$RUN/kms-seed.yaml" KMS_REGION=us-east-1 \
    "$LKMS_BIN" >"$RUN/kms.log" 2>&1 &
  echo $! >"$RUN/kms.pid"
}

# Object Lock needs versioning: the posix backend keeps old versions in
# --versioning-dir. Both live under the run directory and go with it.
launch_s3() { # port
  rm -rf "$RUN/s3-data" "$RUN/s3-versions"
  mkdir -p "$RUN/s3-data" "$RUN/s3-versions"
  "$VGW_BIN" --access "$S3_KEY" --secret "$S3_SECRET" --port "127.0.0.1:$1" --quiet \
    posix --versioning-dir "$RUN/s3-versions" "$RUN/s3-data" >"$RUN/s3.log" 2>&1 &
  echo $! >"$RUN/s3.pid"
}

# up NAME [curl args...]: starts NAME on a free port and waits for it; sets
# PORT_<NAME>. A port free when picked can be taken before the emulator binds
# it (other runs on the machine pick too): that costs a new port, not the run.
up() {
  local name="$1" port attempt; shift
  for attempt in 1 2 3; do
    port="$(free_port)"
    while [[ " $USED_PORTS " == *" $port "* ]]; do port="$(free_port)"; done
    "launch_$name" "$port"
    if wait_http "$name" "http://127.0.0.1:$port/" "$@"; then
      USED_PORTS="$USED_PORTS $port"
      printf -v "PORT_$name" %s "$port"
      return 0
    fi
    kill "$(cat "$RUN/$name.pid")" 2>/dev/null || true
    log "$name: attempt $attempt on :$port failed; trying another port"
  done
  return 1
}

start() {
  install
  if [[ -f "$RUN/env" ]]; then stop; fi
  mkdir -p "$RUN"
  cat >"$RUN/kms-seed.yaml" <<EOF
Keys:
  Symmetric:
    Aes:
      - Metadata:
          KeyId: $KMS_KEY_ID
        BackingKeys:
          - $(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
      - Metadata:
          KeyId: $KMS_AUDIT_KEY_ID
        BackingKeys:
          - $(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
Aliases:
  - AliasName: alias/vsecure-test
    TargetKeyId: $KMS_KEY_ID
EOF
  S3_KEY="vsecuretest"
  S3_SECRET="$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  USED_PORTS=""
  up dynamodb || { stop; return 1; }
  up s3 || { stop; return 1; }
  up kms -X POST || { stop; return 1; }
  local dport="$PORT_dynamodb" kport="$PORT_kms" sport="$PORT_s3" s3key="$S3_KEY" s3secret="$S3_SECRET"

  cat >"$RUN/env" <<EOF
export VSECURE_TEST_DYNAMODB_ENDPOINT=http://127.0.0.1:$dport
export VSECURE_TEST_KMS_ENDPOINT=http://127.0.0.1:$kport
export VSECURE_TEST_KMS_KEY_ID=$KMS_KEY_ID
export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$dport
export AWS_ENDPOINT_URL_KMS=http://127.0.0.1:$kport
export VSECURE_KMS_KEY_ID=$KMS_KEY_ID
export VSECURE_TEST_AUDIT_MAC_KEY_ID=$KMS_AUDIT_KEY_ID
export VSECURE_AUDIT_MAC_KEY_ID=$KMS_AUDIT_KEY_ID
export VSECURE_TEST_S3_ENDPOINT=http://127.0.0.1:$sport
export VSECURE_TEST_S3_ACCESS_KEY=$s3key
export VSECURE_TEST_S3_SECRET_KEY=$s3secret
export VSECURE_TEST_CHROMIUM=$(chromium_path)
EOF
  log "DynamoDB Local on :$dport, local-kms on :$kport, versitygw on :$sport (pids in $RUN)"
}

stop() {
  local f pid
  for f in "$RUN"/dynamodb.pid "$RUN"/kms.pid "$RUN"/s3.pid; do
    [[ -f "$f" ]] || continue
    pid="$(cat "$f")"
    if kill "$pid" 2>/dev/null; then
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
  done
  rm -f "$RUN/env"
  rm -rf "$RUN/kms-data" "$RUN/s3-data" "$RUN/s3-versions"
}

env_lines() {
  if [[ ! -f "$RUN/env" ]]; then log "not running (run: $0 start)"; return 1; fi
  cat "$RUN/env"
}

run() {
  # A private run directory: `run` neither stops nor reuses emulators that
  # `start` left running for a shell, and two runs can go side by side.
  mkdir -p "$CACHE"
  RUN="$(mktemp -d "$CACHE/run.XXXXXX")"
  trap 'stop; rm -rf "$RUN"' EXIT
  start
  # shellcheck disable=SC1091
  source "$RUN/env"
  local rc=0
  "$@" || rc=$?
  return "$rc"
}

cmd="${1:-}"
shift || true
case "$cmd" in
  install) install ;;
  install-chromium) install_chromium ;;
  start) start ;;
  stop) stop ;;
  env) env_lines ;;
  run) run "$@" ;;
  *) echo "usage: $0 install|install-chromium|start|stop|env|run CMD..." >&2; exit 2 ;;
esac
