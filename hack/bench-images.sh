#!/usr/bin/env bash
# The benchmarks' runc side, built from the repo (nothing is pulled):
#   OUT/native/demo      hack/wasm/demo built natively, static (CGO_ENABLED=0)
#   OUT/native/pause     hack/pause, static: the pod sandbox for runc through CRI
#   OUT/images/bench-native.tar  docker.io/library/bench-native:latest, /demo as entrypoint
#   OUT/images/bench-pause.tar   docker.io/library/bench-pause:latest,  /pause as entrypoint
# wasm-image wants a module in every image: /hello.wasm rides along unused.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${OUT:-$top/_output}
cd "$top"
mkdir -p "$out/native" "$out/images"
CGO_ENABLED=0 GOOS= GOARCH= go build -trimpath -o "$out/native/demo" ./hack/wasm/demo
CGO_ENABLED=0 GOOS= GOARCH= go build -trimpath -o "$out/native/pause" ./hack/pause
img="$out/bin/wasm-image"
"$img" -module "$out/wasm/hello.wasm" -path /hello.wasm -exec "$out/native/demo:/demo" -entrypoint /demo \
	-name bench-native:latest -o "$out/images/bench-native.tar" >/dev/null
"$img" -module "$out/wasm/hello.wasm" -path /hello.wasm -exec "$out/native/pause:/pause" -entrypoint /pause \
	-name bench-pause:latest -o "$out/images/bench-pause.tar" >/dev/null
