//go:build tools

// Package k8s pins the Kubernetes binaries hack/k8s.sh runs (a single-node
// cluster for make k8s-demo and make test-k8s): kube-apiserver,
// kube-controller-manager, kube-scheduler, kubelet, kube-proxy and kubectl,
// built from k8s.io/kubernetes at the version go.mod requires. It is its
// own module so the project's go.mod does not carry Kubernetes' dependency
// graph.
package k8s

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
