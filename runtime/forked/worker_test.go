//go:build linux

package forked

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/wasm-sandboxer/wasm-sandboxer/hack/wasm/tiny"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/wasispec"
	"github.com/wasm-sandboxer/wasm-sandboxer/task"
)

// spinning starts the tiny spin module in a worker and returns it.
func spinning(t *testing.T, rt task.Runtime, id string, res *specs.LinuxResources, cgroupsPath string) task.Process {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "spin.wasm"), tiny.Modules()["spin.wasm"], 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := rt.Prepare(context.Background(), task.ProcessSpec{ID: id, Rootfs: dir, Resources: res, CgroupsPath: cgroupsPath,
		Config: wasispec.Config{Args: []string{"/spin.wasm"}, Cwd: "/", MemoryLimit: wasispec.DefaultMemoryLimit}})
	if err != nil {
		t.Fatalf("prepare %s: %v", id, err)
	}
	t.Cleanup(func() { p.Close() })
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return p
}

func procField(t *testing.T, pid int, field string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return ""
}

// TestWorkerIsConfined looks at a running worker from the host: its own
// namespaces, no capabilities, no_new_privs, a seccomp filter, and a root
// holding only the job dir (rootfs, mounts, fifos) and the compile cache.
func TestWorkerIsConfined(t *testing.T) {
	p := spinning(t, newRuntime(t), "confined", nil, "")
	pid := p.Pid()
	for _, ns := range []string{"user", "mnt", "pid", "ipc", "uts", "net"} {
		ours, err := os.Readlink("/proc/self/ns/" + ns)
		if err != nil {
			t.Fatal(err)
		}
		theirs, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, ns))
		if err != nil {
			t.Fatal(err)
		}
		if ours == theirs {
			t.Errorf("worker shares the daemon's %s namespace", ns)
		}
	}
	for field, want := range map[string]string{
		"NoNewPrivs": "1", "Seccomp": "2",
		"CapEff": "0000000000000000", "CapPrm": "0000000000000000", "CapBnd": "0000000000000000", "CapAmb": "0000000000000000",
	} {
		if got := procField(t, pid, field); got != want {
			t.Errorf("%s = %s, want %s", field, got, want)
		}
	}
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/root", pid))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	for _, n := range names {
		if n != "job" && n != "cache" {
			t.Errorf("worker's root holds %q (all: %v)", n, names)
		}
	}
	if err := p.Kill(context.Background(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.Done()
}

// TestWorkerCgroup: the worker runs in the container's cgroup with the
// spec's memory, cpu and pids limits.
func TestWorkerCgroup(t *testing.T) {
	mem, pids, quota, period := int64(96<<20), int64(64), int64(50000), uint64(100000)
	res := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &mem}, Pids: &specs.LinuxPids{Limit: &pids},
		CPU: &specs.LinuxCPU{Quota: &quota, Period: &period}}
	cgPath := fmt.Sprintf("/wasm-sandboxer-test/cg-%d", os.Getpid())
	p := spinning(t, newRuntime(t), "cg", res, cgPath)
	pid := strconv.Itoa(p.Pid())
	read := func(file string) string {
		t.Helper()
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil { // v2
		dir := "/sys/fs/cgroup" + cgPath
		if !strings.Contains(read(dir+"/cgroup.procs"), pid) || read(dir+"/memory.max") != fmt.Sprint(mem) || read(dir+"/pids.max") != fmt.Sprint(pids) {
			t.Fatalf("cgroup v2 %s: procs %q memory.max %q pids.max %q", dir, read(dir+"/cgroup.procs"), read(dir+"/memory.max"), read(dir+"/pids.max"))
		}
	} else {
		for file, want := range map[string]string{
			"memory/" + cgPath + "/memory.limit_in_bytes": fmt.Sprint(mem),
			"pids/" + cgPath + "/pids.max":                fmt.Sprint(pids),
			"cpu/" + cgPath + "/cpu.cfs_quota_us":         fmt.Sprint(quota),
		} {
			if got := read("/sys/fs/cgroup/" + file); got != want {
				t.Errorf("%s = %s, want %s", file, got, want)
			}
		}
		for _, ctl := range []string{"memory", "pids", "cpu"} {
			if procs := read("/sys/fs/cgroup/" + ctl + cgPath + "/cgroup.procs"); !strings.Contains("\n"+procs+"\n", "\n"+pid+"\n") {
				t.Errorf("worker %s not in the %s cgroup (%q)", pid, ctl, procs)
			}
		}
	}
	p.Kill(context.Background(), syscall.SIGKILL)
	<-p.Done()
	p.Close()
	if _, err := os.Stat("/sys/fs/cgroup/pids" + cgPath); err == nil {
		t.Errorf("cgroup %s left after the worker is gone", cgPath)
	}
}

// TestWorkerKilledFromOutside: a worker SIGKILLed by someone else exits
// 137, and the other worker runs on.
func TestWorkerKilledFromOutside(t *testing.T) {
	rt := newRuntime(t)
	a, b := spinning(t, rt, "victim", nil, ""), spinning(t, rt, "bystander", nil, "")
	if err := syscall.Kill(a.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-a.Done()
	if e := a.Exit(); e.Code != 137 {
		t.Fatalf("killed worker: exit %d (%s), want 137", e.Code, e.Reason)
	}
	select {
	case <-b.Done():
		t.Fatalf("the other worker ended too: %+v", b.Exit())
	default:
	}
	if err := syscall.Kill(b.Pid(), 0); err != nil {
		t.Fatalf("the other worker is gone: %v", err)
	}
	b.Kill(context.Background(), syscall.SIGTERM)
	<-b.Done()
	if e := b.Exit(); e.Code != 143 {
		t.Fatalf("SIGTERM: exit %d, want 143", e.Code)
	}
}

// TestPauseStopsWorker: Pause stops the worker's threads (kernel state T),
// Resume lets them run, and a paused worker can still be killed.
func TestPauseStopsWorker(t *testing.T) {
	p := spinning(t, newRuntime(t), "pause", nil, "")
	pr := p.(task.Pauser)
	if err := pr.Pause(context.Background()); err != nil {
		t.Fatal(err)
	}
	stateIs := func(prefix string) bool {
		for range 200 {
			if strings.HasPrefix(procField(t, p.Pid(), "State"), prefix) {
				return true
			}
			time.Sleep(5 * time.Millisecond)
		}
		return false
	}
	if !stateIs("T") {
		t.Fatalf("paused worker state %q, want T (stopped)", procField(t, p.Pid(), "State"))
	}
	if err := pr.Resume(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !stateIs("R") && !stateIs("S") {
		t.Fatalf("resumed worker state %q", procField(t, p.Pid(), "State"))
	}
	pr.Pause(context.Background())
	p.Kill(context.Background(), syscall.SIGKILL)
	<-p.Done()
	if e := p.Exit(); e.Code != 137 {
		t.Fatalf("killed while paused: exit %d, want 137", e.Code)
	}
}

// TestSweepStaleJobs: what a killed daemon's workers left (a job dir with
// a bind mount of a rootfs, a root mount point) is gone once a new daemon
// starts its forked runtime.
func TestSweepStaleJobs(t *testing.T) {
	rt := newRuntimePool(t, 0)
	stale := filepath.Join(rt.jobsDir, "1-1")
	rootfs := t.TempDir()
	if err := os.MkdirAll(filepath.Join(stale, "rootfs"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(rootfs, filepath.Join(stale, "rootfs"), "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(rt.rootsDir, "1-1"), 0o700); err != nil {
		t.Fatal(err)
	}
	again, err := New(rt.cfg) // the daemon restarted
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale job dir still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(rt.rootsDir, "1-1")); !os.IsNotExist(err) {
		t.Fatalf("stale root dir still there: %v", err)
	}
	if m, _ := mountinfo.Mounted(filepath.Join(stale, "rootfs")); m {
		t.Fatal("stale rootfs bind mount still mounted")
	}
	if m, _ := mountinfo.Mounted(rt.jobsDir); !m {
		t.Fatal("the job dir's shared mount was removed")
	}
}
