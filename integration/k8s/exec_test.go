//go:build k8s

package k8s

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TestExecUnderMemoryLimit: kubectl exec into a container with
// manifests/examples' memory limit (128Mi) runs, and leaves the
// container's own module alone. (In forked mode the limit is also the
// container cgroup's, holding the main module's worker and each exec's:
// at 64Mi the kernel OOM-killed one of them about one run in two; see
// docs/configuration.md.)
func TestExecUnderMemoryLimit(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, ns, rc string) {
		apply(t, ns, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: limited}
spec:
  runtimeClassName: %s
  terminationGracePeriodSeconds: 2
  containers:
    - name: main
      image: %s
      imagePullPolicy: Never
      args: [daemon]
      resources: {limits: {memory: 128Mi}}
`, rc, demoImage))
		waitPods(t, ns, "", 1, 2*time.Minute)
		for i := range 5 {
			b, err := shared.kubectl("", "-n", ns, "exec", "limited", "--", "/demo.wasm", "echo", "exec", fmt.Sprint(i))
			if err != nil || strings.TrimSpace(string(b)) != fmt.Sprintf("exec %d", i) {
				t.Errorf("exec %d: %v: %q", i, err, b)
			}
		}
		p := getPod(t, ns, "limited")
		if cs := p.Status.ContainerStatuses; len(cs) != 1 || cs[0].RestartCount != 0 || cs[0].State.Running == nil {
			t.Errorf("after the execs: %s; want main running, never restarted", podSummary([]corev1.Pod{p}))
		}
	})
}
