//go:build linux

package forked

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/cgroups/v3"
	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/testing/tiny"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/wasispec"
	"github.com/wasm-sandboxer/wasm-sandboxer/runtime"
)

// startModule starts the tiny module (e.g. "spin.wasm") in a worker of rt,
// with ps's id, resources and cgroup, and env; the process is closed at the
// end of the test.
func startModule(t *testing.T, rt runtime.Runtime, ps runtime.ProcessSpec, module string, env ...string) runtime.Process {
	t.Helper()
	ps.Rootfs = t.TempDir()
	if err := os.WriteFile(filepath.Join(ps.Rootfs, module), tiny.Modules()[module], 0o644); err != nil {
		t.Fatal(err)
	}
	ps.Config = wasispec.Config{Args: []string{"/" + module}, Env: env, Cwd: "/", MemoryLimit: wasispec.DefaultMemoryLimit}
	p, err := rt.Prepare(context.Background(), ps)
	if err != nil {
		t.Fatalf("prepare %s: %v", ps.ID, err)
	}
	t.Cleanup(func() { p.Close() })
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return p
}

// ended waits for p to end and returns its exit. The 2 minutes are a hang
// guard, not a timing assertion.
func ended(t *testing.T, p runtime.Process, what string) runtime.Exit {
	t.Helper()
	select {
	case <-p.Done():
		return p.Exit()
	case <-time.After(2 * time.Minute):
		t.Fatalf("%s: still running after 2 minutes", what)
		return runtime.Exit{}
	}
}

// killWait sends p sig and waits for it to end.
func killWait(t *testing.T, p runtime.Process, sig syscall.Signal) runtime.Exit {
	t.Helper()
	if err := p.Kill(context.Background(), sig); err != nil {
		t.Fatalf("kill %v: %v", sig, err)
	}
	return ended(t, p, "killed worker")
}

// stillRunning fails the test if p has ended.
func stillRunning(t *testing.T, p runtime.Process, what string) {
	t.Helper()
	select {
	case <-p.Done():
		t.Fatalf("%s ended: %+v", what, p.Exit())
	default:
	}
}

// cgroupFile is file of cgroup cgPath: in controller ctl's hierarchy on
// cgroup v1, in the unified hierarchy on v2 (as placeInCgroup chooses);
// file "" is the cgroup's directory.
func cgroupFile(ctl, cgPath, file string) string {
	if cgroups.Mode() == cgroups.Unified {
		return filepath.Join("/sys/fs/cgroup", cgPath, file)
	}
	return filepath.Join("/sys/fs/cgroup", ctl, cgPath, file)
}

// waitState waits until the kernel state of pid is one of states (letters
// as in /proc/PID/status). The 60 s are a hang guard, not a timing
// assertion.
func waitState(t *testing.T, pid int, states string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st := procField(t, pid, "State")
		if st != "" && strings.ContainsRune(states, rune(st[0])) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker state %q after 60s, want one of %q", st, states)
		}
		time.Sleep(5 * time.Millisecond)
	}
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
	p := startModule(t, newRuntime(t), runtime.ProcessSpec{ID: "confined"}, "spin.wasm")
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
	killWait(t, p, syscall.SIGKILL)
}

// TestWorkerCgroup: the worker runs in the container's cgroup with the
// spec's memory, cpu and pids limits.
func TestWorkerCgroup(t *testing.T) {
	mem, pids, quota, period := int64(96<<20), int64(64), int64(50000), uint64(100000)
	res := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &mem}, Pids: &specs.LinuxPids{Limit: &pids},
		CPU: &specs.LinuxCPU{Quota: &quota, Period: &period}}
	cgPath := fmt.Sprintf("/wasm-sandboxer-test/cg-%d", os.Getpid())
	p := startModule(t, newRuntime(t), runtime.ProcessSpec{ID: "cg", Resources: res, CgroupsPath: cgPath}, "spin.wasm")
	pid := strconv.Itoa(p.Pid())
	read := func(file string) string {
		t.Helper()
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	memFile, cpuFile, cpu := "memory.limit_in_bytes", "cpu.cfs_quota_us", fmt.Sprint(quota)
	if cgroups.Mode() == cgroups.Unified {
		memFile, cpuFile, cpu = "memory.max", "cpu.max", fmt.Sprintf("%d %d", quota, period)
	}
	for _, c := range []struct{ ctl, file, want string }{
		{"memory", memFile, fmt.Sprint(mem)},
		{"pids", "pids.max", fmt.Sprint(pids)},
		{"cpu", cpuFile, cpu},
	} {
		if file := cgroupFile(c.ctl, cgPath, c.file); read(file) != c.want {
			t.Errorf("%s = %s, want %s", file, read(file), c.want)
		}
		if procs := read(cgroupFile(c.ctl, cgPath, "cgroup.procs")); !slices.Contains(strings.Fields(procs), pid) {
			t.Errorf("worker %s not in the %s cgroup (%q)", pid, c.ctl, procs)
		}
	}
	killWait(t, p, syscall.SIGKILL)
	p.Close()
	if _, err := os.Stat(cgroupFile("pids", cgPath, "")); !os.IsNotExist(err) {
		t.Errorf("cgroup %s left after the worker is gone (%v)", cgPath, err)
	}
}

// TestWorkerKilledFromOutside: a worker SIGKILLed by someone else exits
// 137, and the other worker runs on.
func TestWorkerKilledFromOutside(t *testing.T) {
	rt := newRuntime(t)
	a := startModule(t, rt, runtime.ProcessSpec{ID: "victim"}, "spin.wasm")
	b := startModule(t, rt, runtime.ProcessSpec{ID: "bystander"}, "spin.wasm")
	if err := syscall.Kill(a.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if e := ended(t, a, "worker killed from outside"); e.Code != 137 {
		t.Fatalf("killed worker: exit %d (%s), want 137", e.Code, e.Reason)
	}
	stillRunning(t, b, "the other worker")
	if err := syscall.Kill(b.Pid(), 0); err != nil {
		t.Fatalf("the other worker is gone: %v", err)
	}
	if e := killWait(t, b, syscall.SIGTERM); e.Code != 143 {
		t.Fatalf("SIGTERM: exit %d, want 143", e.Code)
	}
}

// TestPauseStopsWorker: Pause stops the worker's threads (kernel state T),
// Resume lets them run, and a paused worker can still be killed.
func TestPauseStopsWorker(t *testing.T) {
	p := startModule(t, newRuntime(t), runtime.ProcessSpec{ID: "pause"}, "spin.wasm")
	pr := p.(runtime.Pauser)
	if err := pr.Pause(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitState(t, p.Pid(), "T") // stopped
	if err := pr.Resume(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitState(t, p.Pid(), "RS") // running or sleeping
	if err := pr.Pause(context.Background()); err != nil {
		t.Fatal(err)
	}
	if e := killWait(t, p, syscall.SIGKILL); e.Code != 137 {
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
