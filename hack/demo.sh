#!/usr/bin/env bash
# make demo: start a private containerd + wasm-sandboxer, run a pod whose
# container prints "hello from wasm" through CRI (crictl, as kubelet would
# drive it), show its log, then tear everything down.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${OUT:-$top/_output}
dir=$(mktemp -d /tmp/wasm-demo.XXXXXX)
trap '"$top/hack/devenv.sh" stop "$dir"' EXIT

"$top/hack/devenv.sh" start "$dir" >/dev/null
# shellcheck disable=SC1091
source "$dir/env"
crictl() { "$out/bin/crictl" --config "$dir/crictl.yaml" "$@"; }

"$out/bin/ctr" -n k8s.io images import "$out/images/wasm-hello.tar" >/dev/null 2>>"$dir/ctr.log"

cat >"$dir/pod.json" <<JSON
{"metadata": {"name": "hello-wasm", "namespace": "default", "uid": "demo-$$"},
 "log_directory": "$dir/logs"}
JSON
cat >"$dir/container.json" <<JSON
{"metadata": {"name": "hello"},
 "image": {"image": "docker.io/library/wasm-hello:latest"},
 "log_path": "hello.log"}
JSON

pod=$(crictl runp --runtime wasm "$dir/pod.json")
echo "pod sandbox:  $pod (runtime handler wasm)"
ctr=$(crictl create --no-pull "$pod" "$dir/container.json" "$dir/pod.json")
crictl start "$ctr" >/dev/null
for _ in $(seq 1 100); do
	state=$(crictl inspect -o go-template --template '{{.status.state}}' "$ctr")
	[ "$state" = CONTAINER_EXITED ] && break
	sleep 0.1
done
code=$(crictl inspect -o go-template --template '{{.status.exitCode}}' "$ctr")
echo "container:    $ctr ($state, exit code $code)"
echo "crictl logs:"
crictl logs "$ctr" | sed 's/^/  /'
crictl logs "$ctr" | grep -qx 'hello from wasm' || { echo "demo: log line missing" >&2; exit 1; }
crictl rm "$ctr" >/dev/null
crictl stopp "$pod" >/dev/null
crictl rmp "$pod" >/dev/null
echo "demo: ok"
