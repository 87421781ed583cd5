//go:build linux

package forked

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/testing/tasktest"
)

// children counts this process's child processes (workers).
func children() int {
	n := 0
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, tk := range tasks {
		b, err := os.ReadFile(filepath.Join("/proc/self/task", tk.Name(), "children"))
		if err == nil {
			n += len(strings.Fields(string(b)))
		}
	}
	return n
}

// cgroupCount counts the containers' cgroups under the test parent (not
// the spare cgroups idle workers wait in: TestSpareCgroup checks those).
func cgroupCount() int {
	ents, err := os.ReadDir(cgroupFile("memory", "/wasm-sandboxer-test", ""))
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range ents {
		if e.IsDir() && !strings.HasPrefix(e.Name(), sparePrefix) {
			n++
		}
	}
	return n
}

// TestHammer: task lifecycles in one forked runtime with a pool, 4 at a
// time; no worker process, cgroup, job dir, mount, descriptor or goroutine
// is left behind (skipped under -short). HAMMER_FORKED_N sets how many
// (default 1,000: a worker per task costs a process start).
func TestHammer(t *testing.T) {
	if testing.Short() {
		t.Skip("hammer: many forked lifecycles; run without -short")
	}
	n := 1000
	if v := os.Getenv("HAMMER_FORKED_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			t.Fatalf("HAMMER_FORKED_N=%q: %v", v, err)
		}
	}
	rt := newRuntimePool(t, 2)
	extra := map[string]tasktest.Probe{
		"workers":        children,
		"cgroups":        cgroupCount,
		"job dirs":       func() int { return tasktest.CountEntries(rt.jobsDir) },
		"root dirs":      func() int { return tasktest.CountEntries(rt.rootsDir) },
		"runtime mounts": tasktest.MountsUnder(rt.cfg.StateDir),
	}
	if got := tasktest.Hammer(t, rt, n, 4, extra); got != n {
		t.Fatalf("%d lifecycles ran, want %d", got, n)
	}
}
