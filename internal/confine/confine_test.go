//go:build linux

package confine

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// tasks returns the thread ids in res's "task/TID/FIELD" keys.
func tasks(res map[string]string) map[string]bool {
	ids := map[string]bool{}
	for k := range res {
		if rest, ok := strings.CutPrefix(k, "task/"); ok {
			tid, _, _ := strings.Cut(rest, "/")
			ids[tid] = true
		}
	}
	return ids
}

func atoi(t *testing.T, res map[string]string, key string) int {
	t.Helper()
	n, err := strconv.Atoi(res[key])
	if err != nil {
		t.Fatalf("%s = %q: %v", key, res[key], err)
	}
	return n
}

// After NoNewPrivs and DropCapabilities, every thread, including threads
// that existed before, has no_new_privs and no capability left.
func TestDropCapabilitiesAllThreads(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	res := runChild(t, "caps")
	expect(t, res, map[string]string{"proc": "mounted"})

	ids := tasks(res)
	if locked := atoi(t, res, "locked"); len(ids) < locked+1 {
		t.Fatalf("%d threads in /proc/self/task, want at least the %d locked ones and main", len(ids), locked)
	}
	for tid := range ids {
		want := map[string]string{"task/" + tid + "/NoNewPrivs": "1"}
		for _, f := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
			want["task/"+tid+"/"+f] = "0000000000000000"
		}
		expect(t, res, want)
	}
	// Each locked thread tried to chown after the drop; CAP_CHOWN is gone
	// from every one of them.
	n := 0
	for k, v := range res {
		if tid, ok := strings.CutPrefix(k, "chown/"); ok {
			n++
			if !ids[tid] {
				t.Errorf("locked thread %s is not in /proc/self/task", tid)
			}
			if v != "EPERM" {
				t.Errorf("chown to another user on thread %s: %s, want EPERM", tid, v)
			}
		}
	}
	if n != atoi(t, res, "locked") {
		t.Errorf("%d chown results, want one per locked thread (%s)", n, res["locked"])
	}
}

// A worker's root has no /proc: DropCapabilities still drops everything
// on every thread (and verifies the calling thread).
func TestDropCapabilitiesWithoutProc(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	res := runChildAttr(t, "caps-noproc", &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS})
	if res["proc"] != "absent" {
		t.Fatalf("/proc is %s in the child", res["proc"])
	}
	n := 0
	for k, v := range res {
		if _, ok := strings.CutPrefix(k, "chown/"); ok {
			n++
			if v != "EPERM" {
				t.Errorf("%s: %s, want EPERM", k, v)
			}
		}
	}
	if locked := atoi(t, res, "locked"); n != locked || n == 0 {
		t.Errorf("%d chown results, want one per locked thread (%d)", n, locked)
	}
}

// After InstallSeccomp(Policy{}), whatever creates processes, mounts,
// traces, changes namespaces or opens sockets fails with EPERM, and clone3
// with ENOSYS. The child's arguments would make most of these calls fail
// differently (ENOENT, ESRCH, EINVAL, ...) or succeed without the filter.
func TestSeccompDenies(t *testing.T) {
	t.Parallel()
	res := runChild(t, "deny")
	want := map[string]string{"clone3": "ENOSYS"}
	for _, k := range []string{
		"execve", "execveat", "forkexec", "os/exec", "clone-process",
		"socket-inet", "socket-unix", "socketpair", "net.Listen",
		"mount", "umount2", "ptrace", "unshare", "setns", "bpf", "chroot", "pivot_root",
		"keyctl", "perf_event_open", "io_uring_setup", "userfaultfd", "personality",
		"process_vm_readv", "open_by_handle_at", "memfd_create", "kill",
		"prlimit-get", "prlimit-set", "ioctl-TCGETS", "ioctl-TIOCSTI", "ioctl-FIONREAD", "pipe2",
	} {
		want[k] = "EPERM"
	}
	if auditArch == unix.AUDIT_ARCH_X86_64 {
		want["x32-getpid"] = "EPERM"
	}
	expect(t, res, want)
}

// With the full lock-down (no_new_privs, no capabilities, rlimits, filter),
// a worker still does its job: new threads, file operations through
// wazero's DirFS and confinedfs, time, randomness, and wazero's compiler
// running the tiny hello module and the Go demo module.
func TestSeccompAllowsWorker(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	res := runChild(t, "allow")

	want := map[string]string{
		"seccomp": "2", "CapEff": "0000000000000000", "NoNewPrivs": "1",
		"execve":            "EPERM",
		"threads.nanosleep": "ok",
		"clock_gettime":     "ok",
		"timer":             "ok",
		"crypto/rand":       "ok",
		"getrandom":         "ok",

		"hello.stdout":            "hello from wasm\n",
		"hello.err":               "<nil>",
		"alloc.stdout":            "allocated 32 MiB\n",
		"alloc.err":               "<nil>",
		"sleep.err":               "<nil>",
		"pipes.stdout":            "piped\n",
		"pipes.err":               "<nil>",
		"dirfs.write.err":         "<nil>",
		"dirfs.cat.stdout":        "via dirfs",
		"dirfs.ls.stdout":         "f.txt\n",
		"confinedfs.write.err":    "<nil>",
		"confinedfs.cat.stdout":   "via confinedfs",
		"confinedfs.ls.stdout":    "g.txt\n",
		"file.confinedfs.rmdir":   "ok", // the last step: all before it ran
		"file.dirfs.rmdir":        "ok",
		"file.confinedfs.readdir": "ok",
		"file.dirfs.readdir":      "ok",
	}
	expect(t, res, want)
	for k, v := range res {
		if strings.HasPrefix(k, "file.") && v != "ok" {
			t.Errorf("%s: %s", k, v)
		}
		if strings.HasSuffix(k, ".stderr") {
			t.Errorf("%s: %s", k, v)
		}
	}
	// Locked goroutines forced threads to be created under the filter.
	if before, after := atoi(t, res, "threads.before"), atoi(t, res, "threads.after"); after <= before {
		t.Errorf("threads: %d before, %d with %s locked goroutines: no thread was created", before, after, res["threads.locked"])
	}
}

// Policy{AllowSockets: true} allows sockets, and Go's net package over
// them, but nothing else more.
func TestSeccompAllowSockets(t *testing.T) {
	t.Parallel()
	res := runChild(t, "sockets")
	expect(t, res, map[string]string{
		"socket-unix": "ok",
		"listen":      "ok",
		"dial":        "ok",
		"read":        "ok",
		"reply":       "pong",
		"execve":      "EPERM",
	})
}

// The filter reaches threads that existed before InstallSeccomp (TSYNC).
func TestSeccompAllThreads(t *testing.T) {
	t.Parallel()
	res := runChild(t, "tsync")
	expect(t, res, map[string]string{
		"early.socket":    "EPERM",
		"early.tid.after": res["early.tid"], // the same thread, locked
	})
	if res["early.tid"] == res["installer.tid"] {
		t.Fatalf("the early thread %s installed the filter itself", res["early.tid"])
	}
	// The child inherits this process's filters, if any, and adds one.
	filters := strconv.Itoa(seccompFilters(t) + 1)
	ids := tasks(res)
	if !ids[res["early.tid"]] {
		t.Errorf("early thread %s not in /proc/self/task", res["early.tid"])
	}
	for tid := range ids {
		expect(t, res, map[string]string{
			"task/" + tid + "/Seccomp":         "2", // SECCOMP_MODE_FILTER
			"task/" + tid + "/Seccomp_filters": filters,
			"task/" + tid + "/NoNewPrivs":      "1",
		})
	}
}

// seccompFilters returns the number of seccomp filters of this process.
func seccompFilters(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "Seccomp_filters:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	return 0 // a kernel without the field: no filters counted
}

// SetRlimits(DefaultRlimits()) sets soft and hard limits, never raises a
// hard limit again, and the descriptor limit holds.
func TestSetRlimits(t *testing.T) {
	t.Parallel()
	// The child inherits this process's hard limits; SetRlimits keeps
	// the lower of those and the defaults.
	limit := func(resource int, want uint64) string {
		var l unix.Rlimit
		if err := unix.Getrlimit(resource, &l); err != nil {
			t.Fatal(err)
		}
		v := min(want, l.Max)
		return fmt.Sprintf("%d/%d", v, v)
	}
	d := DefaultRlimits()
	if d.NoFile != 1024 || d.Core != 0 || d.MemLock != 0 || d.FSize != Unlimited {
		t.Fatalf("DefaultRlimits() = %+v", d)
	}
	res := runChild(t, "rlimits")
	expect(t, res, map[string]string{
		"NOFILE":    limit(unix.RLIMIT_NOFILE, d.NoFile),
		"CORE":      limit(unix.RLIMIT_CORE, d.Core),
		"MEMLOCK":   limit(unix.RLIMIT_MEMLOCK, d.MemLock),
		"FSIZE":     limit(unix.RLIMIT_FSIZE, d.FSize),
		"open-many": "EMFILE",
	})
	if hi := atoi(t, res, "open-many.highest"); hi >= 1024 {
		t.Errorf("highest descriptor opened %d, want < 1024", hi)
	}
}
