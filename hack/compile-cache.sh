#!/usr/bin/env bash
# make compile-cache-figures: how long `ctr run --rm` of the Go demo module
# (2.9 MB) takes on a fresh daemon (compile), again (in-memory hit), and
# after a daemon restart (compiled code read back from the on-disk cache).
# Each figure is the median of N runs (N=5), each on its own fresh state.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${OUT:-$top/_output}
n=${N:-5}
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
first=() second=() disk=()
for i in $(seq 1 "$n"); do
	dir=$(mktemp -d /tmp/wasm-cc.XXXXXX)
	SANDBOXER_LOG_LEVEL=info "$top/hack/devenv.sh" start "$dir" >/dev/null
	ctr() { "$out/bin/ctr" --address "$dir/containerd.sock" -n default "$@" 2>/dev/null; }
	ctr images import "$out/images/wasm-demo.tar" >/dev/null
	run() { local t; t=$(date +%s%N); ctr run --rm --fifo-dir "$dir/fifo" --runtime io.containerd.wasm.v1 docker.io/library/wasm-demo:latest "cc-$1" /demo.wasm echo hi >/dev/null; ms "$t"; }
	first+=("$(run a)")
	second+=("$(run b)")
	"$top/hack/devenv.sh" restart-sandboxer "$dir" TERM >/dev/null
	disk+=("$(run c)")
	"$top/hack/devenv.sh" stop "$dir"
done
f=$(printf '%s\n' "${first[@]}" | median)
s=$(printf '%s\n' "${second[@]}" | median)
d=$(printf '%s\n' "${disk[@]}" | median)
echo "ctr run --rm of the Go demo module ($(wc -c <"$out/wasm/demo.wasm") bytes), median of $n:"
echo "  first start (compile):                    ${f} ms"
echo "  second start (in-memory compiled module): ${s} ms"
echo "  after a daemon restart (on-disk cache):   ${d} ms"
echo "  first/second: $(awk -v a="$f" -v b="$s" 'BEGIN{printf "%.1fx", a/b}')   first/after-restart: $(awk -v a="$f" -v b="$d" 'BEGIN{printf "%.1fx", a/b}')"
