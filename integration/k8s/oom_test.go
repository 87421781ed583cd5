//go:build k8s

package k8s

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func allocPod(name, runtimeClass string, mb int) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  runtimeClassName: %s
  restartPolicy: Never
  containers:
    - name: main
      image: %s
      imagePullPolicy: Never
      args: [alloc, "%d"]
      resources: {limits: {memory: 64Mi}}
`, name, runtimeClass, demoImage, mb)
}

// waitTerminated waits until pod name's first container has terminated
// and returns the pod.
func waitTerminated(t *testing.T, ns, name string) corev1.Pod {
	t.Helper()
	var p corev1.Pod
	eventually(t, 2*time.Minute, name+" terminated", func() (bool, string) {
		p = getPod(t, ns, name)
		cs := p.Status.ContainerStatuses
		return len(cs) > 0 && cs[0].State.Terminated != nil &&
			(p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed), podSummary([]corev1.Pod{p})
	})
	return p
}

// TestOOMKilled: a module allocating past its memory limit is OOMKilled
// (exit 137) as kubectl shows it; below the limit it completes.
func TestOOMKilled(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, ns, rc string) {
		apply(t, ns, allocPod("over", rc, 128))
		apply(t, ns, allocPod("under", rc, 16))
		p := waitTerminated(t, ns, "over")
		st := p.Status.ContainerStatuses[0].State.Terminated
		if st.Reason != "OOMKilled" || st.ExitCode != 137 || p.Status.Phase != corev1.PodFailed {
			t.Errorf("over the limit: %s; want Failed, OOMKilled exit 137", podSummary([]corev1.Pod{p}))
		}
		// What users see: the STATUS column of kubectl get pods.
		if out := kubectl(t, "-n", ns, "get", "pod", "over", "--no-headers"); !strings.Contains(out, "OOMKilled") {
			t.Errorf("kubectl get pod over: %q, want OOMKilled in it", out)
		}
		p = waitTerminated(t, ns, "under")
		if st := p.Status.ContainerStatuses[0].State.Terminated; st.ExitCode != 0 || st.Reason != "Completed" {
			t.Errorf("under the limit: %s; want Completed exit 0", podSummary([]corev1.Pod{p}))
		}
		if out := kubectl(t, "-n", ns, "logs", "under"); !strings.Contains(out, "allocated 16 MiB") {
			t.Errorf("under the limit, logs: %q", out)
		}
	})
}
