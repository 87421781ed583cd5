//go:build workertesthook

package worker

import (
	"errors"
	"os"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// testHook, set in workers built with -tags workertesthook, runs right after
// confinement. startHook runs at Start, in the container's cgroup, when the
// job's environment has HookEnv: it plays a runtime gone rogue instead of
// running the module.
var (
	testHook  func() string
	startHook func(env []string) (int, bool)
)

// HookEnv selects startHook's act: "alloc" (allocate without end) or
// "threads" (make OS threads without end).
const HookEnv = "WASM_SANDBOXER_TEST_HOOK"

func errorsAs(err error, target any) bool { return errors.As(err, target) }

// In a worker built with -tags workertesthook (tests only), testHook
// plays a compromised runtime: right after the worker has confined itself
// it tries what a hijacked JIT would, and reports each result.
func init() {
	testHook = attempts
	startHook = rogue
}

func rogue(env []string) (int, bool) {
	var act string
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, HookEnv+"="); ok {
			act = v
		}
	}
	switch act {
	case "alloc": // until the cgroup's memory limit ends the process
		var keep [][]byte
		for {
			b := make([]byte, 8<<20)
			for i := range b {
				b[i] = byte(i)
			}
			keep = append(keep, b)
		}
	case "threads": // until the cgroup's pids limit stops thread creation
		for {
			go func() {
				runtime.LockOSThread()
				select {}
			}()
		}
	}
	return 0, false
}

func attempts() string {
	var out []string
	try := func(name string, err error) {
		e := "ok"
		if errno, ok := err.(syscall.Errno); ok {
			e = unix.ErrnoName(errno)
		} else if err != nil {
			var pe *os.PathError
			if errorsAs(err, &pe) {
				if errno, ok := pe.Err.(syscall.Errno); ok {
					e = unix.ErrnoName(errno)
				} else {
					e = pe.Err.Error()
				}
			} else {
				e = err.Error()
			}
		}
		out = append(out, name+"="+e)
	}
	try("execve", unix.Exec("/job/module.wasm", []string{"x"}, nil))
	_, err := syscall.ForkExec("/job/module.wasm", []string{"x"}, nil)
	try("forkexec", err)
	_, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	try("socket-inet", err)
	_, err = unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	try("socket-unix", err)
	// On the control socket the worker holds: a hijacked runtime may serve
	// sockets it was given, never address a new one.
	try("connect", unix.Connect(3, &unix.SockaddrUnix{Name: "@x"}))
	try("bind", unix.Bind(3, &unix.SockaddrUnix{Name: "@x"}))
	try("listen", unix.Listen(3, 1))
	_, err = os.ReadFile("/etc/passwd")
	try("read-host-file", err)
	_, err = os.ReadFile("/proc/self/environ")
	try("read-proc", err)
	try("mount", unix.Mount("tmpfs", "/job", "tmpfs", 0, ""))
	try("chroot", unix.Chroot("/job"))
	try("unshare-user", unix.Unshare(unix.CLONE_NEWUSER))
	try("ptrace", unix.PtraceAttach(1))
	try("write-root", os.WriteFile("/escape", []byte("x"), 0o644))
	return strings.Join(out, " ")
}
