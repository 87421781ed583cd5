//go:build integration

package integration

import (
	"strings"
	"testing"
	"time"

	cri "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func containerStats(t *testing.T, id string) *cri.ContainerStats {
	t.Helper()
	r, err := shared.runtime.ContainerStats(ctx(t), &cri.ContainerStatsRequest{ContainerId: id})
	if err != nil {
		t.Fatalf("ContainerStats: %v", err)
	}
	return r.Stats
}

// poll retries cond; 60 s is a hang guard, not a timing assertion.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 60s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestStats: CRI ContainerStats (crictl stats) reports CPU time that grows
// while a module spins and memory in use, in both runtimes; PodSandboxStats
// (crictl statsp) has the pod's totals from the Controller's Metrics;
// `ctr task metrics` shows the same figures.
func TestStats(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, p *pod) {
		id := p.running(t, container{image: tinyImage, command: []string{"/spin.wasm"}})
		demo := p.running(t, container{image: demoImage, args: []string{"daemon"}})
		var first uint64
		poll(t, "CPU time of a spinning module", func() bool {
			first = containerStats(t, id).GetCpu().GetUsageCoreNanoSeconds().GetValue()
			return first > 0
		})
		poll(t, "CPU time grows", func() bool {
			return containerStats(t, id).GetCpu().GetUsageCoreNanoSeconds().GetValue() > first
		})
		poll(t, "memory in use of the Go module", func() bool {
			m := containerStats(t, demo).GetMemory()
			return m.GetWorkingSetBytes().GetValue() > 0 && m.GetUsageBytes().GetValue() > 0
		})
		list, err := shared.runtime.ListContainerStats(ctx(t), &cri.ListContainerStatsRequest{Filter: &cri.ContainerStatsFilter{PodSandboxId: p.id}})
		if err != nil || len(list.Stats) != 2 {
			t.Fatalf("ListContainerStats: %v, %d entries", err, len(list.Stats))
		}
		ps, err := shared.runtime.PodSandboxStats(ctx(t), &cri.PodSandboxStatsRequest{PodSandboxId: p.id})
		if err != nil {
			t.Fatalf("PodSandboxStats: %v", err)
		}
		l := ps.Stats.GetLinux()
		if l.GetCpu().GetUsageCoreNanoSeconds().GetValue() < first || l.GetMemory().GetWorkingSetBytes().GetValue() == 0 || len(l.GetContainers()) != 2 {
			t.Fatalf("pod stats: cpu %v memory %v, %d containers", l.GetCpu(), l.GetMemory(), len(l.GetContainers()))
		}
		out, err := ctrIn(t, "k8s.io", "", "task", "metrics", id)
		if err != nil || !strings.Contains(out, "memory.usage_in_bytes") || !strings.Contains(out, "cpuacct.usage") {
			t.Fatalf("ctr task metrics: %v\n%s", err, out)
		}
	})
}
