//go:build k8s

package k8s

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// statusText is everything a container's status says: reasons and
// messages of its state and last state.
func statusText(c corev1.ContainerStatus) string {
	return containerState(c.State) + " | last: " + containerState(c.LastTerminationState)
}

// TestBadInput: what users see in kubectl when a pod cannot run: a module
// that is not WebAssembly, a module path missing from the image, an
// unknown runtime annotation. Each names the cause.
func TestBadInput(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, ns, rc string) {
		for name, c := range map[string]struct{ command, want string }{
			"not-wasm": {"/not-wasm.wasm", "not a WebAssembly module"},
			"missing":  {"/nope.wasm", "not found"},
		} {
			apply(t, ns, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  runtimeClassName: %s
  restartPolicy: Never
  containers:
    - name: main
      image: %s
      imagePullPolicy: Never
      command: [%q]
`, name, rc, tinyImage, c.command))
			var last string
			eventually(t, time.Minute, name+": container status naming the cause", func() (bool, string) {
				p := getPod(t, ns, name)
				if len(p.Status.ContainerStatuses) == 0 {
					return false, podSummary([]corev1.Pod{p})
				}
				last = statusText(p.Status.ContainerStatuses[0])
				return strings.Contains(last, c.want), last
			})
			t.Logf("%s: %s", name, last)
		}

		// The runtime is chosen when the sandbox is made: kubelet reports
		// a failed RunPodSandbox as an event of the pod (the container
		// stays ContainerCreating).
		apply(t, ns, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: bad-annotation
  annotations: {wasm-sandboxer.io/runtime: vm}
spec:
  runtimeClassName: %s
  containers:
    - name: main
      image: %s
      imagePullPolicy: Never
`, rc, helloImage))
		eventually(t, time.Minute, "FailedCreatePodSandBox event naming the annotation", func() (bool, string) {
			var l corev1.EventList
			getJSON(t, &l, "-n", ns, "events", "--field-selector", "involvedObject.name=bad-annotation")
			var msgs []string
			for _, e := range l.Items {
				if e.Reason == "FailedCreatePodSandBox" && strings.Contains(e.Message, "wasm-sandboxer.io/runtime") {
					t.Logf("event %s: %s", e.Reason, e.Message)
					return true, ""
				}
				msgs = append(msgs, e.Reason+": "+e.Message)
			}
			return false, strings.Join(msgs, "; ")
		})
		p := getPod(t, ns, "bad-annotation")
		if p.Status.Phase != corev1.PodPending {
			t.Errorf("bad-annotation: %s, want Pending", podSummary([]corev1.Pod{p}))
		}
	})
}
