#!/usr/bin/env bash
# make ctr-demo: start a private containerd + wasm-sandboxer, import the Go
# demo module in all three image shapes, and run it with plain `ctr run`
# (rootfs and wasm-layer images) and through CRI (the CNCF artifact, which
# upstream ctr cannot run: see docs/images.md). Tears everything down.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${OUT:-$top/_output}
dir=$(mktemp -d /tmp/wasm-ctr-demo.XXXXXX)
trap '"$top/hack/devenv.sh" stop "$dir"' EXIT
"$top/hack/devenv.sh" start "$dir" >/dev/null
# shellcheck disable=SC1091
source "$dir/env"
# ctr run uses the default namespace, CRI k8s.io.
for img in wasm-demo wasm-demo-layer; do
	ctr -n default images import "$out/images/$img.tar" >/dev/null 2>&1
done
ctr -n k8s.io images import "$out/images/wasm-demo-artifact.tar" >/dev/null 2>&1
run() { echo "\$ $*"; "$@" 2>/dev/null; }

run ctr run --rm --runtime io.containerd.wasm.v1 docker.io/library/wasm-demo:latest demo1 /demo.wasm echo hi
run ctr run --rm --runtime io.containerd.wasm.v1 docker.io/library/wasm-demo-layer:latest demo2 demo.wasm echo hi
set +e
run ctr run --rm --runtime io.containerd.wasm.v1 docker.io/library/wasm-demo:latest demo3 /demo.wasm exit 7
echo "ctr exit status: $?"
set -e

echo "# the CNCF artifact, through CRI (crictl):"
cat >"$dir/pod.json" <<JSON
{"metadata": {"name": "artifact", "namespace": "default", "uid": "ctr-demo-$$"}, "log_directory": "$dir/logs"}
JSON
cat >"$dir/c.json" <<JSON
{"metadata": {"name": "demo"}, "image": {"image": "docker.io/library/wasm-demo-artifact:latest"},
 "command": ["demo.wasm"], "args": ["echo", "hi"], "log_path": "demo.log"}
JSON
crictl() { "$out/bin/crictl" --config "$dir/crictl.yaml" "$@" 2>/dev/null; }
pod=$(crictl runp --runtime wasm "$dir/pod.json")
c=$(crictl create --no-pull "$pod" "$dir/c.json" "$dir/pod.json")
crictl start "$c" >/dev/null
for _ in $(seq 1 100); do
	[ "$(crictl inspect -o go-template --template '{{.status.state}}' "$c")" = CONTAINER_EXITED ] && break
	sleep 0.1
done
echo "\$ crictl logs $c"
crictl logs "$c"
crictl rm "$c" >/dev/null
crictl stopp "$pod" >/dev/null
crictl rmp "$pod" >/dev/null
