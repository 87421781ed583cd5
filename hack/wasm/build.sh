#!/usr/bin/env bash
# Builds the test Wasm modules into OUTDIR (created if missing):
#   demo.wasm                          Go program (GOOS=wasip1 GOARCH=wasm), see demo/main.go
#   compute.wasm                       Go program, the compute benchmark's workloads (compute/main.go)
#   httpd.wasm rawhttp.wasm            Go web servers on preopened listeners: net/http demo, raw responder
#   hello.wasm trap.wasm spin.wasm exit42.wasm   hand-assembled by tinygen/main.go
# and prints their sizes. Works from any current directory.
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mkdir -p "$1"
out="$(cd "$1" && pwd)"

cd "$here"
GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 go build -trimpath -o "$out/demo.wasm" ./demo
GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 go build -trimpath -o "$out/compute.wasm" ./compute
GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 go build -trimpath -o "$out/httpd.wasm" ./httpd
GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 go build -trimpath -o "$out/rawhttp.wasm" ./rawhttp
# tinygen runs on the host: clear any GOOS/GOARCH inherited from the caller.
GOOS= GOARCH= go run ./tinygen -out "$out" >/dev/null

for f in demo.wasm compute.wasm httpd.wasm rawhttp.wasm hello.wasm trap.wasm spin.wasm exit42.wasm; do
	printf '%10d  %s\n' "$(wc -c <"$out/$f")" "$out/$f"
done
