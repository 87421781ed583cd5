#!/usr/bin/env bash
# critest (sigs.k8s.io/cri-tools) against the wasm handler of a private
# containerd + wasm-sandboxer, with the skip list of docs/conformance.md.
#
#   hack/critest.sh   (make critest builds what it needs first)
#
# No registry is reachable: critest's default container image (busybox)
# is replaced, through --test-images-file, by wasm-critest:latest, built
# here with wasm-image and imported: /bin/top and /bin/sh are spin.wasm, a
# module that runs until it is stopped, so critest's "top" and "sh -c top"
# containers run. Tests that pull images or need a Linux userland are
# skipped (docs/conformance.md says why, one by one).
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${OUT:-$top/_output}
bin=$out/bin
wasm=$out/wasm

dir=$(mktemp -d /tmp/wasm-critest.XXXXXX)
cleanup() { "$top/hack/devenv.sh" stop "$dir" >/dev/null 2>&1 || true; }
trap cleanup EXIT
"$top/hack/devenv.sh" start "$dir" >/dev/null
# /bin/echo is the demo module, which acts as echo under that name
# (critest's execSync runs `echo -n hello`).
"$bin/wasm-image" -module "$wasm/spin.wasm" -path /bin/top -file "$wasm/spin.wasm:/bin/sh" \
	-file "$wasm/demo.wasm:/bin/echo" \
	-name wasm-critest:latest -o "$dir/wasm-critest.tar" >/dev/null
"$bin/ctr" --address "$dir/containerd.sock" -n k8s.io images import "$dir/wasm-critest.tar" >/dev/null
cat >"$dir/images.yaml" <<YAML
defaultTestContainerImage: docker.io/library/wasm-critest:latest
webServerTestImage: docker.io/library/wasm-critest:latest
YAML

# The skip list: one regexp per line, the reason in docs/conformance.md.
skips=(
	# needs images pulled from a registry (no network here; they are
	# also Linux images)
	'Image Manager.*(pulled and removed|all kinds of references|Uid\|Username|listImage)'
	# execSync with timeout: its check runs `sh -c "pgrep sleep || true"`;
	# attach and port-forward, and the multi-container checks, run shell
	# commands or a Linux web server in the container
	'execSync with timeout' 'Streaming' 'Multiple Containers'
	# Linux-process features a Wasm module does not have
	'AppArmor' 'SELinux' 'Security Context' 'sysctls' 'Mount Propagation'
	'Container Mount Readonly' 'Container OOM' 'Networking'
	# volumes and logs: checked with a shell in the container
	'with volume' 'with log' 'reopening container log'
)
skip=$(IFS='|'; echo "${skips[*]}")

"$bin/critest" --runtime-endpoint "unix://$dir/containerd.sock" --image-endpoint "unix://$dir/containerd.sock" \
	--runtime-handler wasm --test-images-file "$dir/images.yaml" \
	--ginkgo.skip "$skip" --ginkgo.no-color --ginkgo.succinct --ginkgo.flake-attempts 1 "$@"
