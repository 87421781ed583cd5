//go:build k8s

package k8s

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TestSandboxerKilled: the daemon killed (SIGKILL) and restarted under
// running pods. As docs/RATIONALE.md says: a forked pod's module runs on
// (its pod server outlives the daemon), so its container is never
// restarted; a goroutine-mode module ended with the daemon, containerd
// reports it exited (137) and kubelet restarts the container per the pod's
// restartPolicy. New pods of both classes schedule and run afterwards.
func TestSandboxerKilled(t *testing.T) {
	ns := newNamespace(t)
	for _, rc := range runtimeClasses {
		apply(t, ns, keeperPod("keeper-"+rc, rc))
	}
	for _, rc := range runtimeClasses {
		waitRunning(t, ns, "keeper-"+rc)
	}
	before := map[string]string{}
	for _, rc := range runtimeClasses {
		before[rc] = getPod(t, ns, "keeper-"+rc).Status.ContainerStatuses[0].ContainerID
	}
	if b, err := shared.hack("devenv.sh", "restart-sandboxer", "KILL"); err != nil {
		t.Fatalf("restart the daemon after SIGKILL: %v\n%s", err, b)
	}

	// The goroutine-mode container is restarted by kubelet.
	eventually(t, 2*time.Minute, "keeper-wasm restarted by kubelet and running", func() (bool, string) {
		p := getPod(t, ns, "keeper-wasm")
		cs := p.Status.ContainerStatuses
		return len(cs) == 1 && cs[0].RestartCount >= 1 && cs[0].State.Running != nil, podSummary([]corev1.Pod{p})
	})
	// 137 is what the daemon reports; after a SIGKILL CRI's own exit
	// monitor may record 255 first (docs/RATIONALE.md, "Why do modules
	// ended by a daemon stop report 137?").
	if st := getPod(t, ns, "keeper-wasm").Status.ContainerStatuses[0]; st.LastTerminationState.Terminated == nil ||
		(st.LastTerminationState.Terminated.ExitCode != 137 && st.LastTerminationState.Terminated.ExitCode != 255) {
		t.Errorf("keeper-wasm's last state %+v, want terminated with 137 or 255 (its module ended with the daemon)", st.LastTerminationState)
	}
	// The forked one ran on: same container, never restarted.
	for range 5 {
		p := getPod(t, ns, "keeper-wasm-forked")
		cs := p.Status.ContainerStatuses
		if len(cs) != 1 || cs[0].RestartCount != 0 || cs[0].State.Running == nil || cs[0].ContainerID != before["wasm-forked"] {
			t.Fatalf("keeper-wasm-forked after the daemon's restart: %s (container %s, was %s); want the same container running, never restarted",
				podSummary([]corev1.Pod{p}), cs[0].ContainerID, before["wasm-forked"])
		}
		time.Sleep(2 * time.Second)
	}
	if b, err := shared.kubectl("", "-n", ns, "exec", "keeper-wasm-forked", "--", "/demo.wasm", "echo", "still here"); err != nil || strings.TrimSpace(string(b)) != "still here" {
		t.Errorf("exec into the forked pod after the restart: %v: %q", err, b)
	}
	// New pods schedule and run.
	for _, rc := range runtimeClasses {
		apply(t, ns, keeperPod("after-"+rc, rc))
		waitRunning(t, ns, "after-"+rc)
	}
}

func keeperPod(name, runtimeClass string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  runtimeClassName: %s
  terminationGracePeriodSeconds: 2
  containers:
    - name: main
      image: %s
      imagePullPolicy: Never
      args: [daemon]
`, name, runtimeClass, demoImage)
}

// waitRunning waits until pod name's container runs.
func waitRunning(t *testing.T, ns, name string) {
	t.Helper()
	eventually(t, 2*time.Minute, name+" running", func() (bool, string) {
		p := getPod(t, ns, name)
		cs := p.Status.ContainerStatuses
		return len(cs) == 1 && cs[0].State.Running != nil, podSummary([]corev1.Pod{p})
	})
}
