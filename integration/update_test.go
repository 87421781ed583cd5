//go:build integration

package integration

import (
	"strings"
	"testing"

	cri "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func withMemoryLimit(limit int64) func(*cri.ContainerConfig) {
	return func(c *cri.ContainerConfig) {
		c.Linux = &cri.LinuxContainerConfig{Resources: &cri.LinuxContainerResources{MemoryLimitInBytes: limit}}
	}
}

func updateResources(t *testing.T, id string, r *cri.LinuxContainerResources) error {
	t.Helper()
	_, err := shared.runtime.UpdateContainerResources(ctx(t), &cri.UpdateContainerResourcesRequest{ContainerId: id, Linux: r})
	return err
}

// TestUpdate: CRI UpdateContainerResources (crictl update) lowers a running
// container's memory limit: CRI's stats see it, and a module exec'd
// afterwards cannot allocate what fitted before (exit 137). A CPU change
// is honoured in forked mode and refused, naming the field, in goroutine
// mode.
func TestUpdate(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, p *pod) {
		id := p.running(t, container{image: demoImage, args: []string{"daemon"}, config: withMemoryLimit(256 << 20)})
		if r, err := execSync(t, id, 0, "/demo.wasm", "alloc", "64"); err != nil || r.ExitCode != 0 {
			t.Fatalf("alloc 64 MiB under 256 MiB: %v, %+v", err, r)
		}
		if err := updateResources(t, id, &cri.LinuxContainerResources{MemoryLimitInBytes: 48 << 20}); err != nil {
			t.Fatalf("update memory limit: %v", err)
		}
		poll(t, "stats under the new limit", func() bool {
			m := containerStats(t, id).GetMemory()
			return m.GetAvailableBytes().GetValue()+m.GetWorkingSetBytes().GetValue() <= 48<<20
		})
		if r, err := execSync(t, id, 0, "/demo.wasm", "alloc", "64"); err != nil || r.ExitCode != 137 {
			t.Fatalf("alloc 64 MiB after the limit went to 48 MiB: %v, %+v, want exit 137", err, r)
		}
		err := updateResources(t, id, &cri.LinuxContainerResources{MemoryLimitInBytes: 48 << 20, CpuShares: 512})
		switch p.handler {
		case "wasm":
			if err == nil || !strings.Contains(err.Error(), "cpu.shares") {
				t.Fatalf("cpu shares in goroutine mode: %v, want a refusal naming cpu.shares", err)
			}
		default:
			if err != nil {
				t.Fatalf("cpu shares in forked mode: %v", err)
			}
		}
		if st := status(t, id); st.State != cri.ContainerState_CONTAINER_RUNNING {
			t.Fatalf("container %v after updates, want running", st.State)
		}
	})
}
