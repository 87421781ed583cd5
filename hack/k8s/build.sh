#!/usr/bin/env bash
# Build the Kubernetes binaries hack/k8s.sh runs into OUT_BIN (default
# _output/bin): kube-apiserver, kube-controller-manager, kube-scheduler,
# kubelet, kube-proxy and kubectl, at the k8s.io/kubernetes version this
# module requires. One go build for all six, so they share the build cache;
# nothing is done when a stamp says this version is already built.
#
# Cold, this is a long build (tens of minutes: kube-apiserver alone is most
# of it); warm, seconds. GO_BUILD_NICE=N runs it under nice -n N.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
bin=${OUT_BIN:-$top/_output/bin}
go=${GO:-go}
cmds=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)

cd "$here"
version=$($go list -m -f '{{.Version}}' k8s.io/kubernetes)
stamp=$bin/.k8s-$version
have=1
for c in "${cmds[@]}"; do [ -x "$bin/$c" ] || have=; done
if [ -n "$have" ] && [ -f "$stamp" ]; then
	echo "k8s: ${cmds[*]} $version already built in $bin"
	exit 0
fi

# Kubernetes' own build (hack/lib/version.sh) stamps these; without them
# the node and kubectl report v0.0.0.
major=${version#v}; major=${major%%.*}
minor=${version#v$major.}; minor=${minor%%.*}
date=$($go list -m -f '{{.Time.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes)
ldflags="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ldflags+=" -X $p.gitVersion=$version -X $p.gitMajor=$major -X $p.gitMinor=$minor"
	ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=$date"
done

mkdir -p "$bin"
rm -f "$bin"/.k8s-*
pkgs=()
for c in "${cmds[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
echo "k8s: building ${cmds[*]} $version into $bin"
start=$(date +%s)
${GO_BUILD_NICE:+nice -n "$GO_BUILD_NICE"} env CGO_ENABLED=0 \
	$go build -trimpath -ldflags "$ldflags" -o "$bin/" "${pkgs[@]}"
touch "$stamp"
echo "k8s: built in $(($(date +%s) - start))s"
