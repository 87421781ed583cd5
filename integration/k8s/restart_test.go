//go:build k8s

package k8s

import (
	"fmt"
	"slices"
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
// restartPolicy. New pods of both classes schedule and run afterwards. A
// forked pod that had finished (its sandbox stopped, its pod server
// waiting for the sandbox's removal) is removed afterwards with nothing
// left running.
func TestSandboxerKilled(t *testing.T) {
	ns := newNamespace(t)
	apply(t, ns, `apiVersion: v1
kind: Pod
metadata: {name: done-forked}
spec:
  runtimeClassName: wasm-forked
  restartPolicy: Never
  containers: [{name: hello, image: `+helloImage+`, imagePullPolicy: Never}]
`)
	eventually(t, 2*time.Minute, "done-forked Succeeded", func() (bool, string) {
		p := getPod(t, ns, "done-forked")
		return p.Status.Phase == corev1.PodSucceeded, podSummary([]corev1.Pod{p})
	})
	done := criPods(t, ns)
	if len(done) != 1 {
		t.Fatalf("CRI pods of done-forked: %v", done)
	}
	var doneID string // the sandbox's full id (crictl's is short)
	eventually(t, time.Minute, "done-forked's sandbox stopped, its pod server running", func() (bool, string) {
		for _, s := range daemonReport(t).Sandboxes {
			if strings.HasPrefix(s.ID, done[0]) {
				doneID = s.ID
				return s.Phase == "stopped" && podServerRuns(t, s.ID), fmt.Sprintf("%+v", s)
			}
		}
		return false, "not in wasm-sandboxer status"
	})
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
	// The pod that had finished before the restart: removed, its pod
	// server ends (the restarted daemon attached to it again).
	kubectl(t, "-n", ns, "delete", "pod", "done-forked", "--timeout=60s")
	eventually(t, 3*time.Minute, "done-forked's sandbox removed", func() (bool, string) {
		ids := daemonSandboxes(t)
		return !slices.Contains(ids, doneID), fmt.Sprintf("wasm-sandboxer holds %v", ids)
	})
	eventually(t, 30*time.Second, "done-forked's pod server gone", func() (bool, string) {
		return !podServerRuns(t, doneID), "pod server " + doneID + " still runs"
	})
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
