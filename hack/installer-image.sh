#!/usr/bin/env bash
# The installer image (manifests/base's DaemonSet) built here, with no
# registry: install/Dockerfile's content (make dist's opt/wasm-sandboxer)
# on Debian's static busybox instead of debian:bookworm-slim.
#   OUT/images/wasm-sandboxer-installer.tar
#     docker.io/library/wasm-sandboxer-installer:latest
# /bin/sh is busybox, whose shell runs its own applets (sed, awk, grep,
# sha256sum, cp, mv, mktemp, nsenter, …) without them on PATH; /bin/sleep
# is the status container's command. wasm-image wants a module in every
# image: /hello.wasm rides along unused.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${OUT:-$top/_output}
busybox=${BUSYBOX:-/bin/busybox}
[ -x "$busybox" ] && "$busybox" --list | grep -qx nsenter ||
	{ echo "installer-image: no static busybox at $busybox: apt-get install busybox-static" >&2; exit 1; }
dist=$out/dist/opt/wasm-sandboxer
empty=$(mktemp)
trap 'rm -f "$empty"' EXIT
args=(-exec "$busybox:/bin/sh" -exec "$busybox:/bin/sleep" -file "$empty:/tmp/.keep")
for f in "$dist"/bin/* "$dist"/install.sh; do
	args+=(-exec "$f:/opt/wasm-sandboxer/${f#"$dist"/}")
done
for f in wasm-sandboxer.service wasm-sandboxer.toml; do
	args+=(-file "$dist/$f:/opt/wasm-sandboxer/$f")
done
mkdir -p "$out/images"
"$out/bin/wasm-image" -module "$out/wasm/hello.wasm" -path /hello.wasm "${args[@]}" \
	-entrypoint /opt/wasm-sandboxer/install.sh -name wasm-sandboxer-installer:latest \
	-o "$out/images/wasm-sandboxer-installer.tar" >/dev/null
ls -l "$out/images/wasm-sandboxer-installer.tar" | awk '{printf "%10d  %s\n", $5, $9}'
