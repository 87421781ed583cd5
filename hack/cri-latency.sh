#!/usr/bin/env bash
# make cri-latency: start a private containerd + wasm-sandboxer, import the
# test images, and time CreateContainer -> exit visible in ContainerStatus
# (hack/crilatency) for the tiny hello module and the Go demo module.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${OUT:-$top/_output}
n=${N:-20}
dir=$(mktemp -d /tmp/wasm-lat.XXXXXX)
trap '"$top/hack/devenv.sh" stop "$dir"' EXIT
SANDBOXER_LOG_LEVEL=info "$top/hack/devenv.sh" start "$dir" >/dev/null
for img in wasm-hello wasm-demo; do
	"$out/bin/ctr" --address "$dir/containerd.sock" -n k8s.io images import "$out/images/$img.tar" >/dev/null 2>&1
done
for img in wasm-hello wasm-demo; do
	"$out/bin/crilatency" -endpoint "unix://$dir/containerd.sock" -image "docker.io/library/$img:latest" -n "$n" -log-dir "$dir/logs"
done
