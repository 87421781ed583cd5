//go:build k8s

package k8s

import (
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
)

// deployment is a Deployment of the demo module's daemon loop (it prints
// "daemon tick N" every second) with an env value the rolling update
// changes. Its memory limit leaves room for execs in the forked runtime,
// where the limit is also the cgroup's of the module's worker processes
// (TestExecUnderMemoryLimit).
func deployment(runtimeClass, version string, replicas int) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: demo}
spec:
  replicas: %d
  selector: {matchLabels: {app: demo}}
  strategy: {rollingUpdate: {maxUnavailable: 0, maxSurge: 1}}
  template:
    metadata: {labels: {app: demo}}
    spec:
      runtimeClassName: %s
      terminationGracePeriodSeconds: 5
      containers:
        - name: demo
          image: %s
          imagePullPolicy: Never
          args: [daemon]
          env: [{name: VERSION, value: %q}]
          resources: {limits: {memory: 128Mi}}
`, replicas, runtimeClass, demoImage, version)
}

// TestDeployment: 3 replicas run; logs and exec work; scaling to 10 and
// back to 1; a rolling update replaces every pod; deleting the Deployment
// leaves nothing in containerd or wasm-sandboxer.
func TestDeployment(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, ns, rc string) {
		apply(t, ns, deployment(rc, "v1", 3))
		t0 := time.Now()
		ps := waitPods(t, ns, "app=demo", 3, 2*time.Minute)
		t.Logf("3 replicas running in %v", time.Since(t0).Round(time.Millisecond))
		for _, p := range ps {
			if p.Spec.RuntimeClassName == nil || *p.Spec.RuntimeClassName != rc {
				t.Errorf("pod %s: runtimeClassName %v, want %s", p.Name, p.Spec.RuntimeClassName, rc)
			}
		}

		// logs: the daemon loop's ticks reach kubectl logs.
		name := ps[0].Name
		eventually(t, 30*time.Second, "kubectl logs "+name, func() (bool, string) {
			b, _ := shared.kubectl("", "-n", ns, "logs", name)
			return strings.Contains(string(b), "daemon tick 1"), string(b)
		})

		// exec: a second module in the pod's container, its output and
		// exit code back through kubectl.
		if out := kubectl(t, "-n", ns, "exec", name, "--", "/demo.wasm", "echo", "hello", "from", "exec"); strings.TrimSpace(out) != "hello from exec" {
			t.Errorf("exec echo: %q", out)
		}
		if out := kubectl(t, "-n", ns, "exec", name, "--", "/demo.wasm", "env"); !strings.Contains(out, "VERSION=v1") {
			t.Errorf("exec env: no VERSION=v1 in %q", out)
		}
		b, err := shared.kubectl("", "-n", ns, "exec", name, "--", "/demo.wasm", "exit", "7")
		if err == nil || !strings.Contains(string(b), "exit code 7") {
			t.Errorf("exec exit 7: %v, %q; want kubectl to report exit code 7", err, b)
		}

		// scale up, then down.
		kubectl(t, "-n", ns, "scale", "deployment/demo", "--replicas=10")
		t0 = time.Now()
		waitPods(t, ns, "app=demo", 10, 3*time.Minute)
		t.Logf("scaled 3 → 10 in %v", time.Since(t0).Round(time.Millisecond))
		kubectl(t, "-n", ns, "scale", "deployment/demo", "--replicas=1")
		t0 = time.Now()
		waitPods(t, ns, "app=demo", 1, 2*time.Minute)
		t.Logf("scaled 10 → 1 in %v", time.Since(t0).Round(time.Millisecond))

		// rolling update: a new pod template; every pod is replaced.
		kubectl(t, "-n", ns, "scale", "deployment/demo", "--replicas=3")
		old := waitPods(t, ns, "app=demo", 3, 2*time.Minute)
		apply(t, ns, deployment(rc, "v2", 3))
		kubectl(t, "-n", ns, "rollout", "status", "deployment/demo", "--timeout=180s")
		var d appsv1.Deployment
		getJSON(t, &d, "-n", ns, "deployment", "demo")
		if d.Status.UpdatedReplicas != 3 || d.Status.AvailableReplicas != 3 {
			t.Errorf("after the rollout: updated %d available %d, want 3 and 3", d.Status.UpdatedReplicas, d.Status.AvailableReplicas)
		}
		cur := waitPods(t, ns, "app=demo", 3, 2*time.Minute)
		for _, p := range cur {
			for _, o := range old {
				if p.UID == o.UID {
					t.Errorf("pod %s survived the rolling update", p.Name)
				}
			}
		}
		if out := kubectl(t, "-n", ns, "exec", cur[0].Name, "--", "/demo.wasm", "env"); !strings.Contains(out, "VERSION=v2") {
			t.Errorf("after the rollout, exec env: no VERSION=v2 in %q", out)
		}

		// delete: nothing left anywhere.
		ids := criPods(t, ns)
		if len(ids) == 0 {
			t.Fatal("crictl shows no pod of the namespace")
		}
		kubectl(t, "-n", ns, "delete", "deployment", "demo", "--wait=true")
		eventually(t, time.Minute, "pods deleted", func() (bool, string) {
			ps := pods(t, ns, "app=demo")
			return len(ps) == 0, podSummary(ps)
		})
		t0 = time.Now()
		waitGone(t, ns, ids, 2*time.Minute)
		t.Logf("containerd and wasm-sandboxer empty %v after the pods", time.Since(t0).Round(time.Millisecond))
	})
}
