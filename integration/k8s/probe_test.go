//go:build k8s

package k8s

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TestLivenessProbe: an exec liveness probe (a module run in the
// container, through CRI ExecSync) that fails gets the container
// restarted; one that passes does not.
func TestLivenessProbe(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, ns, rc string) {
		apply(t, ns, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: probed}
spec:
  runtimeClassName: %s
  terminationGracePeriodSeconds: 2
  containers:
    - name: failing
      image: %[2]s
      imagePullPolicy: Never
      args: [daemon]
      livenessProbe:
        exec: {command: [/demo.wasm, exit, "1"]}
        periodSeconds: 1
        failureThreshold: 1
    - name: passing
      image: %[2]s
      imagePullPolicy: Never
      args: [daemon]
      livenessProbe:
        exec: {command: [/demo.wasm, exit, "0"]}
        periodSeconds: 1
        failureThreshold: 1
`, rc, demoImage))
		var p corev1.Pod
		eventually(t, 2*time.Minute, "failing container restarted twice", func() (bool, string) {
			p = getPod(t, ns, "probed")
			for _, c := range p.Status.ContainerStatuses {
				if c.Name == "failing" && c.RestartCount >= 2 {
					return true, ""
				}
			}
			return false, podSummary([]corev1.Pod{p})
		})
		for _, c := range p.Status.ContainerStatuses {
			if c.Name == "passing" && c.RestartCount != 0 {
				t.Errorf("passing container restarted %d times", c.RestartCount)
			}
			if c.Name == "failing" && c.LastTerminationState.Terminated == nil {
				t.Errorf("failing container: no last termination state: %s", podSummary([]corev1.Pod{p}))
			}
		}
	})
}
