#!/usr/bin/env bash
# make k8s-demo: a private containerd + wasm-sandboxer (hack/devenv.sh) and a
# single-node Kubernetes next to it (hack/k8s.sh); the test images imported
# into containerd's k8s.io namespace, manifests/base's RuntimeClasses
# applied (server-side) and manifests/examples (the demo Deployment, the
# web demo behind a Service) run from the imported images; then pods, logs,
# an exec, the Service's answers (curl of its ClusterIP from the node) and a
# one-shot pod in the forked runtime are shown, and everything is torn down.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${OUT:-$top/_output}
dir=$(mktemp -d /tmp/wasm-k8s-demo.XXXXXX)
teardown() {
	"$top/hack/k8s.sh" down "$dir" || true
	"$top/hack/devenv.sh" stop "$dir"
}
trap teardown EXIT
step() { printf '\n== %s\n' "$*"; }

"$top/hack/devenv.sh" start "$dir" >/dev/null
"$top/hack/k8s.sh" up "$dir"
eval "$("$top/hack/k8s.sh" env "$dir")"

step "images (containerd namespace k8s.io; pods use imagePullPolicy: Never)"
for img in wasm-demo wasm-hello wasm-httpd; do
	"$out/bin/ctr" --address "$dir/containerd.sock" -n k8s.io images import "$out/images/$img.tar" >/dev/null 2>>"$dir/ctr.log"
done
"$out/bin/ctr" --address "$dir/containerd.sock" -n k8s.io images ls -q 2>>"$dir/ctr.log" | grep wasm-

step "kubectl get nodes -o wide"
kubectl get nodes -o wide

step "kubectl apply --server-side -f manifests/base/runtimeclass.yaml"
kubectl apply --server-side -f "$top/manifests/base/runtimeclass.yaml"

step "kubectl apply -k hack/k8s/examples  (manifests/examples with the imported image)"
kubectl apply -k "$top/hack/k8s/examples"
kubectl rollout status deployment/wasm-demo --timeout=120s
kubectl rollout status deployment/wasm-httpd --timeout=120s

step "kubectl get pods -o wide"
kubectl get pods -o wide

step "kubectl logs deployment/wasm-demo"
sleep 2
kubectl logs deployment/wasm-demo --tail 3

step "kubectl exec deployment/wasm-demo -- /demo.wasm echo hello from exec"
kubectl exec deployment/wasm-demo -- /demo.wasm echo hello from exec

step "a one-shot pod in the forked runtime (runtimeClassName: wasm-forked)"
kubectl apply -f - <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: hello-forked}
spec:
  runtimeClassName: wasm-forked
  restartPolicy: Never
  containers:
    - name: hello
      image: docker.io/library/wasm-hello:latest
      imagePullPolicy: Never
YAML
kubectl wait --for=jsonpath='{.status.phase}'=Succeeded pod/hello-forked --timeout=60s
kubectl get pod hello-forked -o wide
kubectl logs hello-forked
kubectl logs hello-forked | grep -qx 'hello from wasm' || { echo "k8s-demo: hello-forked's log line missing" >&2; exit 1; }

step "kubectl get service wasm-httpd; curl of its ClusterIP from the node"
# hack/k8s.sh routes the Service range through the devenv bridge, so these
# requests leave from the bridge's address; kube-proxy's rules pick a ready
# replica for each connection.
kubectl get service wasm-httpd -o wide
kubectl get endpointslices -l kubernetes.io/service-name=wasm-httpd
ip=$(kubectl get service wasm-httpd -o jsonpath='{.spec.clusterIP}')
answers=0 # four answers, at most 20 tries (kube-proxy may still be syncing)
for _ in $(seq 1 20); do
	if curl -sS --max-time 2 "http://$ip/"; then answers=$((answers + 1)); else sleep 0.5; fi
	[ "$answers" -ge 4 ] && break
done
[ "$answers" -ge 4 ] || { echo "k8s-demo: the Service at $ip answered $answers of 20 requests" >&2; exit 1; }

step "teardown"
echo "k8s-demo: ok"
