//go:build k8s

package k8s

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// summary is the part of the kubelet's stats/summary we check
// (k8s.io/kubelet/pkg/apis/stats/v1alpha1, not a dependency of ours).
type summary struct {
	Node struct {
		NodeName string `json:"nodeName"`
	} `json:"node"`
	Pods []struct {
		PodRef struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"podRef"`
		Containers []struct {
			Name string `json:"name"`
			CPU  *struct {
				UsageCoreNanoSeconds *uint64 `json:"usageCoreNanoSeconds"`
			} `json:"cpu"`
			Memory *struct {
				WorkingSetBytes *uint64 `json:"workingSetBytes"`
			} `json:"memory"`
		} `json:"containers"`
	} `json:"pods"`
}

// statsSummary is the kubelet's /stats/summary. kubectl get --raw
// /api/v1/nodes/localhost/proxy/stats/summary answers "address not
// allowed" here: the apiserver's node proxy refuses loopback node
// addresses (IsProxyableHostname), and this node's only address is
// 127.0.0.1. So it is read from the kubelet itself, as metrics-server
// (kubectl top's source) does, with the admin client certificate.
func statsSummary() ([]byte, error) {
	b, err := shared.kubectl("", "get", "--raw", "/api/v1/nodes/localhost/proxy/stats/summary")
	if err == nil {
		return b, nil
	}
	if !strings.Contains(string(b), "address not allowed") {
		return nil, fmt.Errorf("kubectl get --raw: %v: %s", err, b)
	}
	return shared.kubelet("/stats/summary")
}

// TestStatsSummary: the kubelet's stats summary (kubectl top's source)
// has CPU and memory figures for a running Wasm container.
func TestStatsSummary(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, ns, rc string) {
		apply(t, ns, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: busy}
spec:
  runtimeClassName: %s
  terminationGracePeriodSeconds: 2
  containers:
    - name: main
      image: %s
      imagePullPolicy: Never
      args: [daemon]
      resources: {limits: {memory: 64Mi}}
`, rc, demoImage))
		waitPods(t, ns, "", 1, 2*time.Minute)
		var last string
		eventually(t, 90*time.Second, "busy's container in the stats summary with CPU and memory", func() (bool, string) {
			b, err := statsSummary()
			if err != nil {
				return false, err.Error()
			}
			var s summary
			if err := json.Unmarshal(b, &s); err != nil {
				return false, err.Error()
			}
			for _, p := range s.Pods {
				if p.PodRef.Namespace != ns || p.PodRef.Name != "busy" {
					continue
				}
				for _, c := range p.Containers {
					if c.Name != "main" {
						continue
					}
					cj, _ := json.Marshal(c)
					last = string(cj)
					ok := c.CPU != nil && c.CPU.UsageCoreNanoSeconds != nil && *c.CPU.UsageCoreNanoSeconds > 0 &&
						c.Memory != nil && c.Memory.WorkingSetBytes != nil && *c.Memory.WorkingSetBytes > 0
					return ok, last
				}
				return false, "pod without its container: " + string(b)
			}
			return false, "no such pod in the summary"
		})
		t.Logf("summary: %s", last)
	})
}
