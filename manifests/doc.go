// Package manifests holds the Kubernetes manifests (kustomize layout:
// base/ installs wasm-sandboxer on the nodes, examples/ runs a Wasm app).
// Its tests decode every manifest strictly into the Kubernetes API types
// and check that the pieces fit: handlers, labels, names, paths.
package manifests
