//go:build k8s

package k8s

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/status"
)

var seq atomic.Int64

// forEachRuntime runs f as a subtest per RuntimeClass, each in a
// namespace of its own.
func forEachRuntime(t *testing.T, f func(t *testing.T, ns, runtimeClass string)) {
	for _, rc := range runtimeClasses {
		t.Run(rc, func(t *testing.T) {
			f(t, newNamespace(t), rc)
		})
	}
}

var notName = regexp.MustCompile(`[^a-z0-9]+`)

// newNamespace creates a namespace for t, deleted (and waited for) when t
// ends: a failed test leaves nothing to the next.
func newNamespace(t *testing.T) string {
	t.Helper()
	name := strings.Trim(notName.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(name) > 50 {
		name = name[len(name)-50:]
	}
	name = fmt.Sprintf("%s-%d", strings.Trim(name, "-"), seq.Add(1))
	kubectl(t, "create", "namespace", name)
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := shared.kubectl("", "-n", name, "get", "pods,events", "-o", "wide")
			t.Logf("namespace %s at failure:\n%s", name, b)
		}
		if b, err := shared.kubectl("", "delete", "namespace", name, "--timeout=120s"); err != nil {
			t.Errorf("delete namespace %s: %v\n%s", name, err, b)
		}
	})
	// Pods are refused until the namespace's default ServiceAccount exists.
	eventually(t, 30*time.Second, "default ServiceAccount of "+name, func() (bool, string) {
		b, err := shared.kubectl("", "-n", name, "get", "serviceaccount", "default")
		return err == nil, string(b)
	})
	return name
}

// kubectl runs kubectl and fails t when it fails; it returns the output.
func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	b, err := shared.kubectl("", args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	return string(b)
}

// apply applies manifest in namespace ns.
func apply(t *testing.T, ns, manifest string) {
	t.Helper()
	if b, err := shared.kubectl(manifest, "-n", ns, "apply", "-f", "-"); err != nil {
		t.Fatalf("kubectl apply: %v\n%s\n%s", err, b, manifest)
	}
}

// getJSON decodes `kubectl get ARGS -o json` into v.
func getJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(shared.out, "bin", "kubectl"), append([]string{"--kubeconfig", filepath.Join(shared.dir, "k8s", "admin.kubeconfig"), "get", "-o", "json"}, args...)...)
	b, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			b = ee.Stderr
		}
		t.Fatalf("kubectl get %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("kubectl get %s: %v", strings.Join(args, " "), err)
	}
}

func getPod(t *testing.T, ns, name string) corev1.Pod {
	t.Helper()
	var p corev1.Pod
	getJSON(t, &p, "-n", ns, "pod", name)
	return p
}

// pods are the pods of ns matching selector ("" for all), oldest first.
func pods(t *testing.T, ns, selector string) []corev1.Pod {
	t.Helper()
	var l corev1.PodList
	args := []string{"-n", ns, "pods", "--sort-by=.metadata.creationTimestamp"}
	if selector != "" {
		args = append(args, "-l", selector)
	}
	getJSON(t, &l, args...)
	return l.Items
}

// eventually polls cond until it holds, or fails t after timeout with the
// last thing cond said.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v; last: %s", what, timeout, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// podSummary is one line per pod: name, phase, and each container's state.
func podSummary(ps []corev1.Pod) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "%s %s", p.Name, p.Status.Phase)
		for _, c := range p.Status.ContainerStatuses {
			fmt.Fprintf(&b, " [%s restarts=%d %s]", c.Name, c.RestartCount, containerState(c.State))
		}
		if p.DeletionTimestamp != nil {
			b.WriteString(" (terminating)")
		}
		b.WriteString("; ")
	}
	return b.String()
}

func containerState(s corev1.ContainerState) string {
	switch {
	case s.Running != nil:
		return "running"
	case s.Terminated != nil:
		return fmt.Sprintf("terminated %s exit %d: %s", s.Terminated.Reason, s.Terminated.ExitCode, s.Terminated.Message)
	case s.Waiting != nil:
		return fmt.Sprintf("waiting %s: %s", s.Waiting.Reason, s.Waiting.Message)
	}
	return "unknown"
}

// runningReady says whether p runs with every container ready.
func runningReady(p corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// waitPods waits until exactly n pods of ns match selector, all running
// and ready, and returns them.
func waitPods(t *testing.T, ns, selector string, n int, timeout time.Duration) []corev1.Pod {
	t.Helper()
	var ps []corev1.Pod
	eventually(t, timeout, fmt.Sprintf("%d pods %s running", n, selector), func() (bool, string) {
		ps = pods(t, ns, selector)
		if len(ps) != n {
			return false, podSummary(ps)
		}
		for _, p := range ps {
			if !runningReady(p) {
				return false, podSummary(ps)
			}
		}
		return true, ""
	})
	return ps
}

// criPods are the ids of the CRI pod sandboxes of namespace ns, in any
// state.
func criPods(t *testing.T, ns string) []string {
	t.Helper()
	b, err := shared.crictl("pods", "-q", "--namespace", "^"+ns+"$")
	if err != nil {
		t.Fatalf("crictl pods: %v", err)
	}
	return strings.Fields(string(b))
}

// criContainers are the ids of the CRI containers of namespace ns, in any
// state.
func criContainers(t *testing.T, ns string) []string {
	t.Helper()
	b, err := shared.crictl("ps", "-a", "-q", "--label", "io.kubernetes.pod.namespace="+ns)
	if err != nil {
		t.Fatalf("crictl ps: %v", err)
	}
	return strings.Fields(string(b))
}

// daemonSandboxes are the ids of the sandboxes wasm-sandboxer holds.
func daemonSandboxes(t *testing.T) []string {
	t.Helper()
	var ids []string
	for _, s := range daemonReport(t).Sandboxes {
		ids = append(ids, s.ID)
	}
	return ids
}

// daemonReport is wasm-sandboxer status's.
func daemonReport(t *testing.T) status.Report {
	t.Helper()
	b, err := exec.Command(filepath.Join(shared.out, "bin", "wasm-sandboxer"), "status", "--json",
		"--address", filepath.Join(shared.dir, "sandboxer.sock")).Output()
	if err != nil {
		t.Fatalf("wasm-sandboxer status: %v", err)
	}
	var r status.Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("wasm-sandboxer status: %v", err)
	}
	return r
}

// podServerRuns says whether a pod server process of sandbox id runs.
func podServerRuns(t *testing.T, id string) bool {
	t.Helper()
	procs, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range procs {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // gone meanwhile
		}
		args := strings.Split(string(b), "\x00")
		if len(args) >= 3 && args[1] == "pod-server" && args[2] == id {
			return true
		}
	}
	return false
}

// waitGone waits until containerd has no pod or container of ns left and
// the daemon none of the sandboxes in ids.
func waitGone(t *testing.T, ns string, ids []string, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, "nothing of "+ns+" left in containerd and wasm-sandboxer", func() (bool, string) {
		if p := criPods(t, ns); len(p) > 0 {
			return false, fmt.Sprintf("CRI pods %v", p)
		}
		if c := criContainers(t, ns); len(c) > 0 {
			return false, fmt.Sprintf("CRI containers %v", c)
		}
		left := slices.DeleteFunc(daemonSandboxes(t), func(id string) bool { return !slices.Contains(ids, id) })
		if len(left) > 0 {
			return false, fmt.Sprintf("wasm-sandboxer sandboxes %v", left)
		}
		return true, ""
	})
}
