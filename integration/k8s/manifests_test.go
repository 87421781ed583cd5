//go:build k8s

package k8s

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestBaseManifestsServerSide: every object of manifests/base passes the
// apiserver's own validation (a server-side dry run of the kustomization,
// as `kubectl apply -k manifests/base` sends it), not only decoding into
// the API types (manifests/manifests_test.go).
func TestBaseManifestsServerSide(t *testing.T) {
	// A dry run creates nothing, so the namespaced objects need their
	// namespace for real.
	kubectl(t, "create", "namespace", "wasm-sandboxer")
	t.Cleanup(func() { shared.kubectl("", "delete", "namespace", "wasm-sandboxer", "--timeout=120s") })
	out := kubectl(t, "apply", "--dry-run=server", "-k", filepath.Join(repoRoot(), "manifests", "base"))
	for _, want := range []string{"serviceaccount/", "clusterrole.rbac.authorization.k8s.io/",
		"clusterrolebinding.rbac.authorization.k8s.io/", "daemonset.apps/", "runtimeclass.node.k8s.io/wasm ", "runtimeclass.node.k8s.io/wasm-forked "} {
		if !strings.Contains(out, want) {
			t.Errorf("server-side dry run of manifests/base does not list %s:\n%s", want, out)
		}
	}
	if strings.Count(out, "(server dry run)") < 7 { // namespace, account, role, binding, daemonset, 2 classes
		t.Errorf("want every object validated by the server (server dry run):\n%s", out)
	}
}
