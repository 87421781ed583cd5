//go:build linux

package forked

import (
	"context"
	"fmt"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/wasispec"
	"github.com/wasm-sandboxer/wasm-sandboxer/runtime"
)

// waitSpare waits until the pool's idle worker waits in a spare cgroup
// under parent, and returns that cgroup. The 60 s are a hang guard.
func (r *Runtime) waitSpare(t *testing.T, parent string) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		r.pool.mu.Lock()
		var spare string
		if len(r.pool.idle) > 0 {
			spare = r.pool.idle[0].spare
		}
		r.pool.mu.Unlock()
		if spare != "" && path.Dir(spare) == parent {
			return spare
		}
		if time.Now().After(deadline) {
			t.Fatalf("no idle worker in a spare cgroup under %s after 60s", parent)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// expectWorkerIn fails unless cgroup cg holds p's worker and nothing else.
func expectWorkerIn(t *testing.T, cg string, p runtime.Process) {
	t.Helper()
	b, err := os.ReadFile(cgroupFile("memory", cg, "cgroup.procs"))
	if err != nil || !slices.Equal(strings.Fields(string(b)), []string{strconv.Itoa(p.Pid())}) {
		t.Fatalf("cgroup %s holds %q (%v), want the worker %d", cg, b, err, p.Pid())
	}
}

// expectGone fails while cgroup cg exists.
func expectGone(t *testing.T, cg, why string) {
	t.Helper()
	if _, err := os.Stat(cgroupFile("memory", cg, "")); !os.IsNotExist(err) {
		t.Fatalf("cgroup %s still there %s (%v)", cg, why, err)
	}
}

// spares lists the spare cgroups under parent (memory hierarchy).
func spares(t *testing.T, parent string) []string {
	t.Helper()
	ents, err := os.ReadDir(cgroupFile("memory", parent, ""))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), sparePrefix) {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestSpareCgroup: once the runtime has made a container cgroup, its idle
// worker waits in a spare cgroup next to it; the next container there gets
// that spare renamed to its cgroup, worker inside, with the spec's limits
// (the memory limit allowing for what the worker's setup charged); a
// container elsewhere gets its own cgroup and the spare goes; nothing is
// left at the end.
func TestSpareCgroup(t *testing.T) {
	rt := newRuntimePool(t, 1)
	parent := fmt.Sprintf("/wasm-sandboxer-test/spare-%d", os.Getpid())
	other := parent + "-other"
	t.Cleanup(func() {
		for _, p := range []string{parent, other} {
			for _, h := range []string{"memory", "cpu", "cpuacct", "pids"} {
				os.Remove(cgroupFile(h, p, ""))
			}
		}
	})
	run := func(id, parent string, res *specs.LinuxResources) runtime.Process {
		return startModule(t, rt, runtime.ProcessSpec{ID: id, CgroupsPath: path.Join(parent, id), Resources: res}, "spin.wasm")
	}
	// The first container shows where containers go; the worker the next
	// one takes was started before that was known.
	killWait(t, run("first", parent, nil), syscall.SIGKILL)
	killWait(t, run("second", parent, nil), syscall.SIGKILL)
	spare := rt.waitSpare(t, parent)
	procs := func(cg string) []string {
		b, err := os.ReadFile(cgroupFile("memory", cg, "cgroup.procs"))
		if err != nil {
			t.Fatal(err)
		}
		return strings.Fields(string(b))
	}
	if len(procs(spare)) != 1 {
		t.Fatalf("spare cgroup %s holds %v, want the idle worker", spare, procs(spare))
	}

	mem, pids := int64(96<<20), int64(64)
	res := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &mem}, Pids: &specs.LinuxPids{Limit: &pids}}
	p := run("third", parent, res)
	cg := path.Join(parent, "third")
	expectWorkerIn(t, cg, p)
	expectGone(t, spare, "after its worker took a task")
	read := func(ctl, file string) int64 {
		b, err := os.ReadFile(cgroupFile(ctl, cg, file))
		if err != nil {
			t.Fatal(err)
		}
		v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	memFile := "memory.limit_in_bytes"
	if _, err := os.Stat(cgroupFile("memory", cg, "memory.max")); err == nil {
		memFile = "memory.max"
	}
	// The allowance is what the setup charged: more than nothing, less
	// than a worker's whole runtime.
	if l := read("memory", memFile); l <= mem || l > mem+64<<20 {
		t.Errorf("memory limit %d, want the spec's %d plus the setup's charge", l, mem)
	}
	if got := read("pids", "pids.max"); got != pids {
		t.Errorf("pids.max %d, want %d", got, pids)
	}
	killWait(t, p, syscall.SIGKILL)
	p.Close()
	expectGone(t, cg, "after its worker is gone")

	// Elsewhere: a cgroup of its own; the spare it waited in goes.
	spare = rt.waitSpare(t, parent)
	q := run("elsewhere", other, nil)
	expectWorkerIn(t, path.Join(other, "elsewhere"), q)
	expectGone(t, spare, "after its worker moved out")
	killWait(t, q, syscall.SIGKILL)
	q.Close()

	rt.Close()
	for _, p := range []string{parent, other} {
		if s := spares(t, p); len(s) != 0 {
			t.Errorf("spare cgroups left under %s after Close: %v", p, s)
		}
	}
}

func TestSpareParentOf(t *testing.T) {
	for in, want := range map[string]string{
		"":                                "",
		"/kubepods/besteffort/pod1":       "/kubepods/besteffort/pod1",
		"kubepods/pod1/":                  "/kubepods/pod1",
		"/kubepods/../../etc":             "/etc", // cleaned under the cgroup root, never above it
		"kubepods-besteffort-pod1.slice":  "",     // systemd driver
		"system.slice:cri-containerd:abc": "",
	} {
		if got := spareParentOf(in); got != want {
			t.Errorf("spareParentOf(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSpareCgroupKnownParent: with the pod's cgroup known up front, the
// pool's first workers already wait in spares there, and the first
// container gets one renamed.
func TestSpareCgroupKnownParent(t *testing.T) {
	parent := fmt.Sprintf("/wasm-sandboxer-test/known-%d", os.Getpid())
	t.Cleanup(func() {
		for _, h := range []string{"memory", "cpu", "cpuacct", "pids"} {
			os.Remove(cgroupFile(h, parent, ""))
		}
	})
	rt := newRuntimeWith(t, Config{PoolSize: 1, SpareParent: parent})
	rt.Warm(context.Background())
	spare := rt.waitSpare(t, parent)
	p := startModule(t, rt, runtime.ProcessSpec{ID: "first", CgroupsPath: path.Join(parent, "first")}, "spin.wasm")
	expectWorkerIn(t, path.Join(parent, "first"), p)
	expectGone(t, spare, "instead of renamed to the container's cgroup")
	killWait(t, p, syscall.SIGKILL)
	p.Close()
	rt.Close()
	if s := spares(t, parent); len(s) != 0 {
		t.Errorf("spare cgroups left after Close: %v", s)
	}
}

// TestTakeWaitsForRefill: a task arriving while the pool is being warmed
// takes the worker being started; and when that refill cannot start
// workers, the task is not left waiting: it fails with the start's error.
func TestTakeWaitsForRefill(t *testing.T) {
	rt := newRuntimePool(t, 1)
	rt.Warm(context.Background())
	p := startModule(t, rt, runtime.ProcessSpec{ID: "during-warm"}, "spin.wasm")
	killWait(t, p, syscall.SIGKILL)

	state := t.TempDir()
	broken, err := New(Config{WorkerBinary: "/bin/false", StateDir: state, CgroupParent: "wasm-sandboxer-test",
		PoolSize: 1, Compiler: &countingCompiler{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		broken.Close()
		unix.Unmount(broken.jobsDir, unix.MNT_DETACH)
	})
	broken.Warm(context.Background())
	done := make(chan error, 1)
	go func() {
		rootfs := t.TempDir()
		os.WriteFile(path.Join(rootfs, "hello.wasm"), []byte("\x00asm\x01\x00\x00\x00"), 0o644)
		_, err := broken.Prepare(context.Background(), runtime.ProcessSpec{ID: "x", Rootfs: rootfs,
			Config: wasispec.Config{Args: []string{"/hello.wasm"}, Cwd: "/"}})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "worker") {
			t.Fatalf("Prepare with workers that cannot start: %v, want an error about the worker", err)
		}
	case <-time.After(time.Minute): // a hang guard, not a timing assertion
		t.Fatal("Prepare still waiting a minute after the refill failed")
	}
}

// TestPoolDrains: a pool not drawn from for PoolIdle ends its idle workers
// (and their spare cgroups); the next task still runs, and the pool fills
// again behind it.
func TestPoolDrains(t *testing.T) {
	rt := newRuntimeWith(t, Config{PoolSize: 2, PoolIdle: 300 * time.Millisecond})
	rt.Warm(context.Background())
	waitIdle := func(want int) {
		t.Helper()
		deadline := time.Now().Add(time.Minute) // a hang guard
		for rt.Idle() != want {
			if time.Now().After(deadline) {
				t.Fatalf("%d idle workers after a minute, want %d", rt.Idle(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitIdle(2)
	// Drained: its workers are being ended.
	waitIdle(0)
	deadline := time.Now().Add(time.Minute) // a hang guard
	for children() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d worker processes left a minute after the pool drained", children())
		}
		time.Sleep(10 * time.Millisecond)
	}
	p := startModule(t, rt, runtime.ProcessSpec{ID: "after-drain"}, "spin.wasm")
	waitIdle(2) // filled again behind it
	killWait(t, p, syscall.SIGKILL)
}
