//go:build linux

package forked

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/wasm-sandboxer/wasm-sandboxer/runtime"
)

// TestCompromisedWorker: a worker whose runtime is hijacked (simulated by a
// test-only hook, built in with -tags workertesthook, that runs right after
// confinement) cannot run programs, make processes or sockets, see host or
// proc files, mount, chroot, make namespaces, trace, or write its root.
func TestCompromisedWorker(t *testing.T) {
	requiresRoot(t)
	rt := hookedRuntime(t)
	rt.testHook = true
	_, err := rt.start()
	if err == nil || !strings.Contains(err.Error(), "testhook: ") {
		t.Fatalf("hooked worker: %v", err)
	}
	got := map[string]string{}
	for _, kv := range strings.Fields(err.Error()[strings.Index(err.Error(), "testhook: ")+len("testhook: "):]) {
		if k, v, ok := strings.Cut(kv, "="); ok {
			got[k] = strings.TrimSuffix(v, ":")
		}
	}
	want := map[string]string{
		"execve": "EPERM", "forkexec": "EPERM", "socket-inet": "EPERM", "socket-unix": "EPERM",
		"connect": "EPERM", "bind": "EPERM", "listen": "EPERM",
		"read-host-file": "ENOENT", "read-proc": "ENOENT", "mount": "EPERM", "chroot": "EPERM",
		"unshare-user": "EPERM", "ptrace": "EPERM", "write-root": "EROFS",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
}

var (
	hookedOnce sync.Once
	hookedBin  string
	hookedErr  error
)

// hookedRuntime is a forked runtime whose workers carry the test hooks
// (the hooked worker is built once per test binary).
func hookedRuntime(t *testing.T) *Runtime {
	t.Helper()
	hookedOnce.Do(func() {
		hookedBin = filepath.Join(filepath.Dir(workerBinary), "worker-hooked")
		hookedErr = buildWorker(hookedBin, "workertesthook")
	})
	if hookedErr != nil {
		t.Fatal(hookedErr)
	}
	rt := newRuntimePool(t, 0)
	rt.cfg.WorkerBinary = hookedBin
	return rt
}

// startRogue starts a worker whose runtime, once in the container's cgroup,
// does act without end.
func startRogue(t *testing.T, rt *Runtime, ps runtime.ProcessSpec, act string) runtime.Process {
	t.Helper()
	return startModule(t, rt, ps, "hello.wasm", "WASM_SANDBOXER_TEST_HOOK="+act)
}

// TestRogueWorkerMemoryLimit: a runtime that allocates without end is
// stopped by the container's memory cgroup (137), not by anything it
// could switch off; a neighbour runs on.
func TestRogueWorkerMemoryLimit(t *testing.T) {
	requiresRoot(t)
	rt := hookedRuntime(t)
	neighbour := startModule(t, rt, runtime.ProcessSpec{ID: "neighbour"}, "spin.wasm")
	mem := int64(64 << 20)
	p := startRogue(t, rt, runtime.ProcessSpec{ID: "hog", Resources: &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &mem}},
		CgroupsPath: fmt.Sprintf("/wasm-sandboxer-test/hog-%d", os.Getpid())}, "alloc")
	if e := ended(t, p, "rogue allocator (the memory limit should stop it)"); e.Code != 137 {
		t.Fatalf("rogue allocator: exit %d (%s), want 137 (OOM kill)", e.Code, e.Reason)
	}
	stillRunning(t, neighbour, "neighbour")
	killWait(t, neighbour, syscall.SIGKILL)
}

// TestRogueWorkerPidsLimit: a runtime that makes threads without end hits
// the container's pids limit: it cannot go past it, and it ends.
func TestRogueWorkerPidsLimit(t *testing.T) {
	requiresRoot(t)
	rt := hookedRuntime(t)
	pids := int64(24)
	cgPath := fmt.Sprintf("/wasm-sandboxer-test/threads-%d", os.Getpid())
	p := startRogue(t, rt, runtime.ProcessSpec{ID: "threads", Resources: &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &pids}},
		CgroupsPath: cgPath}, "threads")
	if e := ended(t, p, "rogue thread maker (the pids limit should stop it)"); e.Code == 0 {
		t.Fatalf("rogue thread maker exited 0")
	}
	events := cgroupFile("pids", cgPath, "pids.events")
	b, err := os.ReadFile(events)
	if err != nil {
		t.Fatalf("read %s: %v", events, err)
	}
	if !strings.HasPrefix(string(b), "max ") || strings.TrimSpace(strings.TrimPrefix(string(b), "max ")) == "0" {
		t.Fatalf("%s = %q: the limit never refused a thread", events, b)
	}
}
