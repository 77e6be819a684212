#!/bin/sh
# Claude Desktop chooses the command by OS only (platform_overrides has no
# CPU key), so on macOS and Linux this picks the binary for this CPU. exec:
# the client talks to vsecure itself, and signals reach it.
d=${0%/*}
case "$(uname -sm)" in
"Darwin arm64") exec "$d/vsecure-darwin-arm64" "$@" ;;
"Darwin x86_64") exec "$d/vsecure-darwin-amd64" "$@" ;;
"Linux x86_64") exec "$d/vsecure-linux-amd64" "$@" ;;
"Linux aarch64" | "Linux arm64") exec "$d/vsecure-linux-arm64" "$@" ;;
esac
echo "vsecure bundle: no vsecure binary for $(uname -sm) in $d" >&2
exit 1
