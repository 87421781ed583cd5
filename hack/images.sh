#!/usr/bin/env bash
# Packages the test modules (hack/wasm/build.sh's output) as OCI image
# archives for `ctr images import`:
#   wasm-hello.tar  docker.io/library/wasm-hello:latest  /hello.wasm (tiny, prints "hello from wasm")
#   wasm-demo.tar   docker.io/library/wasm-demo:latest   /demo.wasm  (Go, runwasi-like demo app)
#   wasm-tiny.tar   docker.io/library/wasm-tiny:latest   /hello.wasm /trap.wasm /spin.wasm
#                   /exit42.wasm and /not-wasm.wasm (a text file, for the bad-input tests)
#   wasm-httpd.tar  docker.io/library/wasm-httpd:latest  /httpd.wasm (net/http demo server), /rawhttp.wasm,
#                   /hello.wasm (an exec probe)
#   wasm-demo-layer.tar     wasm-demo-layer:latest     demo.wasm as runwasi's wasm-layer image
#   wasm-demo-artifact.tar  wasm-demo-artifact:latest  demo.wasm as the CNCF Wasm OCI artifact
#   wasm-two.tar            wasm-two:latest            artifact with two modules: hello.wasm, exit42.wasm
#   wasm-badlayer.tar       wasm-badlayer:latest       wasm-layer image with an application/octet-stream layer
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 WASMDIR OUTDIR" >&2; exit 2; }
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
wasm=$1 out=$2
img=${WASM_IMAGE:-$top/_output/bin/wasm-image}
mkdir -p "$out"
"$img" -module "$wasm/hello.wasm" -path /hello.wasm -name wasm-hello:latest -o "$out/wasm-hello.tar"
"$img" -module "$wasm/demo.wasm" -path /demo.wasm -name wasm-demo:latest -o "$out/wasm-demo.tar"
"$img" -module "$wasm/httpd.wasm" -path /httpd.wasm -name wasm-httpd:latest -o "$out/wasm-httpd.tar" \
	-file "$wasm/rawhttp.wasm:/rawhttp.wasm" -file "$wasm/hello.wasm:/hello.wasm"
notwasm=$(mktemp)
trap 'rm -f "$notwasm"' EXIT
echo "this is a text file, not a WebAssembly module" >"$notwasm"
"$img" -module "$wasm/hello.wasm" -path /hello.wasm -name wasm-tiny:latest -o "$out/wasm-tiny.tar" \
	-file "$wasm/trap.wasm:/trap.wasm" -file "$wasm/spin.wasm:/spin.wasm" \
	-file "$wasm/exit42.wasm:/exit42.wasm" -file "$notwasm:/not-wasm.wasm"
"$img" -module "$wasm/demo.wasm" -path /demo.wasm -format wasm-layer -name wasm-demo-layer:latest -o "$out/wasm-demo-layer.tar"
"$img" -module "$wasm/demo.wasm" -path /demo.wasm -format artifact -name wasm-demo-artifact:latest -o "$out/wasm-demo-artifact.tar"
"$img" -module "$wasm/hello.wasm" -path /hello.wasm -format artifact -name wasm-two:latest -o "$out/wasm-two.tar" \
	-layer "$wasm/exit42.wasm:application/wasm:exit42.wasm"
"$img" -module "$wasm/hello.wasm" -path /hello.wasm -format wasm-layer -name wasm-badlayer:latest -o "$out/wasm-badlayer.tar" \
	-layer "$notwasm:application/octet-stream:notes.txt"
ls -l "$out"/*.tar | awk '{printf "%10d  %s\n", $5, $9}'
