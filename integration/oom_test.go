//go:build integration

package integration

import "testing"

// TestOOMKilled: a module allocating past its container's memory limit
// ends with 137 and CRI reason OOMKilled (TaskOOM, and the OOM count in
// the task's metrics), in both runtimes.
func TestOOMKilled(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, p *pod) {
		st, _ := runToExit(t, p, container{image: demoImage, args: []string{"alloc", "128"}, config: withMemoryLimit(64 << 20)})
		if st.ExitCode != 137 || st.Reason != "OOMKilled" {
			t.Fatalf("exit %d reason %q, want 137 OOMKilled", st.ExitCode, st.Reason)
		}
		st, _ = runToExit(t, p, container{image: demoImage, args: []string{"alloc", "16"}, config: withMemoryLimit(64 << 20)})
		if st.ExitCode != 0 || st.Reason != "Completed" {
			t.Fatalf("below the limit: exit %d reason %q", st.ExitCode, st.Reason)
		}
	})
}
