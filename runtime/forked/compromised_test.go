//go:build linux

package forked

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/wasm-sandboxer/wasm-sandboxer/hack/wasm/tiny"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/wasispec"
	"github.com/wasm-sandboxer/wasm-sandboxer/task"
)

// TestCompromisedWorker: a worker whose runtime is hijacked (simulated by a
// test-only hook, built in with -tags workertesthook, that runs right after
// confinement) cannot run programs, make processes or sockets, see host or
// proc files, mount, chroot, make namespaces, trace, or write its root.
func TestCompromisedWorker(t *testing.T) {
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
		"read-host-file": "ENOENT", "read-proc": "ENOENT", "mount": "EPERM", "chroot": "EPERM",
		"unshare-user": "EPERM", "ptrace": "EPERM", "write-root": "EROFS",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
}

// hookedRuntime is a forked runtime whose workers carry the test hooks.
func hookedRuntime(t *testing.T) *Runtime {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "worker-hooked")
	cmd := exec.Command("go", "build", "-tags", "workertesthook", "-o", bin, "github.com/wasm-sandboxer/wasm-sandboxer/cmd/wasm-sandboxer-worker")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build hooked worker: %v\n%s", err, out)
	}
	rt := newRuntimePool(t, 0)
	rt.cfg.WorkerBinary = bin
	return rt
}

// startRogue starts a worker whose runtime, once in the container's cgroup,
// does act without end.
func startRogue(t *testing.T, rt *Runtime, id, act string, res *specs.LinuxResources, cgPath string) task.Process {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hello.wasm"), tiny.Modules()["hello.wasm"], 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := rt.Prepare(context.Background(), task.ProcessSpec{ID: id, Rootfs: dir, Resources: res, CgroupsPath: cgPath,
		Config: wasispec.Config{Args: []string{"/hello.wasm"}, Env: []string{"WASM_SANDBOXER_TEST_HOOK=" + act}, Cwd: "/",
			MemoryLimit: wasispec.DefaultMemoryLimit}})
	if err != nil {
		t.Fatalf("prepare: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRogueWorkerMemoryLimit: a runtime that allocates without end is
// stopped by the container's memory cgroup (137), not by anything it
// could switch off; a neighbour runs on.
func TestRogueWorkerMemoryLimit(t *testing.T) {
	rt := hookedRuntime(t)
	neighbour := spinning(t, rt, "neighbour", nil, "")
	mem := int64(64 << 20)
	p := startRogue(t, rt, "hog", "alloc", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &mem}},
		fmt.Sprintf("/wasm-sandboxer-test/hog-%d", os.Getpid()))
	select {
	case <-p.Done():
	case <-time.After(2 * time.Minute):
		t.Fatal("rogue allocator not stopped by the memory limit")
	}
	if e := p.Exit(); e.Code != 137 {
		t.Fatalf("rogue allocator: exit %d (%s), want 137 (OOM kill)", e.Code, e.Reason)
	}
	select {
	case <-neighbour.Done():
		t.Fatalf("neighbour ended: %+v", neighbour.Exit())
	default:
	}
	neighbour.Kill(context.Background(), syscall.SIGKILL)
	<-neighbour.Done()
}

// TestRogueWorkerPidsLimit: a runtime that makes threads without end hits
// the container's pids limit: it cannot go past it, and it ends.
func TestRogueWorkerPidsLimit(t *testing.T) {
	rt := hookedRuntime(t)
	pids := int64(24)
	cgPath := fmt.Sprintf("/wasm-sandboxer-test/threads-%d", os.Getpid())
	p := startRogue(t, rt, "threads", "threads", &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &pids}}, cgPath)
	select {
	case <-p.Done():
	case <-time.After(2 * time.Minute):
		t.Fatal("rogue thread maker not stopped by the pids limit")
	}
	if e := p.Exit(); e.Code == 0 {
		t.Fatalf("rogue thread maker exited 0")
	}
	events := "/sys/fs/cgroup/pids" + cgPath + "/pids.events"
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		events = "/sys/fs/cgroup" + cgPath + "/pids.events"
	}
	b, err := os.ReadFile(events)
	if err != nil {
		t.Fatalf("read %s: %v", events, err)
	}
	if !strings.HasPrefix(string(b), "max ") || strings.TrimSpace(strings.TrimPrefix(string(b), "max ")) == "0" {
		t.Fatalf("%s = %q: the limit never refused a thread", events, b)
	}
}
