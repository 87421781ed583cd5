//go:build k8s

package k8s

import (
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// The web demo (hack/wasm/httpd) serves on the port the runtime opens in
// the pod's network. The test process reaches it only at pod IPs on the
// devenv bridge and at ClusterIPs, which hack/k8s.sh routes through that
// bridge and kube-proxy rewrites to pod IPs: nothing leaves the host.

// webPod is a pod of the web demo with args and the given probes (YAML
// lines at the container's indentation).
func webPod(name, runtimeClass string, args []string, probes string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  runtimeClassName: %s
  terminationGracePeriodSeconds: 2
  containers:
    - name: httpd
      image: %s
      imagePullPolicy: Never
      args: [%s]
      ports: [{name: http, containerPort: 8080}]
      resources: {limits: {memory: 128Mi}}
%s`, name, runtimeClass, webImage, strings.Join(args, ", "), probes)
}

// webClient makes a new connection per request, so that each request to
// a ClusterIP is balanced afresh.
var webClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// webDo sends a request to url and returns the status and body.
func webDo(method, url string) (int, string, error) {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := webClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// probeEvents are the messages of pod's Unhealthy events (failed probes).
func probeEvents(t *testing.T, ns, pod string) []string {
	t.Helper()
	var l corev1.EventList
	getJSON(t, &l, "-n", ns, "events", "--field-selector", "reason=Unhealthy,involvedObject.name="+pod)
	var msgs []string
	for _, e := range l.Items {
		msgs = append(msgs, e.Message)
	}
	return msgs
}

func hasPrefix(msgs []string, prefix string) bool {
	return slices.ContainsFunc(msgs, func(m string) bool { return strings.HasPrefix(m, prefix) })
}

// TestHTTPProbes: an HTTP readiness probe keeps the pod unready while the
// module has not begun serving (its socket is open, so connections queue
// unanswered and the probe times out), and Ready once it serves; an HTTP
// liveness probe that starts failing (503) gets the container restarted,
// and the new module instance serves and is Ready again.
func TestHTTPProbes(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, ns, rc string) {
		const readiness = `      readinessProbe:
        httpGet: {path: /healthz, port: http}
        periodSeconds: 1
        timeoutSeconds: 1
        failureThreshold: 1
`
		apply(t, ns, webPod("slow", rc, []string{"-delay", "8s"}, readiness)+"---\n"+
			webPod("sick", rc, nil, readiness+`      livenessProbe:
        httpGet: {path: /healthz, port: http}
        periodSeconds: 1
        timeoutSeconds: 1
        failureThreshold: 2
`))

		// slow: running (its module started, waiting) but not ready, and
		// kubelet's probe said why; then ready.
		eventually(t, 2*time.Minute, "slow is running and waiting", func() (bool, string) {
			b, _ := shared.kubectl("", "-n", ns, "logs", "slow")
			return strings.Contains(string(b), "httpd: waiting 8s before serving"), string(b)
		})
		if p := getPod(t, ns, "slow"); runningReady(p) {
			t.Fatalf("slow is Ready while its module waits: %s", podSummary([]corev1.Pod{p}))
		}
		eventually(t, time.Minute, "slow Ready once it serves", func() (bool, string) {
			p := getPod(t, ns, "slow")
			return runningReady(p), podSummary([]corev1.Pod{p})
		})
		if msgs := probeEvents(t, ns, "slow"); !hasPrefix(msgs, "Readiness probe failed") {
			t.Errorf("slow: no failed readiness probe among its events %q", msgs)
		}
		if b := kubectl(t, "-n", ns, "logs", "slow"); !strings.Contains(b, "httpd: serving on 1 listener(s)") {
			t.Errorf("slow Ready, but its log does not say it serves:\n%s", b)
		}

		// sick: Ready; told to fail /healthz, it is restarted by the
		// liveness probe, and the new instance is healthy.
		eventually(t, 2*time.Minute, "sick Ready", func() (bool, string) {
			p := getPod(t, ns, "sick")
			return runningReady(p), podSummary([]corev1.Pod{p})
		})
		p := getPod(t, ns, "sick")
		base := "http://" + p.Status.PodIP + ":8080"
		if code, body, err := webDo(http.MethodPost, base+"/sick"); err != nil || code != http.StatusOK {
			t.Fatalf("POST %s/sick: %d %q %v", base, code, body, err)
		}
		eventually(t, 2*time.Minute, "sick restarted by its liveness probe and Ready again", func() (bool, string) {
			p = getPod(t, ns, "sick")
			cs := p.Status.ContainerStatuses
			return len(cs) == 1 && cs[0].RestartCount >= 1 && runningReady(p), podSummary([]corev1.Pod{p})
		})
		if msgs := probeEvents(t, ns, "sick"); !hasPrefix(msgs, "Liveness probe failed: HTTP probe failed with statuscode: 503") {
			t.Errorf("sick: no liveness failure with status 503 among its events %q", msgs)
		}
		if last := p.Status.ContainerStatuses[0].LastTerminationState.Terminated; last == nil {
			t.Errorf("sick: no last termination state: %s", podSummary([]corev1.Pod{p}))
		}
		if code, body, err := webDo(http.MethodGet, "http://"+p.Status.PodIP+":8080/healthz"); err != nil || code != http.StatusOK {
			t.Errorf("restarted sick: GET /healthz: %d %q %v", code, body, err)
		}
	})
}

// TestService: a ClusterIP Service in front of a Deployment of the web
// demo answers, from the node, from each replica.
func TestService(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, ns, rc string) {
		const replicas = 3
		apply(t, ns, fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: %d
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      runtimeClassName: %s
      terminationGracePeriodSeconds: 2
      containers:
        - name: httpd
          image: %s
          imagePullPolicy: Never
          ports: [{name: http, containerPort: 8080}]
          readinessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 1}
          resources: {limits: {memory: 128Mi}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
`, replicas, rc, webImage))
		ps := waitPods(t, ns, "app=web", replicas, 2*time.Minute)
		var svc corev1.Service
		getJSON(t, &svc, "-n", ns, "service", "web")
		url := "http://" + svc.Spec.ClusterIP + "/"
		// The network rule: from the node, a ClusterIP is reached through
		// the devenv bridge, from the bridge's address (hack/k8s.sh).
		if b, err := exec.Command("ip", "route", "get", svc.Spec.ClusterIP).CombinedOutput(); err != nil ||
			!strings.Contains(string(b), "dev wasmbr") || !strings.Contains(string(b), " src 10.") {
			t.Fatalf("ip route get %s: %v: %s, want it through the devenv bridge", svc.Spec.ClusterIP, err, b)
		}

		// kube-proxy programs what the EndpointSlice lists, and syncs at
		// most once a second: first all replicas listed ready.
		eventually(t, time.Minute, "the Service's EndpointSlice lists every replica ready", func() (bool, string) {
			b, err := shared.kubectl("", "-n", ns, "get", "endpointslices", "-l", "kubernetes.io/service-name=web",
				"-o", "jsonpath={range .items[*].endpoints[?(@.conditions.ready==true)]}{.targetRef.name} {end}")
			return err == nil && len(strings.Fields(string(b))) == replicas, string(b)
		})
		// Each answer names the replica (HOSTNAME, the pod's name): ask
		// until every replica has answered, at most 2,000 requests in 2
		// minutes, paced so that kube-proxy's next sync lands among them.
		want := make(map[string]bool)
		for _, p := range ps {
			want[p.Name] = true
		}
		seen := make(map[string]int)
		var last string
		deadline := time.Now().Add(2 * time.Minute)
		for i := 0; i < 2000 && len(seen) < replicas && time.Now().Before(deadline); i++ {
			if i > 0 {
				time.Sleep(20 * time.Millisecond)
			}
			code, body, err := webDo(http.MethodGet, url)
			if err != nil || code != http.StatusOK {
				// kube-proxy may not have synced the endpoints yet.
				last = fmt.Sprintf("%d %q %v", code, body, err)
				continue
			}
			_, name, ok := strings.Cut(strings.TrimSpace(body), ") on ")
			if !ok || !want[name] {
				t.Fatalf("GET %s: %q is not from one of the replicas %v", url, body, want)
			}
			seen[name]++
		}
		if len(seen) < replicas {
			t.Fatalf("GET %s: answers from %v, want all %d replicas; last failure: %s", url, seen, replicas, last)
		}
		t.Logf("ClusterIP %s answered from each replica: %v", svc.Spec.ClusterIP, seen)
	})
}
