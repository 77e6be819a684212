#!/bin/sh
# build.sh OUT.mcpb [GOOS/GOARCH ...] lays out the Claude Desktop bundle
# (manifest.json, server/vsecure launcher, one vsecure binary per platform),
# validates the manifest and packs it with the pinned @anthropic-ai/mcpb CLI
# (npm ci in this directory first). Without platforms it builds the five the
# release ships; the tests pass only their own, so the layout they unpack is
# the release's layout. VERSION (default 0.0.0-dev; a leading v is dropped)
# is the bundle's version; LDFLAGS are added to the go build -ldflags. The
# bundle is reproducible: its bytes depend on the commit, not on when or
# where it was built.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$(dirname "$1")"
out=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
shift
full=
[ $# -gt 0 ] || { full=1; set -- darwin/arm64 darwin/amd64 windows/amd64 linux/amd64 linux/arm64; }
mcpb=$here/node_modules/.bin/mcpb
[ -x "$mcpb" ] || { echo "build.sh: $mcpb is missing: run npm ci --prefix packaging/mcpb (make mcpb does)" >&2; exit 1; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir "$stage/server"
cd "$here/../.."
for p; do
	os=${p%/*} arch=${p#*/} ext=
	[ "$os" = windows ] && ext=.exe
	CGO_ENABLED=0 GOOS=$os GOARCH=$arch ${GO:-go} build -trimpath -ldflags "-s -w -buildid= ${LDFLAGS:-}" \
		-o "$stage/server/vsecure-$os-$arch$ext" ./cmd/vsecure
done
cp "$here/vsecure.sh" "$stage/server/vsecure"
chmod 755 "$stage/server/vsecure"
if [ -n "$full" ]; then
	# Every binary the launcher or the manifest starts is in the bundle.
	for f in $(grep -oh 'vsecure-[a-z0-9]*-[a-z0-9]*[.exe]*' "$here/vsecure.sh" "$here/manifest.json" | sort -u); do
		[ -f "$stage/server/$f" ] || { echo "build.sh: server/$f is started but not built" >&2; exit 1; }
	done
fi
version=${VERSION:-0.0.0-dev}
VERSION=${version#v} node -e '
const fs = require("fs"), [src, dst] = process.argv.slice(1);
const m = JSON.parse(fs.readFileSync(src, "utf8"));
m.version = process.env.VERSION;
fs.writeFileSync(dst, JSON.stringify(m, null, 2) + "\n");
' "$here/manifest.json" "$stage/manifest.json"
"$mcpb" validate "$stage/manifest.json"
rm -f "$out"
"$mcpb" pack "$stage" "$out" >&2
# mcpb stamps every entry with the time it packs; the release tool sets
# them to the commit's time (SOURCE_DATE_EPOCH if set), as in the CLI
# archives, so that a rebuild of a tag is byte-equal.
${GO:-go} run ./cmd/internal/release -restamp "$out"
